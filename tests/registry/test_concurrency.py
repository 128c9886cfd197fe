"""Checks running while a large batch is ingested never return a pre-batch answer once the
batch's commit is visible to them — not while its standings are pending, not while they are
caught up in batch — and the public list is read-only."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import sqlalchemy as sa

from socialcredit.identifiers import person_check_character
from socialcredit.registry.audit import Reader
from socialcredit.registry.checks import Checker
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.publication import PublicPages, public_list
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import ALICE, RECORD_HEADER, count, write_csv

AIRLINES = "Civil Aviation Administration of China (airlines)"
READER = Reader("desk", "agency", "concurrency test")
LIST = "dishonest-judgment-defaulters"


def big_batch(path: Path, settings: Settings, subjects: int) -> Path:
    recent = (settings.today() - dt.timedelta(days=20)).isoformat()
    rows = [("alice", ALICE, "court.judgment_default", recent, "")]
    for i in range(subjects):
        body = f"110105{1950 + i % 50}0101{i % 1000:03d}"
        rows.append((f"k{i}", body + person_check_character(body), "court.arrears", recent, "9"))
    return write_csv(path, RECORD_HEADER, rows)


def test_checks_never_see_the_ledger_without_a_committed_batch(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    large = settings.model_copy(update={"online_update_limit": 10})
    # Alice is known already, and not listed: her stored standing says so until the batch.
    earlier = (settings.today() - dt.timedelta(days=40)).isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "a.csv", RECORD_HEADER, [("a0", ALICE, "court.arrears", earlier, "5")]
        ),
        settings=settings,
        furnisher_id="court",
    )
    path = big_batch(tmp_path / "big.csv", settings, 3000)
    samples: list[tuple[bool, bool, bool]] = []  # (committed before, pending, listed)
    stop = threading.Event()
    failures: list[BaseException] = []

    def watch() -> None:
        plain, indexed = Checker(store, settings), Checker(store, settings, index=True)
        probe = store.engine.connect()
        try:
            while not stop.is_set():
                # what is committed now, read before the check begins
                state = probe.execute(
                    sa.text("SELECT standings_done FROM batches WHERE file_name = 'big.csv'")
                ).first()
                probe.rollback()
                for checker in (plain, indexed):
                    result = checker.prepare(AIRLINES, [ALICE], reader=READER).results[0]
                    listed = any(m.measure == "no-air-travel" for m in result.measures)
                    samples.append((state is not None, bool(state and not state[0]), listed))
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            probe.close()
            plain.close()
            indexed.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        report = ingest_records(store, path, settings=large, furnisher_id="court")
    finally:
        stop.set()
        watcher.join(timeout=120)
    assert not failures, failures
    assert report.accepted == 3001 and "every scheme re-evaluated in batch" in report.standings
    after = [listed for committed, _pending, listed in samples if committed]
    assert after, "some checks ran after the commit"
    assert all(after), "a check after the commit answered from the ledger without the batch"
    # the checks did run while the batch's standings were pending, and answered right then
    assert any(pending for _committed, pending, _listed in samples)


def test_the_public_list_writes_nothing_and_pages(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    recent = (settings.today() - dt.timedelta(days=20)).isoformat()
    rows = []
    for i in range(7):
        body = f"110105{1960 + i}0101{i:03d}"
        ident = body + person_check_character(body)
        rows.append((f"d{i}", ident, "court.judgment_default", recent, ""))
    ingest_records(
        store,
        write_csv(tmp_path / "r.csv", RECORD_HEADER, rows),
        settings=settings,
        furnisher_id="court",
    )
    tables = ("ledger", "standings", "standing_lists", "notices", "audit_log", "batches")

    def state() -> tuple[object, ...]:
        with store.reading() as connection:
            generations = tuple(
                connection.scalars(sa.text("SELECT value FROM generation ORDER BY id"))
            )
        return (*(count(store, t) for t in tables), generations)

    before = state()
    pages = [
        public_list(store, settings, "spc-defaulters", LIST, page=p, per_page=3) for p in (1, 2, 3)
    ]
    assert state() == before
    assert [p.total for p in pages] == [7, 7, 7] and [p.pages for p in pages] == [3, 3, 3]
    members = [m.identifier for p in pages for m in p.members]
    assert len(members) == 7 == len(set(members)) and members == sorted(members)
    assert all("*" in m for m in members)  # persons masked
    assert public_list(store, settings, "spc-defaulters", LIST, page=4, per_page=3).members == []


def test_public_pages_are_kept_while_the_registry_is_unchanged(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    pages = PublicPages(store, settings)
    first, text = pages.get("spc-defaulters", LIST)
    assert pages.get("spc-defaulters", LIST) == (first, text) and pages.hits == 1
    assert pages.cached("spc-defaulters", LIST) == (first, text) and pages.hits == 2
    recent = (settings.today() - dt.timedelta(days=20)).isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv", RECORD_HEADER, [("n1", ALICE, "court.judgment_default", recent, "")]
        ),
        settings=settings,
        furnisher_id="court",
    )
    assert pages.cached("spc-defaulters", LIST) is None
    after, _ = pages.get("spc-defaulters", LIST)
    assert after.total == first.total + 1 and pages.hits == 2
