"""`socialcredit verify`: everything agencies and subjects are shown, checked against its source.

1. The three hash chains — ledger, audit log, admin log — recomputed from genesis, each against
   its anchored head (a cut-off tail is named, with the last good entry); the ledger's batches
   against the last hash each recorded.
2. The admin log folded into the state it says the credentials, sessions, furnishers and policy
   versions have, against the tables (an un-revoked key, a forged session, a widened
   authorisation, an edited policy text are named).
3. The case tables against the ledger: every decided objection and granted repair has its
   event, every open objection its ``objected`` event and no decision.
4. The stored current standings against a fresh batch evaluation of the ledger (every scheme in
   force, today, as now known): every subject whose stored standing, list dates included,
   differs is named. Subjects that freshness would not serve from the store (stale or pending)
   are answered online and skipped here.
5. With a checkpoint (``--against FILE``, written earlier by ``--checkpoint FILE``): each
   chain's entry at the checkpoint's head still carries the checkpoint's hash — a history
   rewritten after the checkpoint fails even when it is internally consistent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from socialcredit.engines.duckdb_engine import DuckDBBackend
from socialcredit.errors import UsageError
from socialcredit.registry import adminlog
from socialcredit.registry.audit import verify_audit
from socialcredit.registry.chain import CHAINS, NAMES, Verification, anchored_head
from socialcredit.registry.ledger import verify as verify_ledger
from socialcredit.registry.policies import Applicable, companions, schemes_in_force
from socialcredit.registry.standings.batch import list_rows_sql, set_statements
from socialcredit.registry.standings.freshness import pending_subjects, stale_rows
from socialcredit.registry.standings.online import earliest
from socialcredit.registry.standings.snapshot import SNAPSHOT_QUERIES, ledger_snapshot, read_arrow
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us, us_to_iso
from socialcredit.store.schema import ledger, objections, repairs, reviews, standings

FORMAT = "socialcredit-checkpoint/1"
LIMIT = 20  # differences named per check; the rest are counted
Progress = Callable[[str], None]


@dataclass
class Outcome:
    chains: list[Verification] = field(default_factory=list)
    admin: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    standings: list[str] = field(default_factory=list)
    checkpoint: list[str] = field(default_factory=list)
    standings_checked: int = 0

    @property
    def intact(self) -> bool:
        return not (
            any(c.problem for c in self.chains)
            or self.admin
            or self.cases
            or self.standings
            or self.checkpoint
        )


def verify_all(
    store: Store,
    settings: Settings,
    *,
    against: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Outcome:
    step = progress or (lambda _message: None)
    outcome = Outcome()
    step("the ledger")
    outcome.chains.append(
        verify_ledger(store, progress=lambda n: step(f"the ledger: {n:,} entries"))
    )
    step("the audit log")
    outcome.chains.append(verify_audit(store))
    with store.reading() as connection:
        step("the admin log")
        outcome.chains.append(adminlog.verify_chain(connection))
        outcome.admin = adminlog.verify_state(connection, limit=LIMIT)
        step("objections and repairs")
        outcome.cases = verify_cases(connection)
        if against is not None:
            outcome.checkpoint = compare_checkpoint(connection, against)
    step("current standings")
    outcome.standings, outcome.standings_checked = verify_standings(store, settings, step)
    return outcome


# -- checkpoints ---------------------------------------------------------------------------------


def checkpoint(store: Store, settings: Settings) -> dict[str, Any]:
    """The heads of the three chains now: a document a registry can publish."""
    with store.reading() as connection:
        heads = {chain: anchored_head(connection, chain) for chain in CHAINS}
    return {
        "format": FORMAT,
        "registry": settings.registry_name,
        "created": us_to_iso(now_us()),
        "chains": {c: {"seq": h.seq, "hash": h.hash} for c, h in heads.items()},
    }


def write_checkpoint(path: Path, document: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise UsageError(f"{path} is not a checkpoint (JSON): {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UsageError(f"{path} is not a {FORMAT} document")
    chains = document.get("chains")
    if not isinstance(chains, dict) or set(chains) != set(CHAINS):
        raise UsageError(f"{path}: 'chains' must name {', '.join(CHAINS)}")
    for chain, head in chains.items():
        if (
            not isinstance(head, dict)
            or not isinstance(head.get("seq"), int)
            or not isinstance(head.get("hash"), str)
        ):
            raise UsageError(f"{path}: chains.{chain} needs an integer seq and a hash")
    return document


def compare_checkpoint(connection: sa.Connection, document: dict[str, Any]) -> list[str]:
    """Each chain's entry at the checkpoint's head must still carry its hash."""
    tables = {"ledger": "ledger", "audit_log": "audit_log", "admin_log": "admin_log"}
    problems = []
    for chain, head in document["chains"].items():
        seq, expected = int(head["seq"]), str(head["hash"])
        if seq == 0:
            continue
        found = connection.scalar(
            sa.text(f"SELECT hash FROM {tables[chain]} WHERE seq = :seq"), {"seq": seq}
        )
        name = NAMES[chain]
        if found is None:
            problems.append(
                f"the {name} no longer has entry {seq}, the head of the checkpoint of "
                f"{document.get('created', '?')}: it was cut back"
            )
        elif found != expected:
            problems.append(
                f"the {name}'s entry {seq} no longer carries the hash of the checkpoint of "
                f"{document.get('created', '?')}: the history up to it was rewritten"
            )
    return problems


# -- cases against the ledger ------------------------------------------------------------------


def _lapses(connection: sa.Connection) -> list[str]:
    """Each open objection's deadline against the lapse the ledger holds for it (written with
    the objection, dated the day after the due date): a due date moved in the cases table — to
    keep a record counting past its deadline — is found. Objections filed before lapses were
    written (none in the ledger for the record) are not judged."""
    lapses: dict[int, set[dt.date]] = {}
    for record_seq, day in connection.execute(
        sa.select(ledger.c.record_seq, ledger.c.event_date).where(
            ledger.c.entry == "event", ledger.c.event == "objection_lapsed"
        )
    ):
        lapses.setdefault(int(record_seq), set()).add(day)
    problems = []
    for case_id, record_seq, due in connection.execute(
        sa.select(objections.c.id, objections.c.record_seq, objections.c.due).where(
            objections.c.outcome.is_(None)
        )
    ):
        held = lapses.get(int(record_seq))
        if held and due + dt.timedelta(days=1) not in held:
            shown = ", ".join(sorted(d.isoformat() for d in held))
            problems.append(
                f"objection {case_id} is due {due.isoformat()} but the ledger has it lapse on "
                f"{shown}: its deadline was changed after filing"
            )
    return problems


def verify_cases(connection: sa.Connection) -> list[str]:
    """Every objection's and repair's state against the registry's events in the ledger."""
    events: dict[int, list[tuple[int, str]]] = {}
    for seq, record_seq, event in connection.execute(
        sa.select(ledger.c.seq, ledger.c.record_seq, ledger.c.event).where(
            ledger.c.entry == "event",
            ledger.c.event.in_(("objected", "objection_rejected", "retracted", "repaired")),
        )
    ):
        events.setdefault(int(record_seq), []).append((int(seq), str(event)))
    problems = []
    open_records: set[int] = set()
    for row in connection.execute(
        sa.select(objections.c.id, objections.c.record_seq, objections.c.outcome)
    ):
        mine = sorted(events.get(int(row.record_seq), []))
        kinds = [e for _, e in mine]
        if "objected" not in kinds:
            problems.append(f"objection {row.id} has no objected event in the ledger")
        elif row.outcome == "upheld" and "retracted" not in kinds:
            problems.append(f"objection {row.id} is upheld but its record is not retracted")
        elif row.outcome == "rejected" and "objection_rejected" not in kinds:
            problems.append(f"objection {row.id} is rejected but the ledger has no rejection")
        elif row.outcome is None:
            open_records.add(int(row.record_seq))
            decided = [e for e in kinds if e in ("objected", "objection_rejected")]
            if decided[-1] != "objected":
                problems.append(f"objection {row.id} is open but the ledger has rejected it")
    problems += _lapses(connection)
    for record_seq, mine in events.items():
        kinds = [e for _, e in sorted(mine) if e != "repaired"]
        if kinds and kinds[-1] == "objected" and record_seq not in open_records:
            problems.append(
                f"record entry {record_seq} is under objection in the ledger but no objection "
                "is open for it"
            )
    for review_id, wrong_seq in connection.execute(
        sa.select(reviews.c.id, reviews.c.record_seq).where(
            reviews.c.outcome == "corrected", reviews.c.record_seq.is_not(None)
        )
    ):
        if "retracted" not in [e for _, e in events.get(int(wrong_seq), [])]:
            problems.append(
                f"review {review_id} corrected record entry {wrong_seq}, which the ledger does "
                "not retract"
            )
    for repair_id, repaired_seq in connection.execute(
        sa.select(repairs.c.id, repairs.c.record_seq).where(repairs.c.outcome == "granted")
    ):
        if "repaired" not in [e for _, e in events.get(int(repaired_seq), [])]:
            problems.append(f"repair {repair_id} is granted but its record is not repaired")
    if len(problems) > LIMIT:
        problems = [*problems[:LIMIT], f"... and {len(problems) - LIMIT} more"]
    return problems


