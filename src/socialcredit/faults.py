"""Fault injection, a test aid: ``SOCIALCREDIT_FAULT=POINT`` makes the process end at once
(``os._exit(86)``: no cleanup, no commit, no rollback — as a ``kill -9`` would) when it
reaches the named point of a write. Off unless the variable is set; never set it in
production. The points (docs/registry.md, "Faults the tests inject"):

- ``ingest.appended`` — inside an ingest's transaction, the ledger entries written, before the
  standings they change;
- ``ingest.standings`` — inside it, the standings written, before the record notices;
- ``ingest.committed`` — the batch committed, before the large-batch catch-up (or the return);
- ``upkeep.stored`` — a scheme's rebuilt standings committed, before the next scheme (and
  before the batches are marked done);
- ``decision.appended`` — inside a registry decision's transaction, its ledger event written,
  before the case, the standings and the notice;
- ``decision.committed`` — a decision committed, before it is reported.
"""

from __future__ import annotations

import os

VARIABLE = "SOCIALCREDIT_FAULT"
EXIT_CODE = 86
POINTS = (
    "ingest.appended",
    "ingest.standings",
    "ingest.committed",
    "upkeep.stored",
    "decision.appended",
    "decision.committed",
)


def point(name: str) -> None:
    """End the process here if ``$SOCIALCREDIT_FAULT`` names this point."""
    if name not in POINTS:
        raise ValueError(f"no fault point {name!r}")
    if os.environ.get(VARIABLE) == name:
        os._exit(EXIT_CODE)
