"""The evaluation semantics as portable SQL, generated from a scheme.

The statements here run on DuckDB now and are written for a later Spark SQL engine: the few
places where dialects differ go through :class:`Dialect`, the way splink keeps per-backend
differences in one small object. Row validation follows :mod:`socialcredit.semantics.fields`
check for check, in the same order; reason *texts* are made afterwards in Python from
(field, problem, value), so they are word for word the reference engine's.

Input relations: ``records_in`` and ``events_in`` (``_row``, text columns, ``_error``) and
``catalogue_codes`` (``code``, ``person``, ``organisation``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from socialcredit.policy.model import Rule, Scheme
from socialcredit.semantics.fields import MAX_YEAR, MIN_YEAR

DECIMAL = "DECIMAL(38,18)"
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Dialect:
    """The small differences between SQL engines."""

    name: str = "duckdb"

    def full_match(self, expr: str, pattern: str) -> str:
        return f"regexp_full_match({expr}, {quote(pattern)})"

    def try_date(self, expr: str) -> str:
        return f"try_cast({expr} AS DATE)"

    def epoch_days(self, expr: str) -> str:
        return f"({expr} - DATE '1970-01-01')"

    def add_days(self, expr: str, days: int) -> str:
        return f"({expr} + {int(days)})"

    def string_array(self, items: list[tuple[str, str]]) -> str:
        """An array of the labels whose condition holds, in the given order."""
        if not items:
            return "CAST([] AS VARCHAR[])"
        parts = [
            f"CASE WHEN {cond} THEN [{quote(label)}] ELSE CAST([] AS VARCHAR[]) END"
            for cond, label in items
        ]
        return parts[0] if len(parts) == 1 else f"list_concat({', '.join(parts)})"


def date_literal(date: dt.date) -> str:
    return f"DATE '{date.isoformat()}'"


def decimal_literal(value: Decimal) -> str:
    return f"CAST({quote(str(value))} AS {DECIMAL})"


def _checked_date(d: Dialect, expr: str) -> str:
    """A strict YYYY-MM-DD date in the registry's years, else NULL."""
    date = d.try_date(expr)
    return (
        f"CASE WHEN {d.full_match(expr, '[0-9]{4}-[0-9]{2}-[0-9]{2}')} "
        f"AND {date} BETWEEN DATE '{MIN_YEAR:04d}-01-01' AND DATE '{MAX_YEAR:04d}-12-31' "
        f"THEN {date} END"
    )


def instant_us(d: Dialect, s: str) -> str:
    """An instant as UTC microseconds since the epoch, else NULL (fields.parse_instant)."""
    pattern = (
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
        r"(Z|[+-][0-9]{2}:[0-9]{2})"
    )
    day = _checked_date(d, f"substr({s}, 1, 10)")
    hh, mi, ss = (f"CAST(substr({s}, {p}, 2) AS BIGINT)" for p in (12, 15, 18))
    zone_len = f"(CASE WHEN right({s}, 1) = 'Z' THEN 1 ELSE 6 END)"
    frac = (
        f"(CASE WHEN substr({s}, 20, 1) = '.' "
        f"THEN CAST(rpad(substr({s}, 21, length({s}) - 20 - {zone_len}), 6, '0') AS BIGINT) "
        "ELSE 0 END)"
    )
    oh = f"CAST(substr(right({s}, 6), 2, 2) AS BIGINT)"
    om = f"CAST(substr(right({s}, 6), 5, 2) AS BIGINT)"
    offset = (
        f"(CASE WHEN right({s}, 1) = 'Z' THEN 0 "
        f"WHEN substr(right({s}, 6), 1, 1) = '-' THEN -({oh} * 60 + {om}) "
        f"ELSE {oh} * 60 + {om} END)"
    )
    valid = (
        f"{d.full_match(s, pattern)} AND {day} IS NOT NULL AND {hh} <= 23 AND {mi} <= 59 "
        f"AND {ss} <= 59 AND (right({s}, 1) = 'Z' OR ({oh} <= 23 AND {om} <= 59))"
    )
    value = (
        f"{d.epoch_days(day)} * 86400000000 + (({hh} * 60 + {mi}) * 60 + {ss}) * 1000000 "
        f"+ {frac} - {offset} * 60000000"
    )
    return f"CASE WHEN {valid} THEN {value} END"


