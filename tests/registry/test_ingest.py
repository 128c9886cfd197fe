"""Ingest into the ledger: validation, authorisation, idempotency, conflicts, atomicity."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from socialcredit.errors import NotFound
from socialcredit.policy.model import add_months
from socialcredit.registry.audit import Reader
from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.policies import add_furnisher
from socialcredit.registry.standings.online import standing_of
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import ACME, ALICE, BOB, EVENT_HEADER, RECORD_HEADER, count, write_csv


def rejects_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_accepted_rows_enter_the_ledger_with_registry_time(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "court.csv",
        (*RECORD_HEADER, "subject_name", "recorded_at"),
        [
            (
                "j1",
                ALICE,
                "court.judgment_default",
                "2024-03-01",
                "120000.50",
                "张三",
                "2001-01-01T00:00:00Z",
            ),
            ("j2", ACME, "court.arrears", "2024-04-01", "", "某某有限公司", ""),
        ],
    )
    report = ingest_records(store, path, settings=settings, furnisher_id="court")
    assert (report.accepted, report.noop, report.rejected) == (2, 0, 0)
    assert report.warnings and "recorded_at" in report.warnings[0]
    with store.reading() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT l.record_id, s.identifier, s.kind, s.name, s.region, l.amount, "
                "l.recorded_us FROM ledger l JOIN subjects s ON s.id = l.subject_id ORDER BY seq"
            )
        ).all()
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("j1", ALICE, "person", "张三", "110105", "120000.50"),
        ("j2", ACME, "organisation", "某某有限公司", "350100", None),
    ]
    # recorded_at is the registry's (now), not the file's 2001.
    assert rows[0].recorded_us > 1_700_000_000_000_000
    assert report.recorded_at is not None and report.recorded_at.startswith("20")


def test_resending_the_same_file_adds_nothing(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "court.csv", RECORD_HEADER, [("j1", ALICE, "court.arrears", "2024-03-01", "")]
    )
    first = ingest_records(store, path, settings=settings, furnisher_id="court")
    again = ingest_records(store, path, settings=settings, furnisher_id="court")
    assert again.duplicate_of == first.batch_id and again.accepted == 0
    # The same rows in another file (other bytes): every row is a no-op, nothing appended.
    other = write_csv(
        tmp_path / "court-again.csv",
        (*RECORD_HEADER, "region"),
        [("j1", ALICE, "court.arrears", "2024-03-01", "0", "")],
    )
    repeat = ingest_records(store, other, settings=settings, furnisher_id="court")
    assert (repeat.accepted, repeat.noop, repeat.rejected) == (0, 1, 0)
    assert count(store, "ledger") == 1


def test_conflicting_duplicate_is_rejected_and_valid_rows_kept(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    ingest_records(
        store,
        write_csv(
            tmp_path / "a.csv", RECORD_HEADER, [("j1", ALICE, "court.arrears", "2024-03-01", "10")]
        ),
        settings=settings,
        furnisher_id="court",
    )
    path = write_csv(
        tmp_path / "b.csv",
        RECORD_HEADER,
        [
            ("j1", ALICE, "court.arrears", "2024-03-01", "11"),  # changed amount
            ("j2", BOB, "court.arrears", "2024-03-02", ""),
        ],
    )
    report = ingest_records(store, path, settings=settings, furnisher_id="court")
    assert (report.accepted, report.rejected) == (1, 1)
    assert report.rejects_path == tmp_path / "b.csv.rejects.csv"
    [row] = rejects_of(report.rejects_path)
    assert row["row"] == "1" and row["field"] == "record_id"
    assert "already in the ledger (batch 1)" in row["reason"] and "court/j1" in row["reason"]
    assert count(store, "ledger") == 2


def test_every_rejected_row_says_row_field_and_why(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "mixed.csv",
        ("furnisher", *RECORD_HEADER, "region"),
        [
            ("court", "ok1", ALICE, "court.arrears", "2024-03-01", "", ""),
            ("court", "bad-id", "110105194912310021", "court.arrears", "2024-03-01", "", ""),
            ("court", "not-theirs", ALICE, "traffic.ticket", "2024-03-01", "", ""),
            ("traffic", "other", ALICE, "court.arrears", "2024-03-01", "", ""),
            ("court", "region", ALICE, "court.arrears", "2024-03-01", "", "12AB"),
            ("court", "date", ALICE, "court.arrears", "2024-02-30", "", ""),
            ("", "ok2", BOB, "court.breach_found", "2024-03-01", "", "371082"),
        ],
    )
    report = ingest_records(store, path, settings=settings, furnisher_id="court")
    assert report.accepted == 2
    assert report.rejects_path is not None
    found = {(r["row"], r["field"]): r["reason"] for r in rejects_of(report.rejects_path)}
    assert set(found) == {
        ("2", "subject_id"),
        ("3", "code"),
        ("4", "furnisher"),
        ("5", "region"),
        ("6", "occurred_on"),
    }
    assert "not authorised to furnish code 'traffic.ticket'" in found[("3", "code")]
    assert "names furnisher 'traffic'" in found[("4", "furnisher")]
    assert "6 digits" in found[("5", "region")]
    with store.reading() as connection:
        region = connection.scalar(
            sa.text(f"SELECT region FROM subjects WHERE identifier = '{BOB}'")
        )
    assert region == "371082"


def test_unknown_furnisher_is_refused(store: Store, settings: Settings, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv", RECORD_HEADER, [("j1", ALICE, "court.arrears", "2024-03-01", "")]
    )
    with pytest.raises(NotFound, match="not registered"):
        ingest_records(store, path, settings=settings, furnisher_id="nobody")
    assert count(store, "batches") == 0


def test_events_follow_their_records(store: Store, settings: Settings, tmp_path: Path) -> None:
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [("j1", ALICE, "court.judgment_default", "2024-03-01", "")],
        ),
        settings=settings,
        furnisher_id="court",
    )
    path = write_csv(
        tmp_path / "e.csv",
        EVENT_HEADER,
        [
            ("j1", "fulfilled", "2024-05-01"),
            ("j1", "fulfilled", "2024-05-01"),  # the same event twice: a no-op
            ("j9", "fulfilled", "2024-05-01"),  # no such record
            ("j1", "forgiven", "2024-05-01"),
        ],
    )
    report = ingest_events(store, path, settings=settings, furnisher_id="court")
    assert (report.accepted, report.noop, report.rejected) == (1, 1, 2)
    assert report.rejects_path is not None
    reasons = {r["row"]: r["reason"] for r in rejects_of(report.rejects_path)}
    assert "no accepted record court/j9" in reasons["3"]
    assert "unknown event 'forgiven'" in reasons["4"]
    again = write_csv(tmp_path / "e2.csv", EVENT_HEADER, [("j1", "fulfilled", "2024-05-01")])
    assert ingest_events(store, again, settings=settings, furnisher_id="court").noop == 1
    # Another furnisher cannot send events on the court's records.
    theirs = write_csv(tmp_path / "e3.csv", EVENT_HEADER, [("j1", "retracted", "")])
    assert ingest_events(store, theirs, settings=settings, furnisher_id="traffic").rejected == 1
    assert count(store, "ledger") == 2


def test_an_empty_valid_file_is_a_batch_with_nothing(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    report = ingest_records(
        store,
        write_csv(tmp_path / "empty.csv", RECORD_HEADER, []),
        settings=settings,
        furnisher_id="court",
    )
    assert report.batch_id is not None and report.accepted == 0
    assert count(store, "ledger") == 0


def test_an_extension_is_accepted_only_for_an_extendable_listing(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Rule 13 at ingest: an ``extended`` event names the new end of a record on an extendable
    list of a scheme in force (the SPC's fixed-term grounds), and may lie after the day of
    receipt; on any other record it is rejected, naming the code. The listing then ends at the
    extended date, within its cap."""
    with store.writing("admin_log") as connection:
        add_furnisher(
            connection,
            "court2",
            "court",
            ["court.default_obstruction", "court.judgment_default"],
            update=False,
        )
    today = settings.today()
    occurred = today - dt.timedelta(days=30)
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [
                ("o1", ALICE, "court.default_obstruction", occurred.isoformat(), ""),
                ("j1", BOB, "court.judgment_default", occurred.isoformat(), ""),
            ],
        ),
        settings=settings,
        furnisher_id="court2",
    )
    new_end = add_months(occurred, 48)  # two years, and two of the three it may be extended by
    path = write_csv(
        tmp_path / "e.csv",
        EVENT_HEADER,
        [
            ("o1", "extended", new_end.isoformat()),
            ("j1", "extended", new_end.isoformat()),
            ("j1", "fulfilled", new_end.isoformat()),  # a fulfilment is never in the future
        ],
    )
    report = ingest_events(store, path, settings=settings, furnisher_id="court2")
    assert (report.accepted, report.rejected) == (1, 2)
    assert report.rejects_path is not None
    reasons = {r["row"]: r["reason"] for r in rejects_of(report.rejects_path)}
    assert (
        "code 'court.judgment_default' of record court2/j1 is on no extendable list"
        in (reasons["2"])
    )
    assert "3" in reasons
    view = standing_of(store, settings, ALICE, reader=Reader("t", "operator", "test"))
    listed = view.results["spc-defaulters"].standing
    assert listed is not None and listed.explanation is not None
    term = listed.explanation["lists"]["dishonest-judgment-defaulters-term"]
    assert term == {"since": occurred.isoformat(), "until": new_end.isoformat()}
