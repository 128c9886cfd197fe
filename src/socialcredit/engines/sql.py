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
from socialcredit.semantics.fields import EVENT_NAMES, MAX_YEAR, MIN_YEAR

DECIMAL = "DECIMAL(38,18)"
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Dialect:
    """The small differences between SQL engines: DuckDB (``duckdb``) and Spark SQL (``spark``,
    run with ``spark.sql.ansi.enabled=false`` so that a failed cast is NULL, as in DuckDB's
    ``try_cast``). Everything else in this module is one query text for both."""

    name: str = "duckdb"

    def __post_init__(self) -> None:
        if self.name not in ("duckdb", "spark"):
            raise ValueError(f"no SQL dialect {self.name!r}")

    @property
    def spark(self) -> bool:
        return self.name == "spark"

    @property
    def text(self) -> str:
        """The text type."""
        return "STRING" if self.spark else "VARCHAR"

    def full_match(self, expr: str, pattern: str) -> str:
        if self.spark:  # Java regex: \z is the very end (a $ also matches before a final newline)
            anchored = "^(?:" + pattern + ")\\z"
            return f"({expr} RLIKE {quote(anchored.replace(chr(92), chr(92) * 2))})"
        return f"regexp_full_match({expr}, {quote(pattern)})"

    def try_date(self, expr: str) -> str:
        return f"CAST({expr} AS DATE)" if self.spark else f"try_cast({expr} AS DATE)"

    def epoch_days(self, expr: str) -> str:
        return f"unix_date({expr})" if self.spark else f"({expr} - DATE '1970-01-01')"

    def add_days(self, expr: str, days: int) -> str:
        return f"date_add({expr}, {int(days)})" if self.spark else f"({expr} + {int(days)})"

    def position(self, haystack: str, needle: str) -> str:
        """1-based position of ``needle`` in ``haystack``, 0 when absent."""
        return f"{'instr' if self.spark else 'strpos'}({haystack}, {needle})"

    def subject_numbers(self) -> str:
        """``sid``, a key per distinct subject_id that sorts as the identifiers do. DuckDB numbers
        them; Spark keeps the identifier itself (a global row_number would gather every
        subject into one task)."""
        if self.spark:
            return "subject_id"
        return "CAST(row_number() OVER (ORDER BY subject_id) AS INTEGER)"

    def string_array(self, items: list[tuple[str, str]]) -> str:
        """An array of the labels whose condition holds, in the given order."""
        empty = "CAST(array() AS ARRAY<STRING>)" if self.spark else "CAST([] AS VARCHAR[])"
        if not items:
            return empty
        parts = [
            f"CASE WHEN {cond} THEN "
            + (f"array({quote(label)})" if self.spark else f"[{quote(label)}]")
            + f" ELSE {empty} END"
            for cond, label in items
        ]
        if len(parts) == 1:
            return parts[0]
        return f"{'concat' if self.spark else 'list_concat'}({', '.join(parts)})"


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
        f"({d.position(quote(ALPHABET), f'substr({s}, {i + 1}, 1)')} - 1) * {w}"
        for i, w in enumerate(USCC_WEIGHTS)
    )
    organisation = (
        f"{d.full_match(s, '[0-9A-HJ-NP-RTUWXY]{18}')} AND substr({quote(ALPHABET)}, "
        f"CAST((31 - ({uscc_sum}) % 31) % 31 AS INTEGER) + 1, 1) = substr({s}, 18, 1)"
    )
    return f"CASE WHEN {person} THEN 'person' WHEN {organisation} THEN 'organisation' END"


def _missing(column: str) -> str:
    return f"({column} IS NULL OR {column} = '')"


@dataclass(frozen=True)
class Statement:
    """One step: a relation computed from the ones before. ``view`` steps are recomputed where
    used (cheap filters over a big table) instead of being written out."""

    name: str
    query: str
    view: bool = False


def _lookup(name: str, column: str, source: str, expression: str) -> Statement:
    """Parse each distinct value of a column once: a furnisher's batch shares a handful of dates
    and one ``recorded_at``, so this is far cheaper than parsing every row."""
    return Statement(
        name,
        f"SELECT s, {expression} AS v FROM (SELECT DISTINCT {column} AS s FROM {source}) d",
    )


