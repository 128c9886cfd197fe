"""The access audit: every read is recorded before the data is returned, the log is
hash-chained, and a subject can see who read its data."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from socialcredit.errors import UsageError
from socialcredit.registry.audit import Reader, reads_of, verify_audit
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.standings.online import standing_of
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import ALICE, BOB, RECORD_HEADER, count, write_csv


def fill(store: Store, settings: Settings, tmp_path: Path) -> None:
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [
                ("j1", ALICE, "court.judgment_default", "2026-03-01", ""),
                ("j2", BOB, "court.arrears", "2026-03-02", "700"),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )


def test_every_standing_read_is_audited(store: Store, settings: Settings, tmp_path: Path) -> None:
    fill(store, settings, tmp_path)
    clerk = Reader("wang.li", "operator", "objection 7 review")
    standing_of(store, settings, ALICE, reader=clerk)
    standing_of(store, settings, ALICE, reader=clerk, scheme_id="spc-defaulters")
    standing_of(store, settings, BOB, reader=Reader("railway", "agency", "ticket sale check"))
    assert count(store, "audit_log") == 3
    reads = reads_of(store, Reader("alice", "subject", "my own data"), ALICE)
    assert [(r.actor, r.role, r.purpose, r.what) for r in reads] == [
        ("wang.li", "operator", "objection 7 review", "standing:all"),
        ("wang.li", "operator", "objection 7 review", "standing:spc-defaulters"),
    ]
    # Listing the reads is a read too, and Bob's reads are not Alice's.
    assert [r.what for r in reads_of(store, clerk, ALICE)][-1] == "audit"
    assert [r.actor for r in reads_of(store, clerk, BOB)] == ["railway"]
    assert verify_audit(store).problem is None


def test_a_read_needs_a_purpose_and_a_known_role() -> None:
    with pytest.raises(UsageError, match="purpose"):
        Reader("wang.li", "operator", " ")
    with pytest.raises(UsageError, match="unknown role"):
        Reader("wang.li", "king", "curiosity")


@pytest.mark.parametrize(
    ("tamper", "seq", "message"),
    [
        ("UPDATE audit_log SET purpose = 'routine' WHERE seq = 2", 2, "does not match its hash"),
        ("DELETE FROM audit_log WHERE seq = 1", 1, "entry 1 is missing"),
        ("UPDATE audit_log SET actor = 'nobody' WHERE seq = 3", 3, "does not match its hash"),
    ],
)
def test_verify_detects_a_doctored_audit_log(
    store: Store, settings: Settings, tmp_path: Path, tamper: str, seq: int, message: str
) -> None:
    fill(store, settings, tmp_path)
    clerk = Reader("wang.li", "operator", "objection 7 review")
    for _ in range(3):
        standing_of(store, settings, ALICE, reader=clerk)
    with store.engine.begin() as connection:
        connection.execute(sa.text(tamper))
    result = verify_audit(store)
    assert result.problem is not None and message in result.problem and result.seq == seq
