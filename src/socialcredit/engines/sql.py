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
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from socialcredit.policy.model import CodeList, Duration, Rule, Scheme
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

    def add(self, expr: str, length: Duration) -> str:
        """``expr`` plus a calendar length (DESIGN.md rule 10): N months later is the same day
        or that month's last day, in both engines."""
        months = length.months
        if months is None:
            return self.add_days(expr, length.n)
        if self.spark:
            return f"add_months({expr}, {int(months)})"
        return f"CAST({expr} + to_months({int(months)}) AS DATE)"

    def values(self, rows: list[str], columns: str) -> str:
        """A query over literal rows (``(1, 'a')`` each) with these column names."""
        if self.spark:
            return f"SELECT * FROM VALUES {', '.join(rows)} AS t({columns})"
        return f"SELECT * FROM (VALUES {', '.join(rows)}) AS t({columns})"

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


def checked_date(d: Dialect, expr: str) -> str:
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
    day = checked_date(d, f"substr({s}, 1, 10)")
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
        _lookup("rec_dates", "occurred_on", "records_in", checked_date(d, "s")),
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


def event_statements(
    d: Dialect, *, checks: Checks = EVENT_CHECKS, extendable: Iterable[str] = ()
) -> list[Statement]:
    """Parse and validate events against the accepted records: ev_rejects and ev (accepted).
    After ``checks``, an ``extended`` event is refused unless its record's code is one of
    ``extendable`` (semantics.reference.accept_events)."""
    codes = ", ".join(quote(c) for c in sorted(extendable))
    allowed = f"rec_code IN ({codes})" if codes else "FALSE"
    checks = (
        *checks,
        (
            f"event = 'extended' AND NOT coalesce({allowed}, FALSE)",
            "record_id|not_extendable",
            "furnisher || '/' || record_id",
        ),
    )
    problem, value = _first_failure(checks)
    return [
        _lookup("ev_dates", "date", "events_in", checked_date(d, "s")),
        _lookup("ev_instants", "recorded_at", "events_in", instant_us(d, "s")),
        # Each event's record: the accepted row of its key is the key's first valid row.
        Statement(
            "ev_records",
            """
            SELECT e._row, min(k._row) AS rec_row, min_by(k.code, k._row) AS rec_code
            FROM events_in e
            JOIN rec_checked k ON k.furnisher = e.furnisher AND k.record_id = e.record_id
                AND k.problem IS NULL
            GROUP BY e._row
            """,
        ),
        Statement(
            "ev_checked",
            f"""
            SELECT _row, furnisher, record_id, rec_row, rec_code, event, ev_date, ev_us,
                   {problem} AS problem, {value} AS value
            FROM (
                SELECT e.*, o.v AS ev_date, t.v AS ev_us, k.rec_row, k.rec_code
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
            "SELECT _row, problem, value, "
            "CASE WHEN problem = 'record_id|not_extendable' THEN rec_code END AS detail "
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


def _until(end: str, ends_on_fulfilment: bool) -> str:
    """The exclusive effect end (semantics.reference.effect_end, list_window) as SQL: the
    earliest of ``end``, the repair and, when it ends on fulfilment, the fulfilment."""
    parts = [end, "coalesce(rep, DATE '9999-12-31')"]
    if ends_on_fulfilment:
        parts.append("coalesce(ful, DATE '9999-12-31')")
    return f"least({', '.join(parts)})"


def _window(first: dt.date | None, last: dt.date | None) -> str:
    """Rule 11 as SQL: `` AND`` conditions on occ for a conduct window (empty when open)."""
    return (f" AND occ >= {date_literal(first)}" if first else "") + (
        f" AND occ <= {date_literal(last)}" if last else ""
    )


@dataclass(frozen=True)
class Effect:
    """A rule's or code list's effect on one record, as SQL over the contributions inputs:
    which records it takes (``condition``), and the window [``start``, ``until``)."""

    condition: str
    start: str
    until: str


def rule_effect(d: Dialect, rule: Rule) -> Effect:
    condition = f"code = {quote(rule.code)}{_window(rule.conduct_from, rule.conduct_until)}"
    return Effect(condition, "occ", _until(d.add("occ", rule.valid), rule.ends_on_fulfilment))


def list_effect(d: Dialect, lst: CodeList) -> Effect:
    """semantics.reference.list_window as SQL: a delayed start, an extension's new end capped
    at end + extendable, and a delayed list's record fulfilled by its start never held."""
    start = d.add("occ", lst.starts_after) if lst.starts_after is not None else "occ"
    end = d.add(start, lst.duration)
    if lst.extendable is not None:
        cap = d.add(end, lst.extendable)
        end = f"(CASE WHEN ext > {end} THEN least(ext, {cap}) ELSE {end} END)"
    codes = ", ".join(quote(c) for c in lst.codes)
    condition = f"code IN ({codes})"
    if lst.min_amount is not None:
        condition += f" AND amt >= {decimal_literal(lst.min_amount)}"
    condition += _window(lst.conduct_from, lst.conduct_until)
    if lst.starts_after is not None:
        condition += f" AND NOT coalesce(ful <= {start}, FALSE)"
    return Effect(condition, start, _until(end, lst.ends_on_fulfilment))


def evaluation_statements(
    d: Dialect,
    scheme: Scheme,
    *,
    as_of: dt.date,
    known_at_us: int,
    next_change: bool = False,
    population: str | None = None,
    prefix: str = "",
    barred: str | None = None,
    changes: str | None = None,
) -> list[Statement]:
    """Effects, scores, lists and measures per subject: table standings (sid order). With
    ``next_change``, standings also has ``holds_until`` (semantics.reference.next_change),
    computed in the same pass.

    ``population``, when the caller knows it, is a query for the ``sid`` of every subject to
    evaluate (step 7: of the scheme's kinds, with a record visible at K). Then only the records
    that can matter at T are aggregated — of a code the scheme uses, and recent enough that
    their effect can last past T — and everyone else stands at the base.

    Rule 14: a red list never holds, and no incentive reaches, a subject on a black list — of
    this scheme, or (``barred``: a relation of ``sid``) of another scheme evaluated with it.
    ``prefix`` names this scheme's relations apart from another's (``{prefix}standings``);
    the last two statements are always ``barred`` and the standings, so that a caller
    evaluating several schemes runs every scheme's others first, then ``barred``'s relation
    (:func:`black_statement` over each scheme's ``own_black``), then each scheme's last two.
    ``changes`` (with ``next_change``): a relation (``sid``, ``nc``) of the next changes under
    those other schemes, folded into ``holds_until``."""

    def n(name: str) -> str:
        return prefix + name

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

    live = f"NOT ret AND NOT {_suspended(t)}"  # semantics.reference.in_effect
    # _Dates.suspension_start: the lapse in every scheme, the objection where the scheme says.
    suspension = "least(v.obj, v.lap)" if scheme.objection_suspends_effect else "v.lap"
    effect_columns = []
    for index, rule in enumerate(rules):
        e = rule_effect(d, rule)
        effect_columns.append(
            f"CASE WHEN {live} AND {e.condition} AND occ <= {t} AND {t} < {e.until} "
            f"THEN {_points(rule)} END AS p{index}, "
            f"CASE WHEN {e.condition} THEN {e.until} END AS pe{index}"
        )
    for index, lst in enumerate(code_lists):
        e = list_effect(d, lst)
        held_now = f"{live} AND {e.condition} AND {e.start} <= {t} AND {t} < {e.until}"
        effect_columns.append(f"CASE WHEN {held_now} THEN {e.until} END AS l{index}")
        if lst.starts_after is not None:  # since: the earliest window start, not occurred_on
            effect_columns.append(f"CASE WHEN {held_now} THEN {e.start} END AS ls{index}")
    if next_change:
        effect_columns.append(f"{_next_change_moment(d, scheme, t)} AS nc")
    effects = "".join(f", {column}" for column in effect_columns)

    aggregates = ["count(*) AS n"]
    aggregates += [f"sum(p{i}) AS s{i}" for i in range(len(rules))]
    for index, lst in enumerate(code_lists):
        start = f"ls{index}" if lst.starts_after is not None else "occ"
        aggregates.append(f"min(CASE WHEN l{index} IS NOT NULL THEN {start} END) AS since{index}")
        aggregates.append(f"max(l{index}) AS until{index}")
    if next_change:
        aggregates.append("min(nc) AS holds_until")
    aliases = [aggregate.rsplit(" AS ", 1)[1] for aggregate in aggregates]

    # Rule 9: a scoped scheme evaluates only the subjects in its regions and of its age;
    # records from on or before the min_age-th birthday count as retracted.
    retracted, scope_join = "coalesce(v.ret, FALSE)", ""
    scope_statements = []
    if scheme.scope.regions or scheme.scope.min_age is not None:
        scope_statements.append(_scope_statement(d, scheme, as_of, n("scope_ids")))
        retracted = "(coalesce(v.ret, FALSE) OR coalesce(r.occ < s.adult, FALSE))"
        scope_join = f" JOIN {n('scope_ids')} s ON s.sid = r.sid"
        if population is not None:
            population = (
                f"SELECT p.sid FROM ({population}) p JOIN {n('scope_ids')} s ON s.sid = p.sid"
            )
    statements = [
        *scope_statements,
        Statement(
            n("ev_visible"),
            f"""
            SELECT rec_row,
                   bool_or(event = 'retracted') AS ret,
                   min(CASE WHEN event = 'repaired' THEN ev_date END) AS rep,
                   min(CASE WHEN event = 'fulfilled' THEN ev_date END) AS ful,
                   min(CASE WHEN event = 'objected' THEN ev_date END) AS obj,
                   min(CASE WHEN event = 'objection_rejected' THEN ev_date END) AS orej,
                   min(CASE WHEN event = 'extended' THEN ev_date END) AS ext,
                   min(CASE WHEN event = 'objection_lapsed' THEN ev_date END) AS lap
            FROM ev WHERE ev_us <= {int(known_at_us)}
            GROUP BY rec_row
            """,
        ),
        Statement(
            n("contributions"),
            f"""
            SELECT sid, _row, furnisher, record_id, code, occ{effects}
            FROM (
                SELECT r.sid, r._row, r.furnisher, r.record_id, r.code, r.occ, r.amt,
                       {retracted} AS ret, v.rep, v.ful, {suspension} AS sus, v.orej, v.ext
                FROM rec r{scope_join} LEFT JOIN {n("ev_visible")} v ON v.rec_row = r._row
                WHERE r.rec_us <= {int(known_at_us)}{kind_filter}
            ) x
            """,
            view=True,
        ),
        Statement(
            n("per_subject"),
            f"""
            SELECT i.subject_id, i.kind, a.*
            FROM (SELECT sid, {", ".join(aggregates)} FROM {n("contributions")} GROUP BY sid) a
            JOIN rec_ids i ON i.sid = a.sid
            """
            if population is None
            else f"""
            SELECT i.subject_id, i.kind, p.sid, {", ".join(f"a.{name}" for name in aliases)}
            FROM ({population}) p
            JOIN rec_ids i ON i.sid = p.sid
            LEFT JOIN (SELECT sid, {", ".join(aggregates)} FROM {n("contributions")} GROUP BY sid) a
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
        Statement(
            n("scored"),
            f"SELECT *, CAST({score} AS BIGINT) AS score FROM {n('per_subject')}",
            True,
        )
    )
    held = dict(held_code_lists)
    for glist in scheme.grade_lists:
        in_grade = " OR ".join(f"grade = {quote(g)}" for g in glist.grades)
        excluded = "".join(f" AND NOT ({held_code_lists[o]})" for o in glist.exclusive_of)
        held[glist.id] = f"coalesce(({in_grade}){excluded}, FALSE)"
    # Rule 14: barred = on a black list of this scheme or (barred) of another one.
    list_kinds = {lst.id: lst.kind for lst in scheme.lists}
    black = [f"({held[i]})" for i in sorted(held) if list_kinds[i] == "black"]
    own = f"coalesce({' OR '.join(black)}, FALSE)" if black else "FALSE"
    is_barred = own if barred is None else f"({own} OR sid IN (SELECT sid FROM {barred}))"
    for list_id in held:
        if list_kinds[list_id] == "red":
            held[list_id] = f"({held[list_id]}) AND NOT barred"
    lists = d.string_array([(held[i], i) for i in sorted(held)])
    measure_items = []
    for measure in sorted(scheme.measures, key=lambda m: m.id):
        conditions = [held[i] for i in measure.lists] + [
            f"coalesce(grade = {quote(g)}, FALSE)" for g in measure.grades
        ]
        condition = " OR ".join(conditions)
        if measure.kind == "incentive":
            condition = f"({condition}) AND NOT barred"
        measure_items.append((condition, measure.id))
    statements.append(
        Statement(n("graded"), f"SELECT *, {grade} AS grade FROM {n('scored')}", True)
    )
    statements.append(Statement(n("own_black"), f"SELECT sid FROM {n('graded')} WHERE {own}", True))
    statements.append(
        Statement(n("barred"), f"SELECT *, {is_barred} AS barred FROM {n('graded')}", True)
    )
    # Rule sums and list dates stay on each line for explanations.
    explained = "".join(f", s{i}" for i in range(len(rules))) + "".join(
        f", since{i}, until{i}" for i in range(len(code_lists))
    )
    source = f"{n('barred')} b"
    if next_change and changes is not None:
        explained += ", least(b.holds_until, c.nc) AS holds_until"
        source += f" LEFT JOIN {changes} c ON c.sid = b.sid"
    elif next_change:
        explained += ", holds_until"
    statements.append(
        Statement(
            n("standings"),
            f"SELECT b.sid AS sid, subject_id, kind, score, grade, {lists} AS lists, "
            f"{d.string_array(measure_items)} AS measures{explained}, barred "
            f"FROM {source}",
        )
    )
    return statements


def _scope_statement(d: Dialect, scheme: Scheme, as_of: dt.date, name: str) -> Statement:
    """``scope_ids``: the ``sid`` of every subject in the scheme's population on T (kinds,
    regions, age; semantics.reference.in_population), with ``adult``, the first day a person
    is old enough (NULL without min_age or for an organisation)."""
    scope = scheme.scope
    conditions = [f"kind IN ({', '.join(quote(k) for k in scheme.subjects)})"]
    if scope.regions:
        region = (
            "CASE WHEN kind = 'person' THEN substr(subject_id, 1, 6) "
            "ELSE substr(subject_id, 3, 6) END"
        )
        prefixes = " OR ".join(f"{region} LIKE {quote(prefix + '%')}" for prefix in scope.regions)
        conditions.append(f"({prefixes})")
    adult = "CAST(NULL AS DATE)"
    if scope.min_age is not None:
        born = d.try_date(
            "substr(subject_id, 7, 4) || '-' || substr(subject_id, 11, 2) || '-' "
            "|| substr(subject_id, 13, 2)"
        )
        birthday = d.add(born, Duration(12 * scope.min_age, "months"))
        adult = f"CASE WHEN kind = 'person' THEN {d.add_days(birthday, 1)} END"
        conditions.append(f"(kind <> 'person' OR {adult} <= {date_literal(as_of)})")
    return Statement(
        name, f"SELECT sid, {adult} AS adult FROM rec_ids WHERE {' AND '.join(conditions)}"
    )


def black_statement(name: str, prefixes: list[str]) -> Statement:
    """``name``: the ``sid`` of every subject on a black list of any of the schemes whose
    statements ran under these prefixes (each scheme's ``barred`` before any other scheme)."""
    parts = " UNION ".join(f"SELECT sid FROM {p}own_black" for p in prefixes)
    return Statement(name, parts)


def _may_matter(scheme: Scheme, as_of: dt.date) -> str:
    """SQL true for a record that can count at T or later: its code is used by the scheme and
    it occurred less than the longest rule or list duration for that code before T (an effect
    ends at the latest at occurred_on + days, and events only bring the end forward)."""
    longest: dict[str, int] = {}  # in days, a month counted as 31 (a safe bound)
    for rule in scheme.score.rules if scheme.score else ():
        longest[rule.code] = max(longest.get(rule.code, 0), rule.valid.limit_days())
    for lst in scheme.code_lists:
        days = lst.duration.limit_days()
        days += lst.starts_after.limit_days() if lst.starts_after else 0
        days += lst.extendable.limit_days() if lst.extendable else 0
        for code in lst.codes:
            longest[code] = max(longest.get(code, 0), days)
    if not longest:
        return "FALSE"
    return " OR ".join(
        f"(code = {quote(code)} AND occ > {date_literal(as_of - dt.timedelta(days=days))})"
        for code, days in sorted(longest.items())
    )


def _next_change_moment(d: Dialect, scheme: Scheme, t: str) -> str:
    """Per record, the first day after T on which its effect starts or ends under some rule or
    list of the scheme (NULL: none); the minimum per subject is semantics.reference.next_change.
    Reads the contributions inputs (code, occ, amt, ret, rep, ful, sus, orej, ext)."""
    rules = scheme.score.rules if scheme.score else ()
    effects = [rule_effect(d, rule) for rule in rules]
    effects += [list_effect(d, lst) for lst in scheme.code_lists]
    moments = []
    for e in effects:
        start, until = e.start, e.until
        candidates = [
            f"CASE WHEN {t} < {start} THEN {start} END",
            f"CASE WHEN {t} < {until} THEN {until} END",
        ]
        # A suspension inside the effect pauses it: its first and last days are changes.
        candidates += [
            f"CASE WHEN (orej IS NULL OR sus < orej) AND {start} < sus AND sus < {until} "
            f"AND {t} < sus THEN sus END",
            f"CASE WHEN sus < orej AND {start} < orej AND orej < {until} AND {t} < orej "
            "THEN orej END",
        ]
        moments.append(
            f"CASE WHEN NOT ret AND {e.condition} AND {start} < {until} THEN "
            f"least({', '.join(candidates)}) END"
        )
    if not moments:
        return "CAST(NULL AS DATE)"
    return moments[0] if len(moments) == 1 else f"least({', '.join(moments)})"


def _suspended(t: str) -> str:
    """SQL true when the record is suspended on T (_Dates.suspended; ``sus`` is its start)."""
    return f"coalesce(sus <= {t} AND (orej IS NULL OR {t} < orej), FALSE)"