AMOUNT_PATTERN = r"[0-9]{1,20}(\.[0-9]{1,18})?"

# The checks of fields.read_record, in its order: (condition, field|problem, rejected value).
RECORD_CHECKS = (
    ("_error IS NOT NULL", "row|row", "_error"),
    (_missing("furnisher"), "furnisher|missing", "furnisher"),
    (_missing("record_id"), "record_id|missing", "record_id"),
    (_missing("subject_id"), "subject_id|missing", "subject_id"),
    (_missing("code"), "code|missing", "code"),
    (_missing("occurred_on"), "occurred_on|missing", "occurred_on"),
    ("occ IS NULL", "occurred_on|malformed", "occurred_on"),
    ("amt IS NULL", "amount|malformed", "amount"),
    (_missing("recorded_at"), "recorded_at|missing", "recorded_at"),
    ("rec_us IS NULL", "recorded_at|malformed", "recorded_at"),
    ("kind IS NULL", "subject_id|invalid_id", "subject_id"),
    ("NOT code_known", "code|unknown_code", "code"),
    ("NOT code_applies", "code|kind_mismatch", "code"),
)


def _first_failure(checks: tuple[tuple[str, str, str], ...]) -> tuple[str, str]:
    """SQL for the first failing check's 'field|problem' and the value it rejected."""
    problem = " ".join(f"WHEN {cond} THEN '{label}'" for cond, label, _ in checks)
    value = " ".join(f"WHEN {cond} THEN {column}" for cond, _, column in checks)
    return f"CASE {problem} END", f"CASE {value} END"


Checks = tuple[tuple[str, str, str], ...]


def record_statements(
    d: Dialect,
    *,
    checks: Checks = RECORD_CHECKS,
    carry: tuple[tuple[str, str], ...] = (),
    detail: str = "CASE WHEN NOT code_applies THEN kind END",
) -> list[Statement]:
    """Parse, validate and de-duplicate records: rec_rejects, and the view rec (accepted).

    The registry's ingest adds its own checks after the evaluation's (``checks``), carries
    more input columns through ``rec_checked`` (``carry``: expression over ``r``, alias) and
    says what a rejection's detail is (``detail``)."""
    problem, value = _first_failure(checks)
    carried_inner = "".join(f", {expression} AS {alias}" for expression, alias in carry)
    carried = "".join(f", {alias}" for _, alias in carry)
    amount = f"CASE WHEN {d.full_match('s', AMOUNT_PATTERN)} THEN CAST(s AS {DECIMAL}) END"
    return [
        Statement(
            "rec_ids",
            f"SELECT subject_id, {subject_kind(d, 'subject_id')} AS kind, "
            f"{d.subject_numbers()} AS sid "
            "FROM (SELECT DISTINCT subject_id FROM records_in WHERE subject_id IS NOT NULL) d",
        ),
        _lookup("rec_dates", "occurred_on", "records_in", _checked_date(d, "s")),
        _lookup("rec_instants", "recorded_at", "records_in", instant_us(d, "s")),
        _lookup("rec_amounts", "amount", "records_in WHERE amount <> ''", amount),
        Statement(
            "rec_checked",
            f"""
            SELECT _row, furnisher, record_id, sid, kind, code, occ, amt, rec_us{carried},
                   {problem} AS problem, {value} AS value, {detail} AS detail
            FROM (
                SELECT r._row, r.furnisher, r.record_id, r.subject_id, r.code, r.occurred_on,
                       r.amount, r.recorded_at, r._error, i.sid, i.kind, o.v AS occ{carried_inner},
                       CASE WHEN {_missing("r.amount")} THEN CAST(0 AS {DECIMAL}) ELSE a.v END
                           AS amt,
                       t.v AS rec_us,
                       c.code IS NOT NULL AS code_known,
                       CASE i.kind WHEN 'person' THEN c.person ELSE c.organisation END
                           AS code_applies
                FROM records_in r
                LEFT JOIN rec_ids i ON i.subject_id = r.subject_id
                LEFT JOIN rec_dates o ON o.s = r.occurred_on
                LEFT JOIN rec_amounts a ON a.s = r.amount
                LEFT JOIN rec_instants t ON t.s = r.recorded_at
                LEFT JOIN catalogue_codes c ON c.code = r.code
            ) x
            """,
        ),
        # Keys that arrive more than once; the first valid row of a key is the accepted one.
        Statement(
            "rec_dups",
            """
            SELECT furnisher, record_id, min(_row) AS first_row
            FROM rec_checked WHERE problem IS NULL
            GROUP BY furnisher, record_id HAVING count(*) > 1
            """,
        ),
        Statement(
            "rec_repeats",
            """
            SELECT r._row, r.furnisher, r.record_id, f.first_row,
                   (r.sid = o.sid AND r.code = o.code AND r.occ = o.occ
                    AND r.amt = o.amt AND r.rec_us = o.rec_us) AS same
            FROM rec_dups f
            JOIN rec_checked r ON r.furnisher = f.furnisher AND r.record_id = f.record_id
                AND r.problem IS NULL AND r._row <> f.first_row
            JOIN rec_checked o ON o._row = f.first_row
            """,
        ),
        Statement(
            "rec",
            """
            SELECT _row, furnisher, record_id, sid, kind, code, occ, amt, rec_us
            FROM rec_checked
            WHERE problem IS NULL AND _row NOT IN (SELECT _row FROM rec_repeats)
            """,
            view=True,
        ),
        Statement(
            "rec_rejects",
            f"""
            SELECT _row, problem, value, detail FROM rec_checked WHERE problem IS NOT NULL
            UNION ALL
            SELECT _row, 'record_id|conflict', furnisher || '/' || record_id,
                   CAST(first_row AS {d.text})
            FROM rec_repeats WHERE NOT same
            """,
        ),
    ]


