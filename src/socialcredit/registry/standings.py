"""Standings from the store: one subject online (reference engine), everyone in batch (DuckDB
over an Arrow snapshot of the ledger), and the current standings kept current.

Current standings (table ``standings``) hold each subject's standing under each published
scheme as of a day, with ``holds_until``: the first day on which it may change without new data
(a record's effect starts or ends, or a newer scheme version takes effect). They are updated
after every ingest, re-evaluated on read once that day has come (:func:`current_standing`), and
by `socialcredit refresh` for everyone whose day has come.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from socialcredit.engines.sql import Dialect, Statement, evaluation_statements
from socialcredit.errors import NotFound, UsageError
from socialcredit.identifiers import check
from socialcredit.policy.model import Scheme
from socialcredit.registry.audit import Reader, record_read
from socialcredit.registry.notices import changes as notice_changes
from socialcredit.registry.notices import changes_sql
from socialcredit.registry.notices import insert_rows as insert_notices
from socialcredit.registry.policies import Applicable, scheme_at, scheme_ids, schemes_in_force
from socialcredit.semantics.fields import Event, Record
from socialcredit.semantics.reference import (
    Standing,
    evaluate,
    next_change,
    visible_dates,
)
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us, us_to_iso
from socialcredit.store.schema import (
    batches,
    current_builds,
    ledger,
    objections,
    snapshot_standings,
    snapshots,
    standings,
    subjects,
)

STANDING_COLUMNS = (
    "scheme_id",
    "subject_id",
    "scheme_version",
    "as_of",
    "known_us",
    "score",
    "grade",
    "lists",
    "measures",
    "holds_until",
)


def ids_json(values: Iterable[str]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def _earliest(*dates: dt.date | None) -> dt.date | None:
    present = [d for d in dates if d is not None]
    return min(present) if present else None


# -- one subject -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectFacts:
    key: int
    identifier: str
    kind: str
    name: str | None
    region: str | None
    records: list[Record]
    events: list[Event]


def subject_key(connection: sa.Connection, identifier: str) -> int | None:
    return connection.scalar(sa.select(subjects.c.id).where(subjects.c.identifier == identifier))


def load_subject(connection: sa.Connection, key: int) -> SubjectFacts:
    """Everything the ledger holds about one subject (all of it; visibility is for evaluation)."""
    who = connection.execute(sa.select(subjects).where(subjects.c.id == key)).one()
    records, events = [], []
    for row in connection.execute(
        sa.select(ledger).where(ledger.c.subject_id == key).order_by(ledger.c.seq)
    ):
        if row.entry == "record":
            records.append(
                Record(
                    row=int(row.seq),
                    furnisher=row.furnisher,
                    record_id=row.record_id,
                    subject_id=who.identifier,
                    kind=who.kind,
                    code=row.code,
                    occurred_on=row.occurred_on,
                    amount=Decimal(row.amount) if row.amount else Decimal(0),
                    recorded_us=int(row.recorded_us),
                )
            )
        else:
            events.append(
                Event(
                    row=int(row.seq),
                    furnisher=row.furnisher,
                    record_id=row.record_id,
                    event=row.event,
                    date=row.event_date,
                    recorded_us=int(row.recorded_us),
                )
            )
    return SubjectFacts(key, who.identifier, who.kind, who.name, who.region, records, events)


@dataclass(frozen=True)
class Evaluated:
    """A subject's standing under one scheme version, and until when it holds."""

    scheme: Scheme
    standing: Standing | None  # None: not evaluated (another kind, or no record visible at K)
    holds_until: dt.date | None


def evaluate_facts(
    facts: SubjectFacts,
    applicable: Applicable,
    *,
    as_of: dt.date,
    known_at_us: int,
    explain: bool = False,
) -> Evaluated:
    scheme = applicable.scheme
    found = evaluate(
        facts.records, facts.events, scheme, as_of=as_of, known_at_us=known_at_us, explain=explain
    )
    if not found:
        return Evaluated(scheme, None, applicable.next_effective)
    visible = [r for r in facts.records if r.recorded_us <= known_at_us]
    change = next_change(visible, visible_dates(facts.events, known_at_us), scheme, as_of)
    return Evaluated(scheme, found[0], _earliest(change, applicable.next_effective))


