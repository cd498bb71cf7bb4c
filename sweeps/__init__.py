"""Sweeps: a YAML sweep file -> planned matches -> Ray tasks -> a Parquet dataset.

One concept per module:

- :mod:`sweeps.config`: the sweep file's schema (one dataclass) and its limits, validated in one
  place (``lola-arena match`` too); :mod:`sweeps.yamlfile` reads YAML with bounds.
- :mod:`sweeps.plan`: pairings, stable match ids, tasks of one batched engine call each.
- :mod:`sweeps.schema`: the stored tables ``matches`` and ``curves``: columns, types and the
  builders of their rows; the contract with ``analysis/`` (pyarrow only, no torch).
- :mod:`sweeps.store`: the output directory: layout, atomic writes, resume bookkeeping, the lock.
- :mod:`sweeps.task`: what a Ray worker runs (one piece of a task's play), apart from the
  driver's code so that a worker imports only the engine.
- :mod:`sweeps.runner`: :func:`~sweeps.runner.run_sweep`: Ray (embedded or a cluster's
  address), progress bar, failures, interrupts, summary; :mod:`sweeps.signals` (SIGINT,
  SIGTERM and SIGHUP as interrupts), :mod:`sweeps.local_ray` (the driver's Ray: started early
  on a thread, stopped without waiting), :mod:`sweeps.reaper` (no Ray process outlives a killed
  driver), :mod:`sweeps.address` (a cluster's head checked in bounded time).
- :mod:`sweeps.verify`: ``lola-arena verify``: every file checked, damaged parts repaired.

What holds, and is tested: a match id depends only on the match (both specs, seed, game,
gamma, updates, record_every, dtype), never on list order or task size; the same sweep run
twice stores identical values; with another task size, agent order or resume points, the
stored values are bit for bit the same.
"""