def subject_kind(d: Dialect, s: str) -> str:
    """'person', 'organisation' or NULL for an identifier (identifiers.check)."""
    ric_sum = " + ".join(
        f"CAST(substr({s}, {i + 1}, 1) AS BIGINT) * {w}" for i, w in enumerate(RIC_WEIGHTS)
    )
    birth = f"substr({s}, 7, 4) || '-' || substr({s}, 11, 2) || '-' || substr({s}, 13, 2)"
    person = (
        f"{d.full_match(s, '[0-9]{17}[0-9X]')} "
        f"AND substr('10X98765432', CAST(({ric_sum}) % 11 AS INTEGER) + 1, 1) = substr({s}, 18, 1) "
        f"AND substr({s}, 7, 4) <> '0000' AND {d.try_date(birth)} IS NOT NULL"
    )
    uscc_sum = " + ".join(
        f"(strpos({quote(ALPHABET)}, substr({s}, {i + 1}, 1)) - 1) * {w}"
        for i, w in enumerate(USCC_WEIGHTS)
    )
    organisation = (
        f"{d.full_match(s, '[0-9A-HJ-NP-RTUWXY]{18}')} AND substr({quote(ALPHABET)}, "
        f"CAST((31 - ({uscc_sum}) % 31) % 31 AS INTEGER) + 1, 1) = substr({s}, 18, 1)"
    )
    return f"CASE WHEN {person} THEN 'person' WHEN {organisation} THEN 'organisation' END"


def _missing(column: str) -> str:
    return f"({column} IS NULL OR {column} = '')"


def record_statements(d: Dialect) -> list[tuple[str, str]]:
    """Parse, validate and de-duplicate records: tables rec_rejects and rec (accepted)."""
    amount_pattern = r"[0-9]{1,20}(\.[0-9]{1,18})?"
    return [
        (
            "rec_ids",
            f"SELECT subject_id, {subject_kind(d, 'subject_id')} AS kind, "
            "CAST(row_number() OVER (ORDER BY subject_id) AS INTEGER) AS sid "
            "FROM (SELECT DISTINCT subject_id FROM records_in WHERE subject_id IS NOT NULL)",
        ),
        (
            "rec_parsed",
            f"""
            SELECT r._row, r.furnisher, r.record_id, r.subject_id, r.code, r.occurred_on,
                   r.amount, r.recorded_at, r._error, i.sid, i.kind,
                   {_checked_date(d, "r.occurred_on")} AS occ,
                   CASE WHEN {_missing("r.amount")} THEN CAST(0 AS {DECIMAL})
                        WHEN {d.full_match("r.amount", amount_pattern)}
                        THEN CAST(r.amount AS {DECIMAL}) END AS amt,
                   {instant_us(d, "r.recorded_at")} AS rec_us,
                   c.code IS NOT NULL AS code_known,
                   CASE i.kind WHEN 'person' THEN c.person ELSE c.organisation END AS code_applies
            FROM records_in r
            LEFT JOIN rec_ids i ON i.subject_id = r.subject_id
            LEFT JOIN catalogue_codes c ON c.code = r.code
            """,
        ),
        (
            "rec_checked",
            f"""
            SELECT *, CASE
                WHEN _error IS NOT NULL THEN 'row|row'
                WHEN {_missing("furnisher")} THEN 'furnisher|missing'
                WHEN {_missing("record_id")} THEN 'record_id|missing'
                WHEN {_missing("subject_id")} THEN 'subject_id|missing'
                WHEN {_missing("code")} THEN 'code|missing'
                WHEN {_missing("occurred_on")} THEN 'occurred_on|missing'
                WHEN occ IS NULL THEN 'occurred_on|malformed'
                WHEN amt IS NULL THEN 'amount|malformed'
                WHEN {_missing("recorded_at")} THEN 'recorded_at|missing'
                WHEN rec_us IS NULL THEN 'recorded_at|malformed'
                WHEN kind IS NULL THEN 'subject_id|invalid_id'
                WHEN NOT code_known THEN 'code|unknown_code'
                WHEN NOT code_applies THEN 'code|kind_mismatch'
            END AS problem
            FROM rec_parsed
            """,
        ),
        (
            "rec_firsts",
            """
            SELECT furnisher, record_id, min(_row) AS first_row, count(*) AS n
            FROM rec_checked WHERE problem IS NULL
            GROUP BY furnisher, record_id
            """,
        ),
        (
            "rec_repeats",
            """
            SELECT r._row, f.first_row,
                   (r.subject_id = o.subject_id AND r.code = o.code AND r.occ = o.occ
                    AND r.amt = o.amt AND r.rec_us = o.rec_us) AS same
            FROM rec_firsts f
            JOIN rec_checked r ON r.furnisher = f.furnisher AND r.record_id = f.record_id
                AND r.problem IS NULL AND r._row <> f.first_row
            JOIN rec_checked o ON o._row = f.first_row
            WHERE f.n > 1
            """,
        ),
        (
            "rec",
            """
            SELECT r._row, r.furnisher, r.record_id, r.subject_id, r.sid, r.kind, r.code,
                   r.occ, r.amt, r.rec_us
            FROM rec_checked r
            WHERE r.problem IS NULL AND r._row NOT IN (SELECT _row FROM rec_repeats)
            """,
        ),
        (
            "rec_rejects",
            """
            SELECT _row, problem, CASE
                WHEN problem = 'row|row' THEN _error
                WHEN problem LIKE 'furnisher|%' THEN furnisher
                WHEN problem LIKE 'record_id|%' THEN record_id
                WHEN problem LIKE 'subject_id|%' THEN subject_id
                WHEN problem LIKE 'code|%' THEN code
                WHEN problem LIKE 'occurred_on|%' THEN occurred_on
                WHEN problem LIKE 'amount|%' THEN amount
                ELSE recorded_at END AS value,
                CASE WHEN problem = 'code|kind_mismatch' THEN kind END AS detail
            FROM rec_checked WHERE problem IS NOT NULL
            UNION ALL
            SELECT p._row, 'record_id|conflict', r.furnisher || '/' || r.record_id,
                   CAST(p.first_row AS VARCHAR)
            FROM rec_repeats p JOIN rec_checked r ON r._row = p._row
            WHERE NOT p.same
            """,
        ),
    ]


