"""The engines that play batched matches, one per module (:mod:`tournament.engines.base` says
what an engine is; :data:`tournament.match.ENGINES` lists them)."""
