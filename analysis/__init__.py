"""Analysis of a sweep's Parquet dataset; its stored schema is the contract, not the engine.

load (read with pushed-down filters), summary (Axelrod-style tables), ecology (replicator
dynamics), figures (seaborn, PNG and SVG), report (``summary_text`` and ``write_report``);
notebooks/ holds the papermill notebooks. The stored schema is :mod:`sweeps.schema`, which
imports neither torch nor Ray.
"""