# -- standings against a fresh evaluation ------------------------------------------------------


def verify_standings(store: Store, settings: Settings, step: Progress) -> tuple[list[str], int]:
    """Every subject whose stored current standing differs from a fresh evaluation; and how
    many stored standings were compared."""
    today, known = settings.today(), now_us()
    with store.reading() as connection:
        in_force = schemes_in_force(connection, as_of=today, known_us=known)
        pending = pending_subjects(connection)
        unsure = {
            a.scheme.id: {
                int(k)
                for k in connection.scalars(
                    sa.select(standings.c.subject_id).where(stale_rows(a, today))
                )
            }
            | pending
            for a in in_force
        }
    snapshot = ledger_snapshot(store, known)
    problems: list[str] = []
    checked = 0
    prefixes = {a.scheme.id: f"s{i}_" for i, a in enumerate(in_force)}
    con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
    try:
        # Every scheme in force evaluated once, together (rule 14 across them).
        step("evaluating every scheme in force")
        backend = DuckDBBackend(con)
        for name, table in zip(SNAPSHOT_QUERIES, snapshot.tables(), strict=True):
            backend.register_snapshot(f"snap_{name}", table)
        named = [(a.scheme, prefixes[a.scheme.id]) for a in in_force]
        backend.run(set_statements(backend.dialect, named, today, known))
        for applicable in in_force:
            step(f"current standings: {applicable.scheme.id}")
            found, count = _compare_scheme(
                store,
                con,
                f"{prefixes[applicable.scheme.id]}standings",
                applicable,
                companions(applicable, in_force),
                unsure,
            )
            problems.extend(found)
            checked += count
    finally:
        con.close()
    if len(problems) > LIMIT:
        problems = [*problems[:LIMIT], f"... and {len(problems) - LIMIT} more"]
    return problems, checked