def event_statements(d: Dialect) -> list[tuple[str, str]]:
    """Parse and validate events against the accepted records: ev_rejects and ev (accepted)."""
    return [
        (
            "ev_checked",
            f"""
            SELECT e.*, k._row AS rec_row, CASE
                WHEN e._error IS NOT NULL THEN 'row|row'
                WHEN {_missing("e.furnisher")} THEN 'furnisher|missing'
                WHEN {_missing("e.record_id")} THEN 'record_id|missing'
                WHEN {_missing("e.event")} THEN 'event|missing'
                WHEN e.event NOT IN ('fulfilled', 'repaired', 'retracted') THEN 'event|malformed'
                WHEN e.event <> 'retracted' AND {_missing("e.date")} THEN 'date|missing'
                WHEN e.event <> 'retracted' AND e.ev_date IS NULL THEN 'date|malformed'
                WHEN {_missing("e.recorded_at")} THEN 'recorded_at|missing'
                WHEN e.ev_us IS NULL THEN 'recorded_at|malformed'
                WHEN k._row IS NULL THEN 'record_id|unknown_record'
            END AS problem
            FROM (
                SELECT *, {_checked_date(d, "date")} AS ev_date,
                       {instant_us(d, "recorded_at")} AS ev_us
                FROM events_in
            ) e
            LEFT JOIN rec k ON k.furnisher = e.furnisher AND k.record_id = e.record_id
            """,
        ),
        (
            "ev",
            "SELECT rec_row, event, ev_date, ev_us FROM ev_checked WHERE problem IS NULL",
        ),
        (
            "ev_rejects",
            """
            SELECT _row, problem, CASE
                WHEN problem = 'row|row' THEN _error
                WHEN problem LIKE 'furnisher|%' THEN furnisher
                WHEN problem = 'record_id|unknown_record' THEN furnisher || '/' || record_id
                WHEN problem LIKE 'record_id|%' THEN record_id
                WHEN problem LIKE 'event|%' THEN event
                WHEN problem LIKE 'date|%' THEN date
                ELSE recorded_at END AS value,
                CAST(NULL AS VARCHAR) AS detail
            FROM ev_checked WHERE problem IS NOT NULL
            """,
        ),
    ]


def _points(rule: Rule) -> str:
    if rule.points is not None:
        return str(rule.points)
    branches = " ".join(
        f"WHEN amt >= {decimal_literal(t.min_amount)} THEN {t.points}" for t in reversed(rule.tiers)
    )
    return f"CASE {branches} END"


def _until(d: Dialect, days: int, ends_on_fulfilment: bool) -> str:
    """The exclusive effect end (semantics.reference.effect_end) as SQL."""
    parts = [d.add_days("occ", days), "coalesce(rep, DATE '9999-12-31')"]
    if ends_on_fulfilment:
        parts.append("coalesce(ful, DATE '9999-12-31')")
    return f"least({', '.join(parts)})"


