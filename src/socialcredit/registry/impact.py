"""What a scheme version would change across the registry, before it is published.

``policy publish FILE --dry-run`` and ``POST /v1/policies?dry_run=true``: the version is
validated and compared with the one before (:mod:`socialcredit.policy.changes`), and everyone
the registry holds is evaluated in batch at the version's effective day (today, for a version
already in effect), once under the version it would replace and once under the new one, over
one snapshot of the ledger, with the schemes in force beside it (rule 14). The impact counts,
per list, the subjects listed and delisted; the grade transitions; and, per agency, the
subjects who would gain or lose a measure. Nothing is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from socialcredit.errors import NotFound
from socialcredit.policy.changes import Change, compare, refusals
from socialcredit.policy.loader import parse_scheme
from socialcredit.policy.model import Scheme
from socialcredit.registry.policies import (
    Applicable,
    NotInForce,
    catalogue_at,
    companions,
    latest_scheme,
    scheme_at,
    schemes_in_force,
)
from socialcredit.registry.standings.batch import duckdb_standings
from socialcredit.registry.standings.snapshot import ledger_snapshot
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us


@dataclass
class Impact:
    scheme_id: str
    version: int
    replaces: int | None  # the version it is compared with (None: the scheme's first)
    on: dt.date  # the day it is evaluated at: its effective day, or today
    changes: list[Change] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    subjects: int = 0
    listed: dict[str, int] = field(default_factory=dict)
    delisted: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)  # "B → C": subjects
    measures_gained: dict[str, dict[str, int]] = field(default_factory=dict)  # agency → measure
    measures_lost: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme_id,
            "version": self.version,
            "replaces": self.replaces,
            "on": self.on.isoformat(),
            "changes": [
                {"item": c.item, "what": c.what, "harsher": c.harsher} for c in self.changes
            ],
            "refused": self.refused,
            "subjects": self.subjects,
            "listed": self.listed,
            "delisted": self.delisted,
            "grades": self.grades,
            "measures_gained": self.measures_gained,
            "measures_lost": self.measures_lost,
        }


def _standings(
    snapshot: Any, scheme: Scheme, on: dt.date, known: int, beside: list[Applicable]
) -> pa.Table:
    con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
    try:
        barring = companions(Applicable(scheme, None), beside)
        duckdb_standings(con, snapshot, scheme, on, known, [a.scheme for a in barring])
        return con.sql("SELECT sid, grade, lists, measures FROM standings").to_arrow_table()
    finally:
        con.close()


def _empty() -> pa.Table:
    return pa.table(
        {
            "sid": pa.array([], pa.int64()),
            "grade": pa.array([], pa.string()),
            "lists": pa.array([], pa.list_(pa.string())),
            "measures": pa.array([], pa.list_(pa.string())),
        }
    )


def impact_of(store: Store, settings: Settings, text: str, *, source: str) -> Impact:
    """The impact of publishing this scheme text now (read-only)."""
    today, known = settings.today(), now_us()
    with store.reading() as connection:
        new = parse_scheme(text, catalogue=catalogue_at(connection), source=source)
        on = max(new.effective_from or today, today)
        beside = [
            a
            for a in schemes_in_force(connection, as_of=on, known_us=known)
            if a.scheme.id != new.id
        ]
        latest = latest_scheme(connection, new.id)
        try:
            old: Scheme | None = scheme_at(connection, new.id, as_of=on, known_us=known).scheme
        except (NotInForce, NotFound):  # not in force by then, or a first version
            old = None
    found = Impact(new.id, new.version, latest.version if latest else None, on)
    if latest is not None:
        found.changes = compare(latest, new)
        found.refused = refusals(
            found.changes, new, published_on=today, notice_days=settings.policy_notice_days
        )
    snapshot = ledger_snapshot(store, known)
    before = _standings(snapshot, old, on, known, beside) if old else _empty()
    after = _standings(snapshot, new, on, known, beside)
    agencies = {m.id: m.agency for m in (*(old.measures if old else ()), *new.measures)}
    con = duckdb.connect(":memory:")
    try:
        con.register("a", before)
        con.register("b", after)
        con.execute(
            """
            CREATE TABLE moved AS
            SELECT coalesce(b.sid, a.sid) AS sid, a.grade AS old_grade, b.grade AS new_grade,
                   coalesce(a.lists, []) AS old_lists, coalesce(b.lists, []) AS new_lists,
                   coalesce(a.measures, []) AS old_measures,
                   coalesce(b.measures, []) AS new_measures
            FROM b FULL OUTER JOIN a ON a.sid = b.sid
            """
        )
        found.subjects = int(con.execute("SELECT count(*) FROM b").fetchone()[0])  # type: ignore[index]

        def counted(query: str) -> dict[str, int]:
            return {str(k): int(n) for k, n in con.execute(query).fetchall()}

        found.listed = counted(
            "SELECT l, count(*) FROM (SELECT unnest(list_filter(new_lists, "
            "lambda x: NOT list_contains(old_lists, x))) AS l FROM moved) GROUP BY l ORDER BY l"
        )
        found.delisted = counted(
            "SELECT l, count(*) FROM (SELECT unnest(list_filter(old_lists, "
            "lambda x: NOT list_contains(new_lists, x))) AS l FROM moved) GROUP BY l ORDER BY l"
        )
        found.grades = counted(
            "SELECT coalesce(old_grade, '-') || ' → ' || coalesce(new_grade, '-'), count(*) "
            "FROM moved WHERE old_grade IS DISTINCT FROM new_grade GROUP BY 1 ORDER BY 1"
        )
        for name, ours, theirs in (
            ("measures_gained", "new_measures", "old_measures"),
            ("measures_lost", "old_measures", "new_measures"),
        ):
            per: dict[str, dict[str, int]] = {}
            for measure, n in con.execute(
                f"SELECT m, count(*) FROM (SELECT unnest(list_filter({ours}, "
                f"lambda x: NOT list_contains({theirs}, x))) AS m FROM moved) GROUP BY m ORDER BY m"
            ).fetchall():
                per.setdefault(agencies.get(str(measure), "?"), {})[str(measure)] = int(n)
            setattr(found, name, per)
    finally:
        con.close()
    return found