_STORED = (
    "SELECT subject_id, scheme_version, score, grade, lists, measures, "
    "CAST(holds_until AS TEXT) AS holds_until FROM standings WHERE scheme_id = '{scheme}'",
    (pa.int64(), pa.int64(), pa.int64(), pa.string(), pa.string(), pa.string(), pa.string()),
)
_STORED_LISTS = (
    "SELECT subject_id, list_id, CAST(since AS TEXT) AS since, CAST(until AS TEXT) AS until "
    "FROM standing_lists WHERE scheme_id = '{scheme}'",
    (pa.int64(), pa.string(), pa.string(), pa.string()),
)


def _compare_scheme(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    table: str,
    applicable: Applicable,
    barring: list[Applicable],
    unsure: dict[str, set[int]],
) -> tuple[list[str], int]:
    """The stored current standings of one scheme against its fresh evaluation in ``con``'s
    ``table``."""
    scheme = applicable.scheme
    quoted = scheme.id.replace("'", "''")
    stored, stored_lists = read_arrow(
        store,
        [
            (_STORED[0].format(scheme=quoted), _STORED[1]),
            (_STORED_LISTS[0].format(scheme=quoted), _STORED_LISTS[1]),
        ],
    )
    day = earliest(applicable.next_effective, *(a.next_effective for a in barring))
    next_effective = f"DATE '{day.isoformat()}'" if day else "NULL"
    con.register("stored_arrow", stored)
    con.register("stored_lists_arrow", stored_lists)
    con.register(
        "unsure_arrow",
        pa.table({"sid": pa.array(sorted(unsure[scheme.id]), pa.int64())}),
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fresh AS
        SELECT sid, subject_id AS identifier, score, grade,
               to_json(lists) AS lists, to_json(measures) AS measures,
               CAST(CASE WHEN holds_until IS NULL THEN {next_effective}
                         WHEN {next_effective} IS NULL THEN holds_until
                         ELSE least(holds_until, {next_effective}) END AS VARCHAR)
                   AS holds_until
        FROM {table} WHERE sid NOT IN (SELECT sid FROM unsure_arrow)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fresh_lists AS
        SELECT sid, list_id, CAST(since AS VARCHAR) AS since, CAST(until AS VARCHAR) AS until
        FROM ({list_rows_sql(scheme, table)}) l
        WHERE sid NOT IN (SELECT sid FROM unsure_arrow)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE kept AS
        SELECT subject_id AS sid, scheme_version, score, grade,
               to_json(from_json(lists, '["VARCHAR"]')) AS lists,
               to_json(from_json(measures, '["VARCHAR"]')) AS measures, holds_until
        FROM stored_arrow WHERE subject_id NOT IN (SELECT sid FROM unsure_arrow)
        """
    )
    identifiers = "(SELECT CAST(id AS BIGINT) AS sid, identifier FROM snap_subjects)"
    differing = con.execute(
        f"""
        WITH diff AS (
            SELECT coalesce(f.sid, k.sid) AS sid,
                   CASE WHEN k.sid IS NULL THEN 'no stored standing'
                        WHEN f.sid IS NULL THEN 'a stored standing the ledger does not give'
                        ELSE concat_ws('; ',
                            CASE WHEN k.scheme_version <> {scheme.version}
                                 THEN 'version ' || k.scheme_version END,
                            CASE WHEN k.score IS DISTINCT FROM f.score
                                 THEN 'score ' || coalesce(CAST(k.score AS VARCHAR), '-')
                                      || ' stored, ' || coalesce(CAST(f.score AS VARCHAR), '-')
                                      || ' due' END,
                            CASE WHEN k.grade IS DISTINCT FROM f.grade
                                 THEN 'grade ' || coalesce(k.grade, '-') || ' stored, '
                                      || coalesce(f.grade, '-') || ' due' END,
                            CASE WHEN k.lists IS DISTINCT FROM f.lists
                                 THEN 'lists ' || k.lists || ' stored, ' || f.lists
                                      || ' due' END,
                            CASE WHEN k.measures IS DISTINCT FROM f.measures
                                 THEN 'measures ' || k.measures || ' stored, ' || f.measures
                                      || ' due' END,
                            CASE WHEN k.holds_until IS DISTINCT FROM f.holds_until
                                 THEN 'holds until ' || coalesce(k.holds_until, 'never')
                                      || ' stored, ' || coalesce(f.holds_until, 'never')
                                      || ' due' END)
                   END AS what
            FROM fresh f FULL OUTER JOIN kept k ON k.sid = f.sid
        ), list_diff AS (
            SELECT coalesce(f.sid, k.subject_id) AS sid,
                   'list ' || coalesce(f.list_id, k.list_id) || ' dates '
                   || coalesce(k.since, '-') || '..' || coalesce(k.until, '-') || ' stored, '
                   || coalesce(f.since, '-') || '..' || coalesce(f.until, '-') || ' due'
                   AS what
            FROM fresh_lists f
            FULL OUTER JOIN (
                SELECT * FROM stored_lists_arrow
                WHERE subject_id NOT IN (SELECT sid FROM unsure_arrow)
            ) k ON k.subject_id = f.sid AND k.list_id = f.list_id
            WHERE f.sid IS NULL OR k.subject_id IS NULL
               OR f.since IS DISTINCT FROM k.since OR f.until IS DISTINCT FROM k.until
        ), every AS (
            SELECT sid, what FROM diff WHERE what <> ''
            UNION ALL SELECT sid, what FROM list_diff
        )
        SELECT i.identifier, string_agg(e.what, '; ' ORDER BY e.what)
        FROM every e JOIN {identifiers} i ON i.sid = e.sid
        GROUP BY i.identifier ORDER BY i.identifier
        """
    ).fetchall()
    [(count,)] = con.execute("SELECT count(*) FROM kept").fetchall()
    return [f"{scheme.id}: {ident}: {what}" for ident, what in differing], int(count)
