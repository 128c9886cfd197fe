"""Standings from the store, by idea:

- :mod:`.online` — one subject evaluated online from the ledger (the reference evaluator),
  read-only: `standing`, reports, the portal, and every reader whose stored standing is stale;
- :mod:`.freshness` — the one rule for when a stored current standing may be handed out;
- :mod:`.current` — the writer of current standings for a few subjects, in a transaction;
- :mod:`.batch` — everyone at once over a snapshot (DuckDB or Spark), stored guarded;
- :mod:`.snapshot` — the ledger as Arrow tables, from one consistent read;
- :mod:`.upkeep` — catching up pending batches and stale standings (`refresh`).
"""