@dataclass(frozen=True)
class SubjectView:
    facts: SubjectFacts
    as_of: dt.date
    known_at_us: int
    results: dict[str, Evaluated]
    under_objection: dict[str, int]  # FURNISHER/RECORD_ID → open objection id


def under_objection(connection: sa.Connection, subject_key: int) -> dict[str, int]:
    """The subject's records under an open objection: ``FURNISHER/RECORD_ID`` → objection id."""
    rows = connection.execute(
        sa.select(objections.c.id, ledger.c.furnisher, ledger.c.record_id)
        .join(ledger, ledger.c.seq == objections.c.record_seq)
        .where(objections.c.subject_id == subject_key, objections.c.outcome.is_(None))
    ).all()
    return {f"{r.furnisher}/{r.record_id}": int(r.id) for r in rows}


def standing_of(
    store: Store,
    settings: Settings,
    identifier: str,
    *,
    reader: Reader,
    scheme_id: str | None = None,
    as_of: dt.date | None = None,
    known_at_us: int | None = None,
) -> SubjectView:
    """One subject evaluated online from the ledger, with explanations, under one or every
    published scheme that applies to its kind. The read is audited (who, why, what) before the
    result is returned."""
    result = check(identifier)
    if result.kind is None:
        raise UsageError(f"{identifier!r} is not a valid identifier: {result.reason}")
    known = now_us() if known_at_us is None else known_at_us
    day = settings.today() if as_of is None else as_of
    with store.reading() as connection:
        key = subject_key(connection, identifier)
        if key is None:
            raise NotFound(f"the registry holds no records about {identifier}")
        facts = load_subject(connection, key)
        wanted = [scheme_id] if scheme_id else scheme_ids(connection, known)
        results = {}
        for sid in wanted:
            applicable = scheme_at(
                connection, sid, as_of=day, known_us=known, max_effect_days=settings.max_effect_days
            )
            if facts.kind not in applicable.scheme.subjects:
                if scheme_id:
                    raise UsageError(
                        f"scheme {sid} applies to {', '.join(applicable.scheme.subjects)}s, "
                        f"not to {facts.kind}s"
                    )
                continue
            results[sid] = evaluate_facts(
                facts, applicable, as_of=day, known_at_us=known, explain=True
            )
        marks = under_objection(connection, key)
    what = f"standing:{scheme_id or 'all'}"
    if as_of is not None or known_at_us is not None:
        what += f" as_of={day.isoformat()} known_at_us={known}"
    record_read(store, reader, key, identifier, what)
    return SubjectView(facts, day, known, results, marks)


def view_json(view: SubjectView) -> dict[str, Any]:
    """A subject's standing as JSON (the CLI's --json and the API), every point explained."""
    return {
        "subject_id": view.facts.identifier,
        "kind": view.facts.kind,
        "as_of": view.as_of.isoformat(),
        "known_at": us_to_iso(view.known_at_us),
        "under_objection": view.under_objection,
        "standings": {
            sid: {
                "version": ev.scheme.version,
                "holds_until": ev.holds_until.isoformat() if ev.holds_until else None,
                "standing": json.loads(ev.standing.to_json()) if ev.standing else None,
            }
            for sid, ev in view.results.items()
        },
    }


# -- current standings -------------------------------------------------------------------------


def _current_rows(
    connection: sa.Connection, settings: Settings, keys: list[int], today: dt.date, known: int
) -> tuple[list[tuple[Any, ...]], dict[str, Applicable]]:
    """The current-standing rows of these subjects under every published scheme."""
    applicable = {
        sid: scheme_at(
            connection, sid, as_of=today, known_us=known, max_effect_days=settings.max_effect_days
        )
        for sid in scheme_ids(connection, known)
    }
    rows = []
    for key in keys:
        facts = load_subject(connection, key)
        for sid, app in applicable.items():
            result = evaluate_facts(facts, app, as_of=today, known_at_us=known)
            if result.standing is None:
                continue
            s = result.standing
            rows.append(
                (
                    sid,
                    key,
                    app.scheme.version,
                    today,
                    known,
                    s.score,
                    s.grade,
                    ids_json(s.lists),
                    ids_json(s.measures),
                    result.holds_until,
                )
            )
    return rows, applicable


