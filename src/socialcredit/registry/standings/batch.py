"""Everyone at once: a scheme evaluated in batch over a snapshot of the ledger (DuckDB, or the
same statements on Spark), stored as a snapshot of standings and, for today as now known, as
the scheme's current standings.

Storing current standings from a snapshot is guarded, under the derived state's lock: a build
from an older snapshot never replaces a newer one, and the subjects that batches committed
after the snapshot have already brought up to date online are evaluated online again once the
snapshot's rows are in (else the older snapshot would undo them).
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from socialcredit.engines.backend import SqlBackend
from socialcredit.engines.duckdb_engine import DuckDBBackend
from socialcredit.engines.sql import (
    Dialect,
    Statement,
    black_statement,
    evaluation_statements,
    quote,
)
from socialcredit.errors import UsageError
from socialcredit.policy.model import Scheme
from socialcredit.registry.notices import changes_sql
from socialcredit.registry.notices import insert_rows as insert_notices
from socialcredit.registry.policies import companions, scheme_at, schemes_in_force
from socialcredit.registry.standings.current import (
    LIST_COLUMNS,
    STANDING_COLUMNS,
    later_subjects,
    write_current,
)
from socialcredit.registry.standings.online import earliest
from socialcredit.registry.standings.snapshot import SNAPSHOT_QUERIES, Snapshot, ledger_snapshot
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import (
    STANDINGS_GENERATION,
    current_builds,
    snapshot_standings,
    snapshots,
    standing_lists,
    standings,
)


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
    stored: bool = True  # False: a build from a newer snapshot was there already


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batch_statements(
    d: Dialect,
    scheme: Scheme,
    as_of: dt.date,
    known_at_us: int,
    companions: Sequence[Scheme] = (),
) -> list[Statement]:
    """The evaluation over ``snap_records``, ``snap_events``, ``snap_subjects`` (as
    ledger_snapshot makes them), ending in table ``standings`` (with ``holds_until``). The
    ledger is validated already, so the inputs are the accepted records and events as they
    are, grouped by the store's integer subject keys.

    ``companions`` (rule 14: :func:`socialcredit.registry.policies.companions`): the schemes
    whose black lists bar a subject from this scheme's red lists and incentives, each
    evaluated up to its black lists (relations ``c0_``, ``c1_``…); ``holds_until`` is the
    first change under any of them too, as
    :func:`socialcredit.registry.standings.online.evaluate_facts` computes it."""
    named = [(scheme, ""), *((other, f"c{i}_") for i, other in enumerate(companions))]
    return set_statements(d, named, as_of, known_at_us, wanted={scheme.id})


def set_statements(
    d: Dialect,
    named: Sequence[tuple[Scheme, str]],
    as_of: dt.date,
    known_at_us: int,
    wanted: set[str] | None = None,
) -> list[Statement]:
    """Several schemes evaluated together over the snapshot, each under its prefix: every
    scheme up to its black lists, then ``black_sids`` (on a black list of any of them) and
    ``companion_changes`` (their next changes), then the standings (``{prefix}standings``) of
    the ``wanted`` ones (default: all). A scheme that rewards (a red list, an incentive) is
    barred by ``black_sids`` and holds only until ``companion_changes``; that the set holds
    its own black lists too changes nothing (its own black lists bar it anyway, and its own
    next change is in its ``holds_until``). The same result per scheme as
    :func:`batch_statements` with its companions, computed once for the set (``verify``)."""

    def population(of: Scheme) -> str:
        # A subject's first record was recorded when the subject was registered (same batch);
        # a subject whose records were all erased (registry.retention) has none left.
        kinds = ", ".join(f"'{k}'" for k in of.subjects)
        return (
            f"SELECT CAST(id AS BIGINT) AS sid FROM snap_subjects "
            f"WHERE first_recorded_us <= {int(known_at_us)} AND kind IN ({kinds}) "
            "AND id IN (SELECT subject_id FROM snap_records)"
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
    barring = [prefix for scheme, prefix in named if scheme.bars]
    rewarding = {scheme.id for scheme, _ in named if scheme.rewards}
    # Without another barring scheme in the set, a rewarding one is barred by its own only.
    coherent = {
        scheme.id
        for scheme, prefix in named
        if scheme.id in rewarding and any(p != prefix for p in barring)
    }
    per_scheme = [
        evaluation_statements(
            d,
            scheme,
            as_of=as_of,
            known_at_us=known_at_us,
            next_change=True,
            population=population(scheme),
            prefix=prefix,
            barred="black_sids" if scheme.id in coherent else None,
            changes="companion_changes" if scheme.id in coherent else None,
        )
        for scheme, prefix in named
    ]
    statements = list(inputs)
    for (scheme, _), each in zip(named, per_scheme, strict=True):
        if wanted is None or scheme.id in wanted or scheme.bars:
            statements += each[:-2]
    if coherent:
        changes = " UNION ALL ".join(f"SELECT sid, holds_until FROM {p}graded" for p in barring)
        statements += [
            black_statement("black_sids", barring),
            Statement(
                "companion_changes",
                f"SELECT sid, min(holds_until) AS nc FROM ({changes}) x GROUP BY sid",
            ),
        ]
    for (scheme, _), each in zip(named, per_scheme, strict=True):
        if wanted is None or scheme.id in wanted:
            statements += each[-2:]
    return statements


def result_columns(scheme: Scheme) -> list[str]:
    """The columns of the engines' ``standings`` table the registry keeps."""
    dates = [f"since{i}, until{i}" for i in range(len(scheme.code_lists))]
    return ["sid", "subject_id", "score", "grade", "lists", "measures", "holds_until", *dates]


