"""Analysis of a sweep's Parquet dataset; its stored schema is the contract, not the engine.

load (read with pushed-down filters), summary (Axelrod-style tables), ecology (replicator
dynamics), figures (seaborn, PNG and SVG), report (the ``summary`` and ``report`` commands);
notebooks/ holds the papermill notebooks.
"""
