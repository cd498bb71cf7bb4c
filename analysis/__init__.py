"""Analysis of a sweep's Parquet dataset; its stored schema is the contract, not the engine.

load (read with pushed-down filters, the long view ``load_sides``), game (the game's payoffs
from provenance.yaml and what follows: wording, reference lines, Nash, discounted play),
summary (Axelrod-style tables, bootstrap rank intervals), curves (learning curves per seed),
ecology (replicator dynamics), figures (bounded, coloured by kind, PNG and SVG), report
(``summary_text`` and ``write_report``), query (DuckDB views ``matches``, ``curves``,
``sides``); notebooks/ holds the papermill notebooks. The stored schema is
:mod:`sweeps.schema`, which imports neither torch nor Ray.
"""