# The checks of fields.read_event, in its order.
EVENT_CHECKS = (
    ("_error IS NOT NULL", "row|row", "_error"),
    (_missing("furnisher"), "furnisher|missing", "furnisher"),
    (_missing("record_id"), "record_id|missing", "record_id"),
    (_missing("event"), "event|missing", "event"),
    (f"event NOT IN ({', '.join(quote(e) for e in EVENT_NAMES)})", "event|malformed", "event"),
    (f"event <> 'retracted' AND {_missing('date')}", "date|missing", "date"),
    ("event <> 'retracted' AND ev_date IS NULL", "date|malformed", "date"),
    (_missing("recorded_at"), "recorded_at|missing", "recorded_at"),
    ("ev_us IS NULL", "recorded_at|malformed", "recorded_at"),
    ("rec_row IS NULL", "record_id|unknown_record", "furnisher || '/' || record_id"),
)


def event_statements(d: Dialect, *, checks: Checks = EVENT_CHECKS) -> list[Statement]:
    """Parse and validate events against the accepted records: ev_rejects and ev (accepted)."""
    problem, value = _first_failure(checks)
    return [
        _lookup("ev_dates", "date", "events_in", _checked_date(d, "s")),
        _lookup("ev_instants", "recorded_at", "events_in", instant_us(d, "s")),
        # Each event's record: the accepted row of its key is the key's first valid row.
        Statement(
            "ev_records",
            """
            SELECT e._row, min(k._row) AS rec_row
            FROM events_in e
            JOIN rec_checked k ON k.furnisher = e.furnisher AND k.record_id = e.record_id
                AND k.problem IS NULL
            GROUP BY e._row
            """,
        ),
        Statement(
            "ev_checked",
            f"""
            SELECT _row, furnisher, record_id, rec_row, event, ev_date, ev_us,
                   {problem} AS problem, {value} AS value
            FROM (
                SELECT e.*, o.v AS ev_date, t.v AS ev_us, k.rec_row
                FROM events_in e
                LEFT JOIN ev_dates o ON o.s = e.date
                LEFT JOIN ev_instants t ON t.s = e.recorded_at
                LEFT JOIN ev_records k ON k._row = e._row
            ) x
            """,
        ),
        Statement(
            "ev",
            "SELECT rec_row, event, ev_date, ev_us FROM ev_checked WHERE problem IS NULL",
            view=True,
        ),
        Statement(
            "ev_rejects",
            f"SELECT _row, problem, value, CAST(NULL AS {d.text}) AS detail "
            "FROM ev_checked WHERE problem IS NOT NULL",
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
    d: Dialect,
    scheme: Scheme,
    *,
    as_of: dt.date,
    known_at_us: int,
    next_change: bool = False,
    population: str | None = None,
) -> list[Statement]:
    """Effects, scores, lists and measures per subject: table standings (sid order). With
    ``next_change``, standings also has ``holds_until`` (semantics.reference.next_change),
    computed in the same pass.

    ``population``, when the caller knows it, is a query for the ``sid`` of every subject to
    evaluate (step 7: of the scheme's kinds, with a record visible at K). Then only the records
    that can matter at T are aggregated — of a code the scheme uses, and recent enough that
    their effect can last past T — and everyone else stands at the base."""
    t = date_literal(as_of)
    kinds = ", ".join(quote(k) for k in scheme.subjects)
    # Both kinds: every accepted record qualifies, and the filter (and the kind) is not needed.
    kind_filter = (
        "" if set(scheme.subjects) >= {"person", "organisation"} else (f" AND r.kind IN ({kinds})")
    )
    if population is not None:  # the population has the kinds; drop what cannot matter
        kind_filter = f" AND ({_may_matter(scheme, as_of)})"
    rules = scheme.score.rules if scheme.score else ()
    code_lists = scheme.code_lists

    live = "NOT ret"
    if scheme.objection_suspends_effect:  # semantics.reference.in_effect
        live += f" AND NOT {_suspended(t)}"
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
    if next_change:
        effect_columns.append(f"{_next_change_moment(d, scheme, t)} AS nc")
    effects = "".join(f", {column}" for column in effect_columns)

    aggregates = ["count(*) AS n"]
    aggregates += [f"sum(p{i}) AS s{i}" for i in range(len(rules))]
    for index in range(len(code_lists)):
        aggregates.append(f"min(CASE WHEN l{index} IS NOT NULL THEN occ END) AS since{index}")
        aggregates.append(f"max(l{index}) AS until{index}")
    if next_change:
        aggregates.append("min(nc) AS holds_until")
    aliases = [aggregate.rsplit(" AS ", 1)[1] for aggregate in aggregates]

    statements = [
        Statement(
            "ev_visible",
            f"""
            SELECT rec_row,
                   bool_or(event = 'retracted') AS ret,
                   min(CASE WHEN event = 'repaired' THEN ev_date END) AS rep,
                   min(CASE WHEN event = 'fulfilled' THEN ev_date END) AS ful,
                   min(CASE WHEN event = 'objected' THEN ev_date END) AS obj,
                   min(CASE WHEN event = 'objection_rejected' THEN ev_date END) AS orej
            FROM ev WHERE ev_us <= {int(known_at_us)}
            GROUP BY rec_row
            """,
        ),
        Statement(
            "contributions",
            f"""
            SELECT sid, _row, furnisher, record_id, code, occ{effects}
            FROM (
                SELECT r.sid, r._row, r.furnisher, r.record_id, r.code, r.occ, r.amt,
                       coalesce(v.ret, FALSE) AS ret, v.rep, v.ful, v.obj, v.orej
                FROM rec r LEFT JOIN ev_visible v ON v.rec_row = r._row
                WHERE r.rec_us <= {int(known_at_us)}{kind_filter}
            ) x
            """,
            view=True,
        ),
        Statement(
            "per_subject",
            f"""
            SELECT i.subject_id, i.kind, a.*
            FROM (SELECT sid, {", ".join(aggregates)} FROM contributions GROUP BY sid) a
            JOIN rec_ids i ON i.sid = a.sid
            """
            if population is None
            else f"""
            SELECT i.subject_id, i.kind, p.sid, {", ".join(f"a.{name}" for name in aliases)}
            FROM ({population}) p
            JOIN rec_ids i ON i.sid = p.sid
            LEFT JOIN (SELECT sid, {", ".join(aggregates)} FROM contributions GROUP BY sid) a
                ON a.sid = p.sid
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
        score, grade = "CAST(NULL AS BIGINT)", f"CAST(NULL AS {d.text})"
    statements.append(
        Statement("scored", f"SELECT *, CAST({score} AS BIGINT) AS score FROM per_subject", True)
    )
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
    statements.append(Statement("graded", f"SELECT *, {grade} AS grade FROM scored", True))
    # Rule sums and list dates stay on each line for explanations.
    explained = "".join(f", s{i}" for i in range(len(rules))) + "".join(
        f", since{i}, until{i}" for i in range(len(code_lists))
    )
    if next_change:
        explained += ", holds_until"
    statements.append(
        Statement(
            "standings",
            f"SELECT sid, subject_id, kind, score, grade, {lists} AS lists, "
            f"{d.string_array(measure_items)} AS measures{explained} FROM graded",
        )
    )
    return statements


def _may_matter(scheme: Scheme, as_of: dt.date) -> str:
    """SQL true for a record that can count at T or later: its code is used by the scheme and
    it occurred less than the longest rule or list duration for that code before T (an effect
    ends at the latest at occurred_on + days, and events only bring the end forward)."""
    longest: dict[str, int] = {}
    for rule in scheme.score.rules if scheme.score else ():
        longest[rule.code] = max(longest.get(rule.code, 0), rule.valid_days)
    for lst in scheme.code_lists:
        for code in lst.codes:
            longest[code] = max(longest.get(code, 0), lst.duration_days)
    if not longest:
        return "FALSE"
    return " OR ".join(
        f"(code = {quote(code)} AND occ > {date_literal(as_of - dt.timedelta(days=days))})"
        for code, days in sorted(longest.items())
    )


def _next_change_moment(d: Dialect, scheme: Scheme, t: str) -> str:
    """Per record, the first day after T on which its effect starts or ends under some rule or
    list of the scheme (NULL: none); the minimum per subject is semantics.reference.next_change.
    Reads the contributions inputs (code, occ, amt, ret, rep, ful, obj, orej)."""
    rules = scheme.score.rules if scheme.score else ()
    parts: list[tuple[str, int, bool]] = [
        (f"code = {quote(rule.code)}", rule.valid_days, rule.ends_on_fulfilment) for rule in rules
    ]
    for lst in scheme.code_lists:
        codes = ", ".join(quote(c) for c in lst.codes)
        amount = (
            f" AND amt >= {decimal_literal(lst.min_amount)}" if lst.min_amount is not None else ""
        )
        parts.append((f"code IN ({codes}){amount}", lst.duration_days, lst.ends_on_fulfilment))
    moments = []
    for condition, days, ends_on_fulfilment in parts:
        until = _until(d, days, ends_on_fulfilment)
        candidates = [
            f"CASE WHEN {t} < occ THEN occ END",
            f"CASE WHEN {t} < {until} THEN {until} END",
        ]
        if scheme.objection_suspends_effect:  # a suspension inside the effect pauses it
            inside = "(orej IS NULL OR obj < orej)"
            candidates += [
                f"CASE WHEN {inside} AND occ < obj AND obj < {until} AND {t} < obj THEN obj END",
                f"CASE WHEN obj < orej AND occ < orej AND orej < {until} AND {t} < orej "
                "THEN orej END",
            ]
        moments.append(
            f"CASE WHEN NOT ret AND {condition} AND occ < {until} THEN "
            f"least({', '.join(candidates)}) END"
        )
    if not moments:
        return "CAST(NULL AS DATE)"
    return moments[0] if len(moments) == 1 else f"least({', '.join(moments)})"


def _suspended(t: str) -> str:
    """SQL true when the record is under an undecided objection on T (_Dates.suspended)."""
    return f"coalesce(obj <= {t} AND (orej IS NULL OR {t} < orej), FALSE)"
