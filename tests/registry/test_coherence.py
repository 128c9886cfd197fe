"""Rule 14 in the registry: a subject on a black list of any scheme in force is on no red list
and gets no incentive of another, in every path — online standing, stored current standings
(online writer and batch), checks, verify — and the stored standing under the rewarding scheme
holds only until the black listing ends (or a new version of the barring scheme takes effect)."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path

import sqlalchemy as sa

from socialcredit.identifiers import person_check_character
from socialcredit.registry.audit import Reader
from socialcredit.registry.checks import Checker
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.policies import publish_scheme
from socialcredit.registry.reports import subject_page
from socialcredit.registry.standings.batch import evaluate_registry
from socialcredit.registry.standings.online import standing_of, subject_key, view_json
from socialcredit.registry.verify import verify_standings
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import RECORD_HEADER, write_csv

READER = Reader("test", "operator", "testing rule 14")


def suining_person(serial: str) -> str:
    body = f"32032419800101{serial}"
    return body + person_check_character(body)


DEFAULTER, NEIGHBOUR = suining_person("123"), suining_person("456")
SPC_END = "2031-01-05"  # a judgment default of 2026-01-05, until performance within five years


def stored(store: Store, identifier: str, scheme: str) -> tuple[list[str], list[str], str | None]:
    with store.reading() as connection:
        key = subject_key(connection, identifier)
        row = connection.execute(
            sa.text(
                "SELECT lists, measures, holds_until FROM standings "
                "WHERE scheme_id = :s AND subject_id = :k"
            ),
            {"s": scheme, "k": key},
        ).one()
    return json.loads(row.lists), json.loads(row.measures), str(row.holds_until)[:10]


def online(store: Store, settings: Settings, identifier: str) -> dict[str, tuple[str, ...]]:
    view = standing_of(store, settings, identifier, reader=READER, scheme_id="suining-person")
    result = view.results["suining-person"]
    assert result.standing is not None
    # the explanation says which black list bars the subject (JSON, text and report alike)
    barred_by = view_json(view)["standings"]["suining-person"]["barred_by"]
    return {
        "lists": result.standing.lists,
        "measures": result.standing.measures,
        "barred_by": tuple(f"{b['scheme']}/{b['list']}" for b in barred_by),
    }


def priority(store: Store, settings: Settings, identifier: str) -> list[str]:
    checker = Checker(store, settings)
    try:
        agency = "Suining County government service centre"
        prepared = checker.prepare(agency, [identifier], reader=READER)
    finally:
        checker.close()
    return [m.measure for m in prepared.results[0].measures]


def test_a_defaulter_is_on_no_red_list_of_another_scheme_in_any_path(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    court = write_csv(
        tmp_path / "c.csv",
        RECORD_HEADER,
        [("j1", DEFAULTER, "court.judgment_default", "2026-01-05", "")],
    )
    traffic = write_csv(
        tmp_path / "t.csv", RECORD_HEADER, [("t1", NEIGHBOUR, "traffic.ticket", "2026-01-05", "")]
    )
    ingest_records(store, court, settings=settings, furnisher_id="court")
    # The traffic ticket is the neighbour's only record: Suining evaluates it at the base.
    ingest_records(store, traffic, settings=settings, furnisher_id="traffic")
    for who in (DEFAULTER, NEIGHBOUR):
        assert stored(store, who, "suining-person")  # written online by the ingest
    # Online (standing, reports, the portal): the defaulter, grade A under Suining, is barred.
    assert online(store, settings, NEIGHBOUR) == {
        "lists": ("suining-trustworthy",),
        "measures": ("suining-priority-services",),
        "barred_by": (),
    }
    assert online(store, settings, DEFAULTER) == {
        "lists": (),
        "measures": (),
        "barred_by": ("spc-defaulters/dishonest-judgment-defaulters",),
    }
    page = subject_page(store, settings, DEFAULTER, reader=READER)  # the report and portal
    [suining] = [s for s in page["standings"] if s["scheme"] == "suining-person"]
    assert [b["list"] for b in suining["barred_by"]] == ["dishonest-judgment-defaulters"]
    # Stored by the online writer, then by the batch: the same, and the defaulter's Suining
    # standing holds until the SPC listing ends (then the trustworthy list takes the person).
    written = {who: stored(store, who, "suining-person") for who in (DEFAULTER, NEIGHBOUR)}
    assert written[DEFAULTER] == ([], [], SPC_END)
    assert written[NEIGHBOUR][:2] == (["suining-trustworthy"], ["suining-priority-services"])
    evaluate_registry(store, settings, "suining-person")
    assert {who: stored(store, who, "suining-person") for who in written} == written
    # A point-of-service check at the county's service centre.
    assert priority(store, settings, NEIGHBOUR) == ["suining-priority-services"]
    assert priority(store, settings, DEFAULTER) == []
    # verify re-evaluates everyone in batch and compares: no difference.
    problems, compared = verify_standings(store, settings, lambda _step: None)
    assert not problems and compared >= 2


def test_a_new_version_of_a_barring_scheme_brings_the_rewarding_standings_forward(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "r.csv", RECORD_HEADER, [("t1", NEIGHBOUR, "traffic.ticket", "2026-01-05", "")]
    )
    ingest_records(store, path, settings=settings, furnisher_id="traffic")
    assert stored(store, NEIGHBOUR, "suining-person")[2] == "None"
    # A new SPC version taking effect in a year may list the neighbour from then on.
    effective = settings.today() + dt.timedelta(days=365)
    text = (resources.files("socialcredit") / "data/schemes/spc-defaulters.yaml").read_text(
        encoding="utf-8"
    )
    v2 = text.replace("version: 1\n", "version: 2\n", 1).replace(
        "effective_from: 2017-05-01", f"effective_from: {effective.isoformat()}", 1
    )
    assert v2.count(effective.isoformat()) == 1
    with store.writing("standings", "admin_log") as connection:
        publish_scheme(connection, v2, source="v2", today=settings.today())
    assert stored(store, NEIGHBOUR, "suining-person")[2] == effective.isoformat()
    evaluate_registry(store, settings, "suining-person")  # the batch computes the same day
    assert stored(store, NEIGHBOUR, "suining-person")[2] == effective.isoformat()