def evaluation_statements(
    d: Dialect, scheme: Scheme, *, as_of: dt.date, known_at_us: int
) -> list[tuple[str, str]]:
    """Effects, scores, lists and measures per subject: table standings (sid order)."""
    t = date_literal(as_of)
    kinds = ", ".join(quote(k) for k in scheme.subjects)
    rules = scheme.score.rules if scheme.score else ()
    code_lists = scheme.code_lists

    live = "NOT ret"
    effect_columns = []
    for index, rule in enumerate(rules):
        until = _until(d, rule.valid_days, rule.ends_on_fulfilment)
        effect_columns.append(
            f"CASE WHEN {live} AND code = {quote(rule.code)} AND occ <= {t} AND {t} < {until} "
            f"THEN {_points(rule)} END AS p{index}, "
            f"CASE WHEN code = {quote(rule.code)} THEN {until} END AS pe{index}"
        )
    for index, lst in enumerate(code_lists):
        until = _until(d, lst.duration_days, lst.ends_on_fulfilment)
        amount = (
            f" AND amt >= {decimal_literal(lst.min_amount)}" if lst.min_amount is not None else ""
        )
        codes = ", ".join(quote(c) for c in lst.codes)
        effect_columns.append(
            f"CASE WHEN {live} AND code IN ({codes}){amount} AND occ <= {t} AND {t} < {until} "
            f"THEN {until} END AS l{index}"
        )
    effects = "".join(f", {column}" for column in effect_columns)

    aggregates = ["count(*) AS n"]
    aggregates += [f"sum(p{i}) AS s{i}" for i in range(len(rules))]
    for index in range(len(code_lists)):
        aggregates.append(f"min(CASE WHEN l{index} IS NOT NULL THEN occ END) AS since{index}")
        aggregates.append(f"max(l{index}) AS until{index}")

    statements = [
        (
            "ev_visible",
            f"""
            SELECT rec_row,
                   bool_or(event = 'retracted') AS ret,
                   min(CASE WHEN event = 'repaired' THEN ev_date END) AS rep,
                   min(CASE WHEN event = 'fulfilled' THEN ev_date END) AS ful
            FROM ev WHERE ev_us <= {int(known_at_us)}
            GROUP BY rec_row
            """,
        ),
        (
            "contributions",
            f"""
            SELECT sid, _row, furnisher, record_id, code, occ{effects}
            FROM (
                SELECT r.sid, r._row, r.furnisher, r.record_id, r.code, r.occ, r.amt,
                       coalesce(v.ret, FALSE) AS ret, v.rep, v.ful
                FROM rec r LEFT JOIN ev_visible v ON v.rec_row = r._row
                WHERE r.rec_us <= {int(known_at_us)} AND r.kind IN ({kinds})
            ) x
            """,
        ),
        (
            "per_subject",
            f"""
            SELECT i.subject_id, i.kind, a.*
            FROM (SELECT sid, {", ".join(aggregates)} FROM contributions GROUP BY sid) a
            JOIN rec_ids i ON i.sid = a.sid
            """,
        ),
    ]

    # Score: capped rule sums, clamp, grade.
    held_code_lists = {lst.id: f"since{i} IS NOT NULL" for i, lst in enumerate(code_lists)}
    if scheme.score is not None:
        terms = []
        for index, rule in enumerate(rules):
            s = f"coalesce(s{index}, 0)"
            if rule.cap is not None:
                s = f"least(greatest({s}, {-rule.cap}), {rule.cap})"
            terms.append(s)
        total = " + ".join([str(scheme.score.base), *terms])
        score = f"least(greatest({total}, {scheme.score.min}), {scheme.score.max})"
        bands = " ".join(
            f"WHEN score >= {g.min} THEN {quote(g.grade)}" for g in scheme.score.grades
        )
        grade = f"CASE {bands} END"
    else:
        score, grade = "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR)"
    statements.append(("scored", f"SELECT *, CAST({score} AS BIGINT) AS score FROM per_subject"))
    held = dict(held_code_lists)
    for glist in scheme.grade_lists:
        in_grade = " OR ".join(f"grade = {quote(g)}" for g in glist.grades)
        excluded = "".join(f" AND NOT ({held_code_lists[o]})" for o in glist.exclusive_of)
        held[glist.id] = f"coalesce(({in_grade}){excluded}, FALSE)"
    lists = d.string_array([(held[i], i) for i in sorted(held)])
    measure_items = []
    for measure in sorted(scheme.measures, key=lambda m: m.id):
        conditions = [held[i] for i in measure.lists] + [
            f"coalesce(grade = {quote(g)}, FALSE)" for g in measure.grades
        ]
        measure_items.append((" OR ".join(conditions), measure.id))
    statements.append(("graded", f"SELECT *, {grade} AS grade FROM scored"))
    statements.append(
        (
            "standings",
            f"SELECT sid, subject_id, kind, score, grade, {lists} AS lists, "
            f"{d.string_array(measure_items)} AS measures, * EXCLUDE "
            "(sid, subject_id, kind, score, grade) FROM graded",
        )
    )
    return statements
