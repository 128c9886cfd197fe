"""The hash chain: `verify` finds each kind of tampering and names the first bad entry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.ledger import verify
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import ACME, ALICE, BOB, EVENT_HEADER, RECORD_HEADER, write_csv


def fill(store: Store, settings: Settings, tmp_path: Path) -> None:
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [
                ("j1", ALICE, "court.judgment_default", "2024-03-01", "5000"),
                ("j2", BOB, "court.arrears", "2024-03-02", "700"),
                ("j3", ACME, "court.judgment_default", "2024-03-03", ""),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )
    ingest_events(
        store,
        write_csv(tmp_path / "e.csv", EVENT_HEADER, [("j1", "fulfilled", "2024-06-01")]),
        settings=settings,
        furnisher_id="court",
    )


def test_an_untouched_ledger_verifies(store: Store, settings: Settings, tmp_path: Path) -> None:
    fill(store, settings, tmp_path)
    result = verify(store)
    assert result.problem is None and result.entries == 4 and len(result.head_hash) == 64


def _swap(connection: sa.Connection) -> None:
    connection.execute(sa.text("UPDATE ledger SET seq = 100 WHERE seq = 2"))
    connection.execute(sa.text("UPDATE ledger SET seq = 2 WHERE seq = 3"))
    connection.execute(sa.text("UPDATE ledger SET seq = 3 WHERE seq = 100"))


TAMPERING: dict[str, tuple[Callable[[sa.Connection], object], int, str]] = {
    "edited amount": (
        lambda c: c.execute(sa.text("UPDATE ledger SET amount = '50' WHERE seq = 1")),
        1,
        "does not match its hash",
    ),
    "edited date": (
        lambda c: c.execute(sa.text("UPDATE ledger SET event_date = '2024-05-01' WHERE seq = 4")),
        4,
        "does not match its hash",
    ),
    "deleted row": (
        lambda c: c.execute(sa.text("DELETE FROM ledger WHERE seq = 2")),
        2,
        "entry 2 is missing",
    ),
    "reordered rows": (_swap, 2, "does not match its hash"),
    "cut off the end": (
        lambda c: c.execute(sa.text("DELETE FROM ledger WHERE seq = 4")),
        4,
        "ends at entry 3",
    ),
    "subject swapped": (
        lambda c: c.execute(
            sa.text(f"UPDATE subjects SET identifier = '{BOB[:-1]}0' WHERE identifier = '{BOB}'")
        ),
        2,
        "does not match its hash",
    ),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_verify_detects_tampering(
    store: Store, settings: Settings, tmp_path: Path, kind: str
) -> None:
    fill(store, settings, tmp_path)
    tamper, seq, message = TAMPERING[kind]
    with store.engine.begin() as connection:
        tamper(connection)
    result = verify(store)
    assert result.problem is not None and message in result.problem
    assert result.seq == seq