def update_current(
    store: Store, settings: Settings, keys: Iterable[int], *, batch_ids: Iterable[int] = ()
) -> int:
    """Re-evaluate these subjects online under every published scheme and store the results
    as their current standings; mark the batches that caused it as done. Returns how many
    standings were written."""
    keys = sorted(set(keys))
    today, known = settings.today(), now_us()
    written = 0
    with store.writing() as connection:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows, applicable = _current_rows(connection, settings, chunk, today, known)
            before: dict[str, dict[int, tuple[list[str], str | None]]] = {}
            for old in connection.execute(
                sa.select(
                    standings.c.scheme_id,
                    standings.c.subject_id,
                    standings.c.lists,
                    standings.c.grade,
                ).where(standings.c.subject_id.in_(chunk))
            ):
                before.setdefault(old.scheme_id, {})[int(old.subject_id)] = (
                    json.loads(old.lists),
                    old.grade,
                )
            after: dict[str, dict[int, tuple[list[str], str | None]]] = {}
            for row in rows:
                after.setdefault(row[0], {})[int(row[1])] = (json.loads(row[7]), row[6])
            connection.execute(standings.delete().where(standings.c.subject_id.in_(chunk)))
            store.bulk_insert(connection, standings, STANDING_COLUMNS, rows)
            for sid, app in applicable.items():
                told = notice_changes(app.scheme, today, before.get(sid, {}), after.get(sid, {}))
                insert_notices(store, connection, told)
            written += len(rows)
        ids = list(batch_ids)
        if ids:
            connection.execute(
                batches.update().where(batches.c.id.in_(ids)).values(standings_done=True)
            )
    return written


def current_standing(
    store: Store, settings: Settings, key: int, scheme_id: str
) -> dict[str, Any] | None:
    """The subject's current standing under a scheme, re-evaluated first when its
    ``holds_until`` day has come (so a check never sees a stale listing)."""
    today = settings.today()
    with store.reading() as connection:
        row = connection.execute(
            sa.select(standings).where(
                standings.c.scheme_id == scheme_id, standings.c.subject_id == key
            )
        ).first()
    if (
        row is not None
        and row.as_of <= today
        and (row.holds_until is None or today < row.holds_until)
    ):
        return dict(row._mapping)
    update_current(store, settings, [key])
    with store.reading() as connection:
        row = connection.execute(
            sa.select(standings).where(
                standings.c.scheme_id == scheme_id, standings.c.subject_id == key
            )
        ).first()
    return None if row is None else dict(row._mapping)


# -- everyone: the batch engine over a snapshot ------------------------------------------------


@dataclass
class BatchResult:
    scheme: Scheme
    as_of: dt.date
    known_at_us: int
    snapshot_id: int | None
    subjects: int
    records: int
    events: int
    grades: dict[str, int]
    list_sizes: dict[str, int]
    measure_sizes: dict[str, int]
    current: bool
    timings: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: float = 0.0


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


SNAPSHOT_QUERIES = {
    "records": (
        "SELECT seq, subject_id, code, occurred_on, amount, recorded_us FROM ledger "
        "WHERE entry = 'record' AND recorded_us <= {k}",
        (pa.int64(), pa.int64(), pa.string(), pa.date32(), pa.string(), pa.int64()),
    ),
    "events": (
        "SELECT record_seq, event, event_date, recorded_us FROM ledger "
        "WHERE entry = 'event' AND recorded_us <= {k}",
        (pa.int64(), pa.string(), pa.date32(), pa.int64()),
    ),
    "subjects": (
        "SELECT id, identifier, kind, first_recorded_us FROM subjects",
        (pa.int64(), pa.string(), pa.string(), pa.int64()),
    ),
}


