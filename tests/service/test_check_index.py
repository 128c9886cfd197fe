"""The service's check index: while the registry's generation is the index's, checks answer
from memory exactly as they would from the store; a write makes the index stale at once, and
checks read the store until a fresh index is loaded."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from socialcredit.registry.audit import Reader
from socialcredit.registry.checks import Checker, result_json
from socialcredit.registry.due_process import decide_objection, file_objection
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.standings.batch import evaluate_registry
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import LEDGER_GENERATION, STANDINGS_GENERATION, generation

from ..registry.conftest import RECORD_HEADER, write_csv
from .conftest import ACME, AGENCY, ALICE, BOB, RAILWAY, Keys, auth

NOBODY = "110105198001010016"
READER = Reader("test", "agency", "testing")


def _answers(checker: Checker, agency: str, ids: list[str]) -> list[dict[str, object]]:
    return [result_json(r) for r in checker.prepare(agency, ids, reader=READER).results]


def _generations(store: Store) -> tuple[int, int]:
    with store.reading() as connection:
        found = dict(connection.execute(sa.select(generation.c.id, generation.c.value)).all())
    return int(found[LEDGER_GENERATION]), int(found[STANDINGS_GENERATION])


def test_each_counter_is_raised_by_its_own_writer_only(
    store: Store, settings: Settings, keys: Keys, tmp_path: Path
) -> None:
    ledger, derived = _generations(store)
    with store.writing("audit_log", "admin_log", "reviews"):
        pass
    assert _generations(store) == (ledger, derived)
    # a ledger append with the standings it changes raises both, in one transaction
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv", RECORD_HEADER, [("g1", BOB, "court.arrears", "2026-11-02", "70")]
        ),
        settings=settings,
        furnisher_id="court",
    )
    assert _generations(store) == (ledger + 1, derived + 1)
    # upkeep of derived state raises its own counter only
    evaluate_registry(store, settings, "spc-defaulters")
    assert _generations(store) == (ledger + 1, derived + 2)


def test_the_index_answers_as_the_store_and_a_write_makes_it_stale(
    store: Store, settings: Settings, keys: Keys
) -> None:
    ids = [ALICE, BOB, ACME, NOBODY, "not-an-identifier", ALICE]
    indexed = Checker(store, settings, index=True)
    plain = Checker(store, settings)
    try:
        assert not indexed.index_current()  # nothing loaded yet
        assert indexed.load_index() is not None and indexed.index_current()
        loads = indexed.index_loads
        for agency in (AGENCY, RAILWAY):
            assert _answers(indexed, agency, ids) == _answers(plain, agency, ids)
        assert indexed.index_answers >= 2 and plain.index_answers == 0
        [measure] = _answers(indexed, AGENCY, [ALICE])[0]["measures"]  # type: ignore[misc]
        assert measure["under_objection"] is False
        # an objection is a write: the index is stale at once, the next check reads the store
        case = file_objection(store, settings, ALICE, "court/j1", reason="I paid")
        assert not indexed.index_current()
        answered = indexed.index_answers
        [measure] = _answers(indexed, AGENCY, [ALICE])[0]["measures"]  # type: ignore[misc]
        assert measure["under_objection"] is True
        assert indexed.index_answers == answered  # read from the store
        assert indexed.load_index() is not None and indexed.index_current()
        assert indexed.index_loads > loads  # (a stale index also starts a load in the background)
        assert _answers(indexed, AGENCY, ids) == _answers(plain, AGENCY, ids)
        # upheld: the listing is gone, from the store and then from a fresh index
        decide_objection(store, settings, case.id, uphold=True, reason="set aside", by="clerk")
        assert _answers(indexed, AGENCY, [ALICE])[0]["measures"] == []
        indexed.load_index()
        assert indexed.index_current()
        assert _answers(indexed, AGENCY, [ALICE])[0]["measures"] == []
    finally:
        indexed.close()
        plain.close()


def test_the_service_loads_its_index_and_answers_from_it(
    client: TestClient, keys: Keys, settings: Settings
) -> None:
    checker: Checker = client.app.state.socialcredit.checker  # type: ignore[attr-defined]
    checker.load_index()
    assert checker.index_current()
    ids = [ALICE, BOB, ACME, NOBODY]
    answer = client.post("/v1/checks", json={"subjects": ids}, headers=auth(keys.agency)).json()
    assert [r["measures"] != [] for r in answer["results"]] == [True, False, True, False]
    single = client.get(f"/v1/checks/{ALICE}", headers=auth(keys.agency)).json()
    assert single == answer["results"][0]
    assert checker.index_answers >= 2
    assert checker.index_current()  # checks only write the audit: the index stays current
