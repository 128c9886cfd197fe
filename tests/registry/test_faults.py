"""The contract: no answer given after a batch's commit reflects a ledger that lacks that batch —
and after a crash at any named point of a write, the very first answer after restart is right.

A real process (`socialcredit ingest`, `objection file`, `objection decide`) is made to end at
once (``os._exit``, as ``kill -9`` would) at each fault point of socialcredit.faults. Then, in a
fresh process state (a new Store and Checker, as after a restart, no `refresh`): the first
check (plain and from a freshly loaded index), the standing, the public view and the public
list are right; `verify` passes; sending the same batch again is a no-op if it had committed,
and goes in whole if it had not.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from socialcredit import faults
from socialcredit.errors import NotFound
from socialcredit.registry.audit import Reader
from socialcredit.registry.checks import Checker
from socialcredit.registry.due_process import decide_objection, file_objection, queue
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.publication import public_list, public_view
from socialcredit.registry.standings.freshness import pending_batches
from socialcredit.registry.standings.online import standing_of
from socialcredit.registry.standings.upkeep import held_by_another, refresh
from socialcredit.registry.verify import verify_all
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us

from .conftest import ACME, ALICE, RECORD_HEADER, write_csv

AIRLINES = "Civil Aviation Administration of China (airlines)"
LIST = "dishonest-judgment-defaulters"
READER = Reader("test", "operator", "fault injection")


def run(store_url: str, fault: str | None, *args: str, **env: str) -> int:
    environment = {**os.environ, **env}
    if fault is not None:
        environment[faults.VARIABLE] = fault
    done = subprocess.run(
        [sys.executable, "-m", "socialcredit", *args, "--db", store_url],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    return done.returncode


def batch(tmp_path: Path, settings: Settings) -> Path:
    recent = (settings.today() - dt.timedelta(days=20)).isoformat()
    return write_csv(
        tmp_path / "court.csv",
        RECORD_HEADER,
        [
            ("j1", ALICE, "court.judgment_default", recent, ""),
            ("j2", ACME, "court.judgment_default", recent, "90000"),
        ],
    )


def answers(store_url: str, settings: Settings) -> dict[str, object]:
    """Every way the registry answers about Alice, from a fresh process state."""
    store = Store(store_url)
    plain = Checker(store, settings)
    indexed = Checker(store, settings, index=True)
    try:
        indexed.load_index()
        checks = [
            [
                (m.measure, m.under_objection)
                for m in checker.prepare(AIRLINES, [ALICE], reader=READER).results[0].measures
            ]
            for checker in (plain, indexed)
        ]
        assert checks[0] == checks[1], "the index answers as the store"
        try:
            view = standing_of(store, settings, ALICE, reader=READER, scheme_id="spc-defaulters")
            standing = view.results["spc-defaulters"].standing
            lists = list(standing.lists) if standing else []
        except NotFound:
            lists = None
        public = [
            m.identifier for m in public_list(store, settings, "spc-defaulters", LIST).members
        ]
        return {
            "check": checks[0],
            "standing": lists,
            "public view": [x.list_id for x in public_view(store, settings, ALICE).listings],
            "public list": public,
        }
    finally:
        plain.close()
        indexed.close()
        store.engine.dispose()


LISTED = {
    "check": [("no-air-travel", False)],
    "standing": [LIST],
    "public view": [LIST],
    "public list": ["110105**********2X", ACME],
}
NOTHING = {"check": [], "standing": None, "public view": [], "public list": []}


def intact(store: Store, settings: Settings) -> None:
    outcome = verify_all(store, settings)
    assert outcome.intact, outcome


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "committed", "limit"),
    [
        ("ingest.appended", False, "2000"),  # inside the transaction: ledger written, standings not
        ("ingest.standings", False, "2000"),  # inside it: standings written, not committed
        ("ingest.committed", True, "2000"),  # a small batch: ledger and standings committed
        ("ingest.committed", True, "0"),  # a large batch: committed pending, before catch-up
        ("upkeep.stored", True, "0"),  # a large batch: one scheme caught up, then the crash
    ],
)
def test_a_crash_in_an_ingest_leaves_every_first_answer_right(
    store: Store,
    store_url: str,
    settings: Settings,
    tmp_path: Path,
    fault: str,
    committed: bool,
    limit: str,
) -> None:
    path = batch(tmp_path, settings)
    code = run(
        store_url,
        fault,
        "ingest",
        "records",
        str(path),
        "--furnisher",
        "court",
        SOCIALCREDIT_ONLINE_UPDATE_LIMIT=limit,
    )
    assert code == faults.EXIT_CODE
    with store.reading() as connection:
        assert bool(pending_batches(connection)) == (committed and limit == "0")
    assert answers(store_url, settings) == (LISTED if committed else NOTHING)
    intact(store, settings)
    again = ingest_records(store, path, settings=settings, furnisher_id="court")
    assert (again.duplicate_of is not None) == committed
    assert again.accepted == (0 if committed else 2)
    refresh(store, settings)  # the daily upkeep finishes what the crash left pending
    with store.reading() as connection:
        assert pending_batches(connection) == []
    assert answers(store_url, settings) == LISTED
    intact(store, settings)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["decision.appended", "decision.committed"])
def test_a_crash_in_a_registry_decision_leaves_every_first_answer_right(
    store: Store, store_url: str, settings: Settings, tmp_path: Path, fault: str
) -> None:
    ingest_records(store, batch(tmp_path, settings), settings=settings, furnisher_id="court")
    assert answers(store_url, settings) == LISTED
    committed = fault == "decision.committed"
    code = run(store_url, fault, "objection", "file", ALICE, "court/j1", "--reason", "I paid it")
    assert code == faults.EXIT_CODE
    objected = {**LISTED, "check": [("no-air-travel", True)]}
    assert answers(store_url, settings) == (objected if committed else LISTED)
    intact(store, settings)
    if not committed:  # nothing happened: the subject files again
        file_objection(store, settings, ALICE, "court/j1", reason="I paid it")
    [case] = queue(store, settings, "objection", reader=None)
    code = run(
        store_url,
        fault,
        "objection",
        "decide",
        str(case.id),
        "--uphold",
        "--reason",
        "the court confirms payment",
        "--by",
        "wang.li",
    )
    assert code == faults.EXIT_CODE
    upheld = {**LISTED, "check": [], "standing": [], "public view": [], "public list": [ACME]}
    assert answers(store_url, settings) == (upheld if committed else objected)
    intact(store, settings)
    if not committed:
        decide_objection(store, settings, case.id, uphold=True, reason="paid", by="wang.li")
        assert answers(store_url, settings) == upheld
        intact(store, settings)


def test_a_crashed_holders_upkeep_lease_ends_with_it() -> None:
    later = now_us() + 60_000_000
    here = socket.gethostname()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert not held_by_another(f"{here}:{dead}:ab12", later)
    assert held_by_another(f"{here}:{os.getpid()}:ab12", later)  # alive: it holds
    assert not held_by_another(f"{here}:{os.getpid()}:ab12", later, f"{here}:{os.getpid()}:ab12")
    assert held_by_another(f"elsewhere:{dead}:ab12", later)  # another machine: until it runs out
    assert not held_by_another(f"elsewhere:{dead}:ab12", now_us() - 1)
    assert not held_by_another(None, later)
