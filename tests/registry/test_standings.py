"""Standings from the store: kept current after ingest, equal to a fresh full evaluation,
reproducible from a replayed ledger, re-evaluated when the calendar alone changes them."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from socialcredit.demo_city import generate_city
from socialcredit.errors import Conflict
from socialcredit.identifiers import person_check_character
from socialcredit.registry.admin import init_store
from socialcredit.registry.audit import Reader
from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.policies import add_furnisher, publish_scheme
from socialcredit.registry.standings.batch import evaluate_registry
from socialcredit.registry.standings.online import standing_of, subject_key, view_json
from socialcredit.registry.standings.upkeep import refresh
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us

from .conftest import (
    ALICE,
    BOB,
    EVENT_HEADER,
    RECORD_HEADER,
    measures_at_the_airport,
    write_csv,
)

Table = dict[tuple[str, str], tuple[Any, ...]]
READER = Reader("test", "operator", "testing the registry")


def current_table(store: Store) -> Table:
    with store.reading() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT t.scheme_id, s.identifier, t.score, t.grade, t.lists, t.measures, "
                "t.holds_until FROM standings t JOIN subjects s ON s.id = t.subject_id"
            )
        ).all()
    return {(r[0], r[1]): (r[2], r[3], r[4], r[5], str(r[6]) if r[6] else None) for r in rows}


def snapshot_table(store: Store, snapshot_id: int) -> dict[str, tuple[Any, ...]]:
    with store.reading() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT s.identifier, t.score, t.grade, t.lists, t.measures FROM "
                "snapshot_standings t JOIN subjects s ON s.id = t.subject_id "
                "WHERE t.snapshot_id = :id"
            ),
            {"id": snapshot_id},
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def load_city(store: Store, settings: Settings, city_dir: Path, *, update: bool = True) -> None:
    with (city_dir / "furnishers.csv").open(encoding="utf-8") as handle:
        furnishers = list(csv.DictReader(handle))
    with store.writing("admin_log") as connection:
        for f in furnishers:
            add_furnisher(connection, f["id"], f["name"], f["codes"].split(","), update=False)
    for f in furnishers:
        for kind, ingest in (("records", ingest_records), ("events", ingest_events)):
            report = ingest(
                store,
                city_dir / kind / f"{f['id']}.csv",
                settings=settings,
                furnisher_id=f["id"],
                standings="now" if update else "later",
            )
            assert report.rejected == 0


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, persons=400, organisations=60, years=6, seed=11, until=Settings().today())
    return out


def test_standings_after_ingest_equal_a_fresh_full_evaluation(
    store: Store, settings: Settings, city: Path
) -> None:
    load_city(store, settings, city)
    online = current_table(store)
    assert len(online) > 400
    assert any(v[2] != "[]" for v in online.values()), "someone should be listed"
    schemes = sorted({scheme for scheme, _ in online})
    for scheme in schemes:
        evaluate_registry(store, settings, scheme)
    assert current_table(store) == online


def test_the_batch_path_after_a_large_ingest_gives_the_same_standings(
    store: Store, settings: Settings, city: Path
) -> None:
    load_city(store, settings, city)
    online = current_table(store)
    batch_settings = settings.model_copy(update={"online_update_limit": 0})
    ingest = write_csv(
        city.parent / f"extra-{store.dialect}.csv",
        RECORD_HEADER,
        [("late-1", ALICE, "court.judgment_default", "2020-01-01", "")],
    )
    report = ingest_records(store, ingest, settings=batch_settings, furnisher_id="rongcheng-court")
    note = report.standings
    assert "in batch" in note
    after = current_table(store)
    new = {k: v for k, v in after.items() if k[1] == ALICE}
    assert new and {k: v for k, v in after.items() if k[1] != ALICE} == online


def test_replaying_the_ledger_into_an_empty_store_gives_identical_standings(
    store: Store, settings: Settings, city: Path, tmp_path: Path
) -> None:
    load_city(store, settings, city, update=False)
    replica_settings = Settings(database_url=f"sqlite:///{tmp_path / 'replica.db'}")
    replica = Store(replica_settings.database_url)
    init_store(replica, replica_settings)
    with store.reading() as connection:
        furnishers = connection.execute(sa.text("SELECT id, name, codes FROM furnishers")).all()
        batches = connection.execute(
            sa.text("SELECT id, furnisher, kind FROM batches ORDER BY id")
        ).all()
        for batch in batches:
            entries = connection.execute(
                sa.text(
                    "SELECT l.record_id, s.identifier, l.code, l.occurred_on, l.amount, "
                    "l.event, l.event_date FROM ledger l JOIN subjects s ON s.id = l.subject_id "
                    "WHERE l.batch_id = :b ORDER BY l.seq"
                ),
                {"b": batch.id},
            ).all()
            if batch.kind == "records":
                rows = [(e[0], e[1], e[2], e[3], e[4] or "") for e in entries]
                write_csv(tmp_path / f"{batch.id}.csv", RECORD_HEADER, rows)
            else:
                rows = [(e[0], e[5], e[6] or "") for e in entries]
                write_csv(tmp_path / f"{batch.id}.csv", EVENT_HEADER, rows)
    with replica.writing("admin_log") as connection:
        import json

        for f in furnishers:
            add_furnisher(connection, f.id, f.name, json.loads(f.codes), update=False)
    for batch in batches:
        ingest = ingest_records if batch.kind == "records" else ingest_events
        assert (
            ingest(
                replica,
                tmp_path / f"{batch.id}.csv",
                settings=replica_settings,
                furnisher_id=batch.furnisher,
            ).rejected
            == 0
        )
    as_of = dt.date(2025, 7, 1)
    for scheme in ("rongcheng-person", "spc-defaulters", "gsxt-enterprises"):
        original = evaluate_registry(store, settings, scheme, as_of=as_of)
        replayed = evaluate_registry(replica, replica_settings, scheme, as_of=as_of)
        assert original.snapshot_id is not None and replayed.snapshot_id is not None
        assert snapshot_table(store, original.snapshot_id) == snapshot_table(
            replica, replayed.snapshot_id
        )
        assert original.grades == replayed.grades and original.list_sizes == replayed.list_sizes
    replica.engine.dispose()


def test_a_listing_ends_on_its_day_without_new_data(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    # A judgment default keeps the subject listed for a fixed time (spc-defaulters); the
    # store was initialised today, so the clock only moves forward from here.
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=1), tick=False):
        path = write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [
                ("j1", ALICE, "court.judgment_default", "2026-01-10", ""),
                ("j2", BOB, "court.judgment_default", "2026-01-10", ""),
            ],
        )
        ingest_records(store, path, settings=settings, furnisher_id="court")
        with store.reading() as connection:
            alice, bob = subject_key(connection, ALICE), subject_key(connection, BOB)
        assert alice is not None and bob is not None
        assert measures_at_the_airport(store, settings, ALICE) == ["no-air-travel"]
        held = stored(store, alice).holds_until
        assert held is not None
        until = dt.date.fromisoformat(str(held)[:10])

    with time_machine.travel(dt.datetime.combine(until, dt.time(9), dt.UTC), tick=False):
        # The stored row still says listed, but freshness refuses it on that day: the check
        # evaluates online, and writes nothing.
        generation = generations(store)
        assert "dishonest" in stored(store, alice).lists
        assert measures_at_the_airport(store, settings, ALICE) == []
        assert "dishonest" in stored(store, alice).lists and generations(store) == generation
        # refresh (run daily, or the service's upkeep) rewrites everyone whose day has come.
        result = refresh(store, settings)
        assert result.due >= 2 and result.schemes_rebuilt == []
        assert stored(store, alice).lists == "[]" and stored(store, bob).lists == "[]"
        assert str(stored(store, bob).as_of)[:10] == until.isoformat()


def stored(store: Store, key: int) -> Any:
    with store.reading() as connection:
        return connection.execute(
            sa.text(
                "SELECT lists, as_of, holds_until FROM standings "
                "WHERE scheme_id = 'spc-defaulters' AND subject_id = :k"
            ),
            {"k": key},
        ).one()


def generations(store: Store) -> list[int]:
    with store.reading() as connection:
        return [
            int(v) for v in connection.scalars(sa.text("SELECT value FROM generation ORDER BY id"))
        ]


def test_the_scheme_version_in_force_is_chosen_by_as_of_and_known_at(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv", RECORD_HEADER, [("t1", ALICE, "traffic.ticket", "2026-01-05", "")]
        ),
        settings=settings,
        furnisher_id="traffic",
    )
    before_v2 = now_us()
    text = Path("src/socialcredit/data/schemes/rongcheng-person.yaml").read_text(encoding="utf-8")
    v2 = text.replace("version: 1", "version: 2", 1)
    assert v2 != text
    v2 = v2.replace("effective_from: 2020-10-01", "effective_from: 2026-06-01", 1)
    with store.writing("standings", "admin_log") as connection:
        publish_scheme(connection, v2, source="v2")
        with pytest.raises(Conflict, match="already published with different content"):
            publish_scheme(connection, v2 + "\n# changed\n", source="v2b")

    def version(as_of: dt.date, known: int | None = None) -> int:
        view = standing_of(
            store,
            settings,
            ALICE,
            reader=READER,
            scheme_id="rongcheng-person",
            as_of=as_of,
            known_at_us=known,
        )
        return view.results["rongcheng-person"].scheme.version

    assert version(dt.date(2026, 5, 31)) == 1
    assert version(dt.date(2026, 6, 1)) == 2
    assert version(dt.date(2026, 6, 1), before_v2) == 1
    # A standing of May holds at most until the new version takes effect.
    view = standing_of(
        store,
        settings,
        ALICE,
        reader=READER,
        scheme_id="rongcheng-person",
        as_of=dt.date(2026, 5, 1),
    )
    assert view.results["rongcheng-person"].holds_until == dt.date(2026, 6, 1)


def _minor_of(days_to_18: int) -> tuple[str, dt.date]:
    """A person who turns 18 in ``days_to_18`` days, and the first day they are 18 (the day
    after the birthday)."""
    today = Settings().today()
    birthday = today + dt.timedelta(days=days_to_18)
    born = birthday.replace(year=birthday.year - 18)
    body = f"371082{born.strftime('%Y%m%d')}123"
    return body + person_check_character(body), birthday + dt.timedelta(days=1)


def test_a_minor_is_outside_the_population_until_the_day_after_the_18th_birthday(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """SPC art. 4 (min_age 18) and Rongcheng's scope: the standing says in_population false
    with the reason, a check answers no measure, nothing is stored; from the day after the
    18th birthday the person is evaluated — the judgment of their minority counts as
    retracted — and refresh stores the standing."""
    minor, adult_from = _minor_of(8)
    path = write_csv(
        tmp_path / "r.csv",
        RECORD_HEADER,
        [
            ("j1", ALICE, "court.judgment_default", "2026-01-10", ""),
            ("j2", minor, "court.judgment_default", "2026-01-10", ""),
        ],
    )
    ingest_records(store, path, settings=settings, furnisher_id="court")
    view = standing_of(store, settings, minor, reader=READER)
    spc = view.results["spc-defaulters"]
    assert not spc.in_population and spc.standing is None
    assert spc.outside == "the scheme applies to persons of 18 or older"
    assert spc.holds_until == adult_from
    assert view_json(view)["standings"]["spc-defaulters"]["in_population"] is False
    assert measures_at_the_airport(store, settings, minor) == []
    assert measures_at_the_airport(store, settings, ALICE) == ["no-air-travel"]
    with store.reading() as connection:
        key = subject_key(connection, minor)
    assert key is not None
    with pytest.raises(sa.exc.NoResultFound):
        stored(store, key)
    # Alice lives in Beijing: Rongcheng's scheme answers that she is outside its regions.
    rongcheng = standing_of(store, settings, ALICE, reader=READER).results["rongcheng-person"]
    assert rongcheng.outside is not None and "371082" in rongcheng.outside

    with time_machine.travel(dt.datetime.combine(adult_from, dt.time(9), dt.UTC), tick=False):
        spc = standing_of(store, settings, minor, reader=READER).results["spc-defaulters"]
        assert spc.in_population and spc.standing is not None
        assert spc.standing.lists == ()  # the judgment of their minority has no effect
        assert measures_at_the_airport(store, settings, minor) == []
        result = refresh(store, settings)
        assert result.due >= 1
        assert stored(store, key).lists == "[]"


def test_an_empty_ledger_is_built_as_the_engine_would_build_it(
    store: Store, settings: Settings
) -> None:
    """A fresh registry's builds skip the engine (nobody has a record, so nobody is
    evaluated): for every scheme in force, the engine's own run over the same empty snapshot
    gives no rows, in the columns and types the shortcut stores."""
    from socialcredit.registry.policies import schemes_in_force
    from socialcredit.registry.standings.batch import _EMPTY_HELD, _EMPTY_RESULT, _evaluate
    from socialcredit.registry.standings.snapshot import ledger_snapshot

    known = now_us()
    taken = ledger_snapshot(store, known)
    assert taken.head_seq == 0
    with store.reading() as connection:
        in_force = schemes_in_force(connection, as_of=settings.today(), known_us=known)
    assert in_force
    for applicable in in_force:
        result, held, grades, lists, measures = _evaluate(
            taken, applicable.scheme, settings.today(), known, [], "duckdb", None, True
        )
        assert held is not None
        assert result.num_rows == held.num_rows == 0
        assert result.schema.names == _EMPTY_RESULT.schema.names
        assert held.schema.names == _EMPTY_HELD.schema.names
        for name in ("sid", "score", "holds_until"):
            assert result.schema.field(name).type == _EMPTY_RESULT.schema.field(name).type
        assert (grades, lists, measures) == ({}, {}, {})
        done = evaluate_registry(store, settings, applicable.scheme.id)  # the shortcut
        assert (done.subjects, done.stored) == (0, True)
    with store.reading() as connection:
        built = connection.execute(sa.text("SELECT count(*) FROM current_builds")).scalar()
    assert built == len(in_force)