def list_rows_sql(scheme: Scheme, table: str) -> str:
    """DuckDB SQL for the ``standing_lists`` rows of a batch result: each held list of each
    subject, with its dates (code lists) or none (grade lists)."""
    parts = []
    for index, lst in enumerate(scheme.code_lists):
        parts.append(
            f"SELECT {quote(lst.id)} AS list_id, subject_id AS identifier, sid, "
            f"since{index} AS since, until{index} AS until FROM {table} "
            f"WHERE since{index} IS NOT NULL"
        )
    for glist in scheme.grade_lists:
        parts.append(
            f"SELECT {quote(glist.id)} AS list_id, subject_id AS identifier, sid, "
            f"CAST(NULL AS DATE) AS since, CAST(NULL AS DATE) AS until "
            f"FROM {table} WHERE list_contains(lists, {quote(glist.id)})"
        )
    if not parts:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS list_id, CAST(NULL AS VARCHAR) AS identifier, "
            "CAST(NULL AS BIGINT) AS sid, CAST(NULL AS DATE) AS since, "
            "CAST(NULL AS DATE) AS until WHERE FALSE"
        )
    return " UNION ALL ".join(parts)


def evaluate_on(
    backend: SqlBackend,
    snapshot: Snapshot,
    scheme: Scheme,
    as_of: dt.date,
    known_at_us: int,
    companions: Sequence[Scheme] = (),
) -> None:
    """The batch statements on a backend, over the snapshot: table ``standings`` there."""
    for name, table in zip(SNAPSHOT_QUERIES, snapshot.tables(), strict=True):
        backend.register_snapshot(f"snap_{name}", table)
    backend.run(batch_statements(backend.dialect, scheme, as_of, known_at_us, companions))


def duckdb_standings(
    con: duckdb.DuckDBPyConnection,
    snapshot: Snapshot,
    scheme: Scheme,
    as_of: dt.date,
    known_at_us: int,
    companions: Sequence[Scheme] = (),
) -> None:
    """:func:`evaluate_on` in ``con`` itself: ``standings`` is a table of that connection."""
    evaluate_on(DuckDBBackend(con), snapshot, scheme, as_of, known_at_us, companions)


def _spark_standings(
    snapshot: Snapshot,
    scheme: Scheme,
    as_of: dt.date,
    known_at_us: int,
    master: str | None,
    companions: Sequence[Scheme] = (),
) -> pa.Table:
    """The same statements on Spark, over the snapshot handed over as Parquet files."""
    from socialcredit.engines.spark_engine import SparkEngine

    backend = SparkEngine(master=master).backend()
    try:
        evaluate_on(backend, snapshot, scheme, as_of, known_at_us, companions)
        return backend.arrow(f"SELECT {', '.join(result_columns(scheme))} FROM standings")
    finally:
        backend.close()


_EMPTY_RESULT = pa.table(
    {
        "sid": pa.array([], pa.int64()),
        "score": pa.array([], pa.int64()),
        "grade": pa.array([], pa.string()),
        "lists": pa.array([], pa.string()),
        "measures": pa.array([], pa.string()),
        "holds_until": pa.array([], pa.date32()),
    }
)
_EMPTY_HELD = pa.table(
    {name: pa.array([], pa.string()) for name in ("list_id", "identifier", "sid", "since", "until")}
)