def ledger_snapshot(store: Store, known_at_us: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(records, events, subjects) visible at K, as Arrow tables, from one consistent read."""
    k = int(known_at_us)
    records, events, people = read_arrow(
        store, [(query.format(k=k), types) for query, types in SNAPSHOT_QUERIES.values()]
    )
    return records, events, people


def read_arrow(store: Store, queries: list[tuple[str, tuple[pa.DataType, ...]]]) -> list[pa.Table]:
    """Run queries in one consistent read and return their results as Arrow tables of the
    given column types.

    PostgreSQL is read through ADBC (libpq's binary COPY). SQLite is read through the same
    sqlite3 library the store uses: a second SQLite library in one process (ADBC bundles its
    own) would break SQLite's POSIX file locks."""
    if store.dialect == "postgresql":
        connection = store.adbc_connect()
        try:
            cursor = connection.cursor()
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            tables = []
            for query, _ in queries:
                cursor.execute(query)
                tables.append(cursor.fetch_arrow_table())
            cursor.execute("COMMIT")
            cursor.close()
        finally:
            connection.close()
        return [_typed(t, types) for t, (_, types) in zip(tables, queries, strict=True)]
    with store.reading() as sa_connection:
        raw: Any = sa_connection.connection.driver_connection
        cursor = raw.cursor()
        tables = []
        for query, types in queries:
            cursor.execute(query)
            names = [d[0] for d in cursor.description]
            batches_: list[pa.RecordBatch] = []
            while rows := cursor.fetchmany(250_000):
                columns = list(zip(*rows, strict=True))
                batches_.append(
                    pa.record_batch(
                        # SQLite holds dates as ISO text: Arrow parses them, vectorised.
                        [
                            pa.array(c, pa.string()).cast(t)
                            if pa.types.is_date(t)
                            else pa.array(c, t)
                            for c, t in zip(columns, types, strict=True)
                        ],
                        names=names,
                    )
                )
            schema = pa.schema(list(zip(names, types, strict=True)))
            tables.append(pa.Table.from_batches(batches_, schema=schema))
        cursor.close()
    return tables


def _typed(table: pa.Table, types: tuple[pa.DataType, ...]) -> pa.Table:
    """The snapshot's column types whatever the driver returned (e.g. int32 for a count)."""
    schema = pa.schema(
        [pa.field(name, kind) for name, kind in zip(table.column_names, types, strict=True)]
    )
    return table if table.schema.equals(schema) else table.cast(schema)


def batch_statements(
    d: Dialect, scheme: Scheme, as_of: dt.date, known_at_us: int
) -> list[Statement]:
    """The evaluation over ``snap_records``, ``snap_events``, ``snap_subjects`` (as
    ledger_snapshot makes them), ending in table ``standings`` (with ``holds_until``). The
    ledger is validated already, so the inputs are the accepted records and events as they
    are, grouped by the store's integer subject keys."""
    # A subject's first record was recorded when the subject was registered (same batch).
    kinds = ", ".join(f"'{k}'" for k in scheme.subjects)
    population = (
        f"SELECT CAST(id AS BIGINT) AS sid FROM snap_subjects "
        f"WHERE first_recorded_us <= {int(known_at_us)} AND kind IN ({kinds})"
    )
    inputs = [
        Statement(
            "rec_ids",
            "SELECT CAST(id AS BIGINT) AS sid, identifier AS subject_id, kind FROM snap_subjects",
            view=True,
        ),
        Statement(
            "rec",
            f"""
            SELECT seq AS _row, CAST(NULL AS {d.text}) AS furnisher,
                   CAST(NULL AS {d.text}) AS record_id, subject_id AS sid,
                   CAST(NULL AS {d.text}) AS kind, code, occurred_on AS occ,
                   CAST(coalesce(amount, '0') AS DECIMAL(38,18)) AS amt, recorded_us AS rec_us
            FROM snap_records
            """,
            view=True,
        ),
        Statement(
            "ev",
            "SELECT record_seq AS rec_row, event, event_date AS ev_date, recorded_us AS ev_us "
            "FROM snap_events",
            view=True,
        ),
    ]
    return inputs + evaluation_statements(
        d,
        scheme,
        as_of=as_of,
        known_at_us=known_at_us,
        next_change=True,
        population=population,
    )


def _duckdb_standings(
    con: duckdb.DuckDBPyConnection,
    snapshot: tuple[pa.Table, pa.Table, pa.Table],
    scheme: Scheme,
    as_of: dt.date,
    known_at_us: int,
) -> None:
    for name, table in zip(SNAPSHOT_QUERIES, snapshot, strict=True):
        con.register(f"snap_{name}", table)
    for step in batch_statements(Dialect("duckdb"), scheme, as_of, known_at_us):
        kind_ = "VIEW" if step.view else "TABLE"
        con.execute(f"CREATE TEMP {kind_} {step.name} AS {step.query}")


def _spark_standings(
    snapshot: tuple[pa.Table, pa.Table, pa.Table],
    scheme: Scheme,
    as_of: dt.date,
    known_at_us: int,
    master: str | None,
) -> pa.Table:
    """The same statements on Spark, over the snapshot handed over as Parquet files."""
    from socialcredit.engines.spark_engine import drop, run_statements, spark_session

    spark = spark_session(master)
    names: list[str] = []
    # On a cluster the executors read the snapshot: $SOCIALCREDIT_SPARK_SCRATCH names a folder
    # every node sees (default: the system's temporary folder, enough in local mode).
    scratch = os.environ.get("SOCIALCREDIT_SPARK_SCRATCH") or None
    with tempfile.TemporaryDirectory(prefix="socialcredit-snapshot-", dir=scratch) as folder:
        try:
            for name, table in zip(SNAPSHOT_QUERIES, snapshot, strict=True):
                path = Path(folder) / f"{name}.parquet"
                pq.write_table(table, path)
                spark.read.parquet(str(path)).createOrReplaceTempView(f"snap_{name}")
                names.append(f"snap_{name}")
            run_statements(
                spark, batch_statements(Dialect("spark"), scheme, as_of, known_at_us), names
            )
            return spark.sql(
                "SELECT sid, subject_id, score, grade, lists, measures, holds_until FROM standings"
            ).toArrow()
        finally:
            drop(spark, names)


def evaluate_registry(
    store: Store,
    settings: Settings,
    scheme_id: str,
    *,
    as_of: dt.date | None = None,
    known_at_us: int | None = None,
    progress: Callable[[str], None] | None = None,
    keep_snapshot: bool = True,
    snapshot: tuple[pa.Table, pa.Table, pa.Table] | None = None,
    make_current: bool | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> BatchResult:
    """Evaluate everyone under a scheme over a snapshot of the ledger, with the DuckDB engine
    (or ``engine="spark"``: the same statements on Spark, the snapshot handed over as Parquet);
    store the snapshot of standings and, when it is today's as currently known, make it the
    current standings of that scheme."""
    if engine not in ("duckdb", "spark"):
        raise UsageError(f"the registry evaluates with --engine duckdb or spark, not {engine!r}")
    step = progress or (lambda _message: None)
    current = (as_of is None and known_at_us is None) if make_current is None else make_current
    known = now_us() if known_at_us is None else known_at_us
    day = settings.today() if as_of is None else as_of
    timings: dict[str, float] = {}
    with store.reading() as connection:
        applicable = scheme_at(
            connection,
            scheme_id,
            as_of=day,
            known_us=known,
            max_effect_days=settings.max_effect_days,
        )
    scheme = applicable.scheme

    step("snapshot")
    started = time.perf_counter()
    records, events, people = snapshot or ledger_snapshot(store, known)
    timings["snapshot"] = time.perf_counter() - started

    step("evaluate")
    started = time.perf_counter()
    con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
    try:
        if engine == "spark":
            con.register(
                "standings",
                _spark_standings((records, events, people), scheme, day, known, spark_master),
            )
        else:
            _duckdb_standings(con, (records, events, people), scheme, day, known)
        con.execute(
            """
            CREATE TEMP TABLE result AS
            SELECT sid, subject_id, score, grade, to_json(lists) AS lists,
                   to_json(measures) AS measures, holds_until
            FROM standings
            """
        )
        result = con.sql(
            "SELECT sid, score, grade, lists, measures, holds_until FROM result ORDER BY sid"
        ).to_arrow_table()
        grades = dict(con.execute("SELECT grade, count(*) FROM result GROUP BY grade").fetchall())
        list_sizes = dict(
            con.execute(
                "SELECT l, count(*) FROM (SELECT unnest(lists) AS l FROM standings) GROUP BY l"
            ).fetchall()
        )
        measure_sizes = dict(
            con.execute(
                "SELECT m, count(*) FROM (SELECT unnest(measures) AS m FROM standings) GROUP BY m"
            ).fetchall()
        )
    finally:
        con.close()
    timings["evaluate"] = time.perf_counter() - started

    step("store")
    started = time.perf_counter()
    next_effective = applicable.next_effective
    summary = {
        "grades": {g: int(n) for g, n in sorted(grades.items(), key=lambda i: str(i[0])) if g},
        "lists": {k: int(v) for k, v in sorted(list_sizes.items())},
        "measures": {k: int(v) for k, v in sorted(measure_sizes.items())},
    }
    snapshot_id = None
    with store.writing() as connection:
        if keep_snapshot:
            snapshot_id = int(
                connection.execute(
                    snapshots.insert().values(
                        scheme_id=scheme.id,
                        scheme_version=scheme.version,
                        as_of=day,
                        known_us=known,
                        created_us=now_us(),
                        subjects=result.num_rows,
                        summary=json.dumps(summary, separators=(",", ":")),
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            store.bulk_insert(
                connection,
                snapshot_standings,
                ("snapshot_id", "subject_id", "score", "grade", "lists", "measures"),
                _rows(result, lambda r: (snapshot_id, *r[:5])),
            )
        if current:
            connection.execute(
                current_builds.delete().where(current_builds.c.scheme_id == scheme.id)
            )
            connection.execute(
                current_builds.insert().values(
                    scheme_id=scheme.id, scheme_version=scheme.version, built_us=now_us()
                )
            )
            told = _batch_notices(connection, scheme, day, result)
            connection.execute(standings.delete().where(standings.c.scheme_id == scheme.id))
            insert_notices(store, connection, told)
            store.bulk_insert(
                connection,
                standings,
                STANDING_COLUMNS,
                _rows(
                    result,
                    lambda r: (
                        scheme.id,
                        r[0],
                        scheme.version,
                        day,
                        known,
                        r[1],
                        r[2],
                        r[3],
                        r[4],
                        _earliest(r[5], next_effective),
                    ),
                ),
            )
    timings["store"] = time.perf_counter() - started
    return BatchResult(
        scheme=scheme,
        as_of=day,
        known_at_us=known,
        snapshot_id=snapshot_id,
        subjects=result.num_rows,
        records=records.num_rows,
        events=events.num_rows,
        grades=summary["grades"],
        list_sizes=summary["lists"],
        measure_sizes=summary["measures"],
        current=current,
        timings=timings,
        peak_rss_mib=_peak_rss_mib(),
    )


def _batch_notices(
    connection: sa.Connection, scheme: Scheme, day: dt.date, result: pa.Table
) -> list[tuple[Any, ...]]:
    """Notices for everyone whose lists or grade under the scheme differ between the stored
    current standings and a new batch result (compared in DuckDB)."""
    old = connection.execute(
        sa.select(standings.c.subject_id, standings.c.lists, standings.c.grade).where(
            standings.c.scheme_id == scheme.id
        )
    ).all()
    con = duckdb.connect(":memory:")
    try:
        con.register(
            "old_standings",
            pa.table(
                {
                    "sid": pa.array([r[0] for r in old], pa.int64()),
                    "lists": pa.array([r[1] for r in old], pa.string()),
                    "grade": pa.array([r[2] for r in old], pa.string()),
                }
            ),
        )
        con.register("result", result.select(["sid", "lists", "grade"]))
        return con.execute(changes_sql(scheme, day)).fetchall()
    finally:
        con.close()


def _rows(
    table: pa.Table, shape: Callable[[tuple[Any, ...]], tuple[Any, ...]]
) -> Iterable[tuple[Any, ...]]:
    columns = table.column_names
    for batch in table.to_batches(max_chunksize=100_000):
        values = [batch.column(c).to_pylist() for c in columns]
        for row in zip(*values, strict=True):
            yield shape(row)


# -- refresh -------------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    due: int = 0  # subjects whose holds_until had come
    pending_batches: int = 0
    schemes_rebuilt: list[str] = field(default_factory=list)
    written: int = 0


def refresh(
    store: Store, settings: Settings, *, progress: Callable[[str], None] | None = None
) -> RefreshResult:
    """Bring every current standing up to date: schemes whose current standings are missing or
    from another version are re-evaluated in batch; subjects of batches whose update did not
    finish, and subjects whose ``holds_until`` day has come, are re-evaluated online (in batch
    when there are many)."""
    step = progress or (lambda _message: None)
    today, known = settings.today(), now_us()
    outcome = RefreshResult()
    with store.reading() as connection:
        stale = []
        for applicable in schemes_in_force(
            connection, as_of=today, known_us=known, max_effect_days=settings.max_effect_days
        ):
            sid = applicable.scheme.id
            built = connection.scalar(
                sa.select(current_builds.c.scheme_version).where(current_builds.c.scheme_id == sid)
            )
            if built != applicable.scheme.version:
                stale.append(sid)
        pending = list(
            connection.scalars(sa.select(batches.c.id).where(batches.c.standings_done.is_(False)))
        )
        keys: set[int] = set()
        if pending:
            keys.update(
                connection.scalars(
                    sa.select(ledger.c.subject_id).where(ledger.c.batch_id.in_(pending)).distinct()
                )
            )
        due = set(
            connection.scalars(
                sa.select(standings.c.subject_id).where(standings.c.holds_until <= today).distinct()
            )
        )
    outcome.pending_batches, outcome.due = len(pending), len(due)
    keys |= due
    if len(keys) > settings.online_update_limit:
        stale = scheme_ids_now(store)  # many subjects: re-evaluate everyone in batch
    if stale:
        step(f"evaluating {', '.join(stale)} in batch")
        for result in rebuild_current(store, settings, stale):
            outcome.written += result.subjects
            outcome.schemes_rebuilt.append(result.scheme.id)
    if len(keys) <= settings.online_update_limit:
        step(f"re-evaluating {len(keys)} subjects")
        outcome.written += update_current(store, settings, keys, batch_ids=pending)
    return outcome


def rebuild_current(
    store: Store,
    settings: Settings,
    schemes: Iterable[str] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[BatchResult]:
    """Rebuild the current standings of these schemes (default: all) in batch from one
    snapshot of the ledger; when all are rebuilt, every batch committed before the snapshot
    needs no further update."""
    step = progress or (lambda _message: None)
    known = now_us()
    everything = scheme_ids_now(store)
    wanted = everything if schemes is None else sorted(set(schemes))
    step("snapshot")
    snapshot = ledger_snapshot(store, known)
    results = []
    for scheme_id in wanted:
        step(f"evaluating {scheme_id}")
        results.append(
            evaluate_registry(
                store,
                settings,
                scheme_id,
                known_at_us=known,
                keep_snapshot=False,
                snapshot=snapshot,
                make_current=True,
            )
        )
    if set(wanted) >= set(everything):
        with store.writing() as connection:
            connection.execute(
                batches.update()
                .where(batches.c.received_us <= known, batches.c.standings_done.is_(False))
                .values(standings_done=True)
            )
    return results


def scheme_ids_now(store: Store) -> list[str]:
    with store.reading() as connection:
        return scheme_ids(connection)


def after_ingest(store: Store, settings: Settings, keys: list[int], batch_id: int | None) -> str:
    """Keep current standings current after an ingest committed: online for a few subjects,
    the batch engine for many. Returns how it was done, for the summary."""
    if batch_id is None or not keys:
        return "no standings changed"
    if len(keys) <= settings.online_update_limit:
        written = update_current(store, settings, keys, batch_ids=[batch_id])
        return f"{written} current standings of {len(keys)} subjects updated online"
    total = sum(result.subjects for result in rebuild_current(store, settings))
    return f"{len(keys)} subjects affected: every scheme re-evaluated in batch ({total} standings)"
