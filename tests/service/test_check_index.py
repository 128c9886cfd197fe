"""The service's check index: while the registry's generation is the index's, checks answer
from memory exactly as they would from the store; a write makes the index stale at once, and
checks read the store until a fresh index is loaded."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from socialcredit.registry.audit import Reader
from socialcredit.registry.checks import Checker, result_json
from socialcredit.registry.due_process import decide_objection, file_objection
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import generation

from .conftest import ACME, AGENCY, ALICE, BOB, RAILWAY, Keys, auth

NOBODY = "110105198001010016"
READER = Reader("test", "agency", "testing")


def _answers(checker: Checker, agency: str, ids: list[str]) -> list[dict[str, object]]:
    return [result_json(r) for r in checker.prepare(agency, ids, reader=READER).results]


def _generation(store: Store) -> int:
    with store.reading() as connection:
        return int(connection.scalar(sa.select(generation.c.value)) or 0)


def test_the_ledgers_writers_raise_the_generation_and_the_audits_do_not(
    store: Store, keys: Keys
) -> None:
    before = _generation(store)
    with store.writing("audit_log"):
        pass
    assert _generation(store) == before
    with store.writing():
        pass
    assert _generation(store) == before + 1


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