def _evaluate(
    taken: Snapshot,
    scheme: Scheme,
    day: dt.date,
    known: int,
    others: list[Scheme],
    engine: str,
    spark_master: str | None,
    current: bool,
) -> tuple[pa.Table, pa.Table | None, dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
    """The engine's run over a snapshot: (result, list rows, grade, list and measure sizes)."""
    con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
    try:
        if engine == "spark":
            con.register(
                "standings", _spark_standings(taken, scheme, day, known, spark_master, others)
            )
        else:
            duckdb_standings(con, taken, scheme, day, known, others)
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
        held = con.sql(list_rows_sql(scheme, "standings")).to_arrow_table() if current else None
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
    return result, held, grades, list_sizes, measure_sizes


def evaluate_registry(
    store: Store,
    settings: Settings,
    scheme_id: str,
    *,
    as_of: dt.date | None = None,
    known_at_us: int | None = None,
    progress: Callable[[str], None] | None = None,
    keep_snapshot: bool = True,
    snapshot: Snapshot | None = None,
    make_current: bool | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    after_store: Callable[[sa.Connection], None] | None = None,
) -> BatchResult:
    """Evaluate everyone under a scheme over a snapshot of the ledger, with the DuckDB engine
    (or ``engine="spark"``: the same statements on Spark, the snapshot handed over as Parquet);
    store the snapshot of standings and, when it is today's as currently known, make it the
    current standings of that scheme (guarded: see the module's text). ``after_store`` runs
    in the storing transaction (the rebuild marks its batches done there)."""
    if engine not in ("duckdb", "spark"):
        raise UsageError(f"the registry evaluates with --engine duckdb or spark, not {engine!r}")
    step = progress or (lambda _message: None)
    current = (as_of is None and known_at_us is None) if make_current is None else make_current
    known = now_us() if known_at_us is None else known_at_us
    day = settings.today() if as_of is None else as_of
    timings: dict[str, float] = {}
    with store.reading() as connection:
        applicable = scheme_at(connection, scheme_id, as_of=day, known_us=known)
        barring = companions(applicable, schemes_in_force(connection, as_of=day, known_us=known))
    scheme = applicable.scheme
    others = [a.scheme for a in barring]

    step("snapshot")
    started = time.perf_counter()
    taken = snapshot or ledger_snapshot(store, known)
    timings["snapshot"] = time.perf_counter() - started

    step("evaluate")
    started = time.perf_counter()
    if engine == "duckdb" and taken.head_seq == 0:
        # An empty ledger: the batch population (the subjects with a record) is empty, so the
        # result is known without the engine's fixed cost (two dozen statements per scheme);
        # what is stored is what evaluating no one stores (tests/registry/test_standings.py).
        result, held = _EMPTY_RESULT, _EMPTY_HELD if current else None
        grades: dict[Any, Any] = {}
        list_sizes: dict[Any, Any] = {}
        measure_sizes: dict[Any, Any] = {}
    else:
        result, held, grades, list_sizes, measure_sizes = _evaluate(
            taken, scheme, day, known, others, engine, spark_master, current
        )
    timings["evaluate"] = time.perf_counter() - started

    step("store")
    started = time.perf_counter()
    next_effective = earliest(applicable.next_effective, *(a.next_effective for a in barring))
    summary = {
        "grades": {g: int(n) for g, n in sorted(grades.items(), key=lambda i: str(i[0])) if g},
        "lists": {k: int(v) for k, v in sorted(list_sizes.items())},
        "measures": {k: int(v) for k, v in sorted(measure_sizes.items())},
    }
    snapshot_id = None
    stored = True
    with store.writing(*(["standings"] if current else [])) as connection:
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
            assert held is not None
            stored = _store_current(
                store,
                connection,
                settings,
                scheme,
                day,
                known,
                taken.head_seq,
                result,
                held,
                next_effective,
            )
            if after_store is not None:
                after_store(connection)
    timings["store"] = time.perf_counter() - started
    return BatchResult(
        scheme=scheme,
        as_of=day,
        known_at_us=known,
        snapshot_id=snapshot_id,
        subjects=result.num_rows,
        records=taken.records.num_rows,
        events=taken.events.num_rows,
        grades=summary["grades"],
        list_sizes=summary["lists"],
        measure_sizes=summary["measures"],
        current=current,
        timings=timings,
        peak_rss_mib=_peak_rss_mib(),
        stored=stored,
    )


def _store_current(
    store: Store,
    connection: sa.Connection,
    settings: Settings,
    scheme: Scheme,
    day: dt.date,
    known: int,
    head_seq: int,
    result: pa.Table,
    held: pa.Table,
    next_effective: dt.date | None,
) -> bool:
    """Make a batch result the scheme's current standings, under the derived state's lock;
    False when a build from a newer snapshot is there already."""
    store.lock(connection, "standings")
    built = connection.execute(
        sa.select(current_builds).where(current_builds.c.scheme_id == scheme.id)
    ).first()
    if (
        built is not None
        and built.ledger_seq is not None
        and int(built.ledger_seq) > head_seq
        and built.scheme_version == scheme.version
    ):
        return False
    connection.execute(current_builds.delete().where(current_builds.c.scheme_id == scheme.id))
    connection.execute(
        current_builds.insert().values(
            scheme_id=scheme.id,
            scheme_version=scheme.version,
            built_us=now_us(),
            ledger_seq=head_seq,
        )
    )
    told = _batch_notices(connection, scheme, day, result)
    connection.execute(standings.delete().where(standings.c.scheme_id == scheme.id))
    connection.execute(standing_lists.delete().where(standing_lists.c.scheme_id == scheme.id))
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
                earliest(r[5], next_effective),
            ),
        ),
    )
    store.bulk_insert(
        connection, standing_lists, LIST_COLUMNS, _rows(held, lambda r: (scheme.id, *r))
    )
    # Batches committed after the snapshot whose standings were written online: their subjects
    # were just given the snapshot's older view; evaluate them online again, now.
    later = later_subjects(connection, head_seq)
    if later:
        write_current(store, connection, settings, later, known=max(known, now_us()))
    store.raise_generation(connection, STANDINGS_GENERATION)
    return True


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
    if not old and result.num_rows == 0:
        return []  # nothing was, nothing is: nothing changed
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
