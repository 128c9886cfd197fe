"""Load and validate catalogue and scheme YAML, reporting every problem at once.

Each problem names the file, the item (``lists[2] (spc-defaulters).duration_days``) and what
would be accepted instead. Nothing that fails a guardrail of DESIGN.md is ever returned.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from socialcredit.errors import PolicyError, Problem, UsageError
from socialcredit.identifiers import Kind
from socialcredit.policy.grounds import ground_problem, screen_problem
from socialcredit.policy.instruments import (
    PUNITIVE,
    STATUTORY,
    Basis,
    parse_basis,
    shipped_register,
)
from socialcredit.policy.model import (
    ABSOLUTE_MAX_EFFECT_YEARS,
    DEFAULT_MAX_EFFECT_YEARS,
    Catalogue,
    Code,
    CodeList,
    Duration,
    DurationUnit,
    Grade,
    GradeList,
    MaxEffect,
    Measure,
    Rule,
    Scheme,
    Scope,
    Score,
    Tier,
    limit_days,
)

T = TypeVar("T")

CODE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
NAME_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
KINDS = ("person", "organisation")
UNITS: tuple[DurationUnit, ...] = ("days", "months", "years")
REGION = re.compile(r"^[0-9]{2}([0-9]{2}){0,2}$")


class _Reader:
    """Collects problems while reading one YAML document."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.day: dt.date | None = None  # a scheme version's effective_from (bases in force)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.source, where, message))

    def mapping(
        self, value: object, where: str, required: Iterable[str], optional: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        required, optional = tuple(required), tuple(optional)
        if not isinstance(value, dict):
            self.problem(where, f"expected a mapping with keys {', '.join(required)}")
            return None
        allowed = required + optional
        for key in value:
            if key not in allowed:
                self.problem(where, f"unknown key {key!r}; allowed keys: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.problem(where, f"missing required key {key!r}")
        return cast(dict[str, Any], value)

    def get(
        self,
        item: Mapping[str, Any],
        key: str,
        where: str,
        convert: Callable[[object], T | None],
        expected: str,
        default: T | None = None,
    ) -> T | None:
        if key not in item:
            return default
        result = convert(item[key])
        if result is None:
            self.problem(f"{where}.{key}", f"expected {expected}, got {item[key]!r}")
        return result

    def text(self, item: Mapping[str, Any], key: str, where: str) -> str | None:
        return self.get(item, key, where, _text, "a non-empty string")

    def legal_basis(self, item: Mapping[str, Any], where: str, punitive: str | None = None) -> str:
        """A structured legal basis (or a non-empty list of them), as display text: each
        names a registered instrument in force on the version's ``effective_from`` (``day``)
        and a locator. ``punitive`` (a black list, a restriction) must rest on at least one
        instrument of a level that may ground punishment (Guobanfa [2020] No. 49)."""
        if "legal_basis" not in item:
            return ""
        raw = item["legal_basis"]
        values = raw if isinstance(raw, list) and raw else [raw]
        if any(value is None or (isinstance(value, str) and not value.strip()) for value in values):
            self.problem(
                f"{where}.legal_basis",
                "every code, rule, list and measure must cite a non-empty legal basis "
                "(the law, regulation or central policy document that authorises it): "
                "an instrument id of the register, a space and the article, such as "
                "'spc-2017-7 art. 1'",
            )
            return ""
        bases = []
        for value in values:
            basis = parse_basis(value, shipped_register(), self.day)
            if isinstance(basis, str):
                self.problem(f"{where}.legal_basis", basis)
            else:
                bases.append(basis)
        if len(bases) < len(values):
            return ""
        if punitive and not any(b.instrument.level in PUNITIVE for b in bases):
            levels = ", ".join(
                f"{b.instrument.id} is a {b.instrument.level.replace('_', ' ')}" for b in bases
            )
            self.problem(
                f"{where}.legal_basis",
                f"a {punitive} must rest on a law, an administrative or local regulation, a "
                "judicial interpretation or a central policy document (Guobanfa [2020] No. 49: "
                f"no punishment without such a basis); {levels}: cite one of those as well",
            )
        return "; ".join(b.display() for b in bases)

    def integer(self, item: Mapping[str, Any], key: str, where: str) -> int | None:
        return self.get(item, key, where, _integer, "an integer")

    def flag(self, item: Mapping[str, Any], key: str, where: str) -> bool:
        return bool(self.get(item, key, where, _flag, "true or false", default=False))

    def choice(
        self, item: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...]
    ) -> str | None:
        def convert(value: object) -> str | None:
            return value if isinstance(value, str) and value in choices else None

        return self.get(item, key, where, convert, "one of " + ", ".join(choices))

    def identifier(
        self, item: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str], hint: str
    ) -> str | None:
        def convert(value: object) -> str | None:
            return value if isinstance(value, str) and pattern.match(value) else None

        return self.get(item, key, where, convert, hint)

    def string_list(
        self, item: Mapping[str, Any], key: str, where: str, *, allow_empty: bool = False
    ) -> tuple[str, ...]:
        value = item.get(key, [])
        if not isinstance(value, list) or not all(_text(v) for v in value):
            self.problem(f"{where}.{key}", f"expected a list of strings, got {value!r}")
            return ()
        if not value and not allow_empty and key in item:
            self.problem(f"{where}.{key}", "must not be empty")
        duplicates = sorted(v for v, n in Counter(value).items() if n > 1)
        if duplicates:
            self.problem(f"{where}.{key}", f"repeated entries {duplicates}")
        return tuple(value)

    def subjects(self, item: Mapping[str, Any], where: str) -> tuple[Kind, ...]:
        kinds = self.string_list(item, "subjects", where)
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            self.problem(
                f"{where}.subjects", f"unknown subject kinds {bad}; use person, organisation"
            )
        if "subjects" in item and not kinds:
            return ()
        return tuple(cast(Kind, k) for k in kinds if k in KINDS)

    def duration(
        self, item: Mapping[str, Any], key: str, where: str, *, days_key: str | None = None
    ) -> Duration | None:
        """A calendar length: ``key: {days|months|years: N}`` or, where ``days_key`` is given,
        its older spelling ``days_key: N``; exactly one of the two."""
        if days_key is not None and days_key in item:
            if key in item:
                self.problem(where, f"give exactly one of {key!r} or {days_key!r}")
                return None
            days = self.integer(item, days_key, where)
            if days is not None and days < 1:
                self.problem(f"{where}.{days_key}", f"expected 1 or more days, got {days}")
                return None
            return None if days is None else Duration(days, "days")
        if key not in item:
            return None
        value = item[key]
        if (
            not isinstance(value, dict)
            or len(value) != 1
            or next(iter(value)) not in UNITS
            or _integer(next(iter(value.values()))) is None
            or next(iter(value.values())) < 1
        ):
            self.problem(
                f"{where}.{key}",
                f"expected exactly one of {{days: N}}, {{months: N}} or {{years: N}} with N an "
                f"integer of 1 or more, got {value!r}",
            )
            return None
        ((unit, n),) = value.items()
        return Duration(int(n), cast(DurationUnit, unit))

    def unique_ids(self, ids: list[tuple[str, str]], what: str) -> None:
        seen: dict[str, str] = {}
        for where, ident in ids:
            if ident in seen:
                self.problem(where, f"duplicate {what} id {ident!r} (first at {seen[ident]})")
            else:
                seen[ident] = where

    def finish(self) -> None:
        if self.problems:
            raise PolicyError(self.problems)


def _overlap(first: Rule, second: Rule) -> bool:
    """Whether two rules' conduct windows share a day."""
    starts = [d for d in (first.conduct_from, second.conduct_from) if d is not None]
    ends = [d for d in (first.conduct_until, second.conduct_until) if d is not None]
    return not starts or not ends or max(starts) <= min(ends)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


def _date(value: object) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would silently keep
    the last, so a policy could say two things and mean one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        raise PolicyError([Problem(source, "YAML", f"not valid YAML: {error}")]) from error


# --- catalogue -----------------------------------------------------------------------------

CODE_KEYS = ("id", "title", "ground", "polarity", "subjects", "severity", "legal_basis")
CODE_OPTIONAL = ("description", "repairable", "retention")
# The longest retention a code may set: five years from the end of the effect (Regulation on
# the Administration of the Credit Reporting Industry art. 16: then deleted).
MAX_RETENTION_DAYS = limit_days(5)


def screen(reader: _Reader, item: Mapping[str, Any], where: str) -> None:
    """The text screen of a code's, list's or measure's title and description."""
    for key in ("title", "description"):
        text = item.get(key)
        if isinstance(text, str) and (message := screen_problem(text)):
            reader.problem(f"{where}.{key}", message)


def parse_catalogue(text: str, *, source: str = "<catalogue>") -> Catalogue:
    """Parse and validate a catalogue document. Raises PolicyError listing every problem."""
    reader = _Reader(source)
    doc = reader.mapping(_load_yaml(text, source), "catalogue", ["codes"])
    codes: dict[str, Code] = {}
    raw_codes = doc.get("codes") if doc else None
    if doc is not None and "codes" in doc and not isinstance(raw_codes, list):
        reader.problem("codes", "expected a list of codes")
    ids: list[tuple[str, str]] = []
    for index, raw in enumerate(raw_codes if isinstance(raw_codes, list) else []):
        label = raw.get("id") if isinstance(raw, dict) else None
        where = f"codes[{index}]" + (f" ({label})" if isinstance(label, str) else "")
        item = reader.mapping(raw, where, CODE_KEYS, CODE_OPTIONAL)
        if item is None:
            continue
        code_id = reader.identifier(
            item, "id", where, CODE_ID, "a lowercase id such as court.judgment_default"
        )
        if code_id:
            ids.append((where, code_id))
        screen(reader, item, where)
        ground = item.get("ground")
        if "ground" in item and (message := ground_problem(str(code_id), ground)):
            reader.problem(f"{where}.ground", message)
        code = Code(
            id=code_id or "",
            title=reader.text(item, "title", where) or "",
            ground=str(ground),
            polarity=cast(Any, reader.choice(item, "polarity", where, ("negative", "positive"))),
            subjects=reader.subjects(item, where),
            severity=cast(
                Any, reader.choice(item, "severity", where, ("minor", "general", "serious"))
            ),
            legal_basis=reader.legal_basis(item, where),
            description=reader.text(item, "description", where),
            repairable=reader.get(item, "repairable", where, _flag, "true or false", True)
            is not False,
            retention=_retention(reader, item, where),
        )
        if code_id:
            codes.setdefault(code_id, code)
    reader.unique_ids(ids, "code")
    reader.finish()
    return Catalogue(codes=codes, source=source)


def _retention(reader: _Reader, item: Mapping[str, Any], where: str) -> Duration | None:
    retention = reader.duration(item, "retention", where)
    months = retention.months if retention is not None else None
    if retention is not None and (
        months > 60 if months is not None else retention.n > MAX_RETENTION_DAYS
    ):
        reader.problem(
            f"{where}.retention",
            f"retention of {retention} is longer than the five years the Regulation on the "
            "Administration of the Credit Reporting Industry (art. 16) allows; shorten it or "
            "leave it out (five years)",
        )
        return None
    return retention


# --- scheme --------------------------------------------------------------------------------

SCHEME_KEYS = ("id", "version", "title", "subjects")
SCHEME_OPTIONAL = (
    "description",
    "jurisdiction",
    "effective_from",
    "objection_suspends_effect",
    "max_effect",
    "scope",
    "score",
    "lists",
    "measures",
)
SCORE_KEYS = ("base", "min", "max", "grades", "rules")
RULE_KEYS = ("code", "legal_basis")
WINDOW_KEYS = ("conduct_from", "conduct_until")
RULE_OPTIONAL = (
    "valid",
    "valid_days",
    "points",
    "tiers",
    "ends_on_fulfilment",
    "cap",
    *WINDOW_KEYS,
)
LIST_KEYS = ("id", "kind", "title", "legal_basis")
CODE_LIST_OPTIONAL = (
    "public",
    "description",
    "codes",
    "duration",
    "duration_days",
    "min_amount",
    "ends_on_fulfilment",
    "starts_after",
    "extendable",
    *WINDOW_KEYS,
)
GRADE_LIST_OPTIONAL = ("public", "description", "grades", "exclusive_of")
MEASURE_KEYS = ("id", "agency", "kind", "title", "legal_basis", "when")
MEASURE_OPTIONAL = ("description", "target")


class _SchemeReader(_Reader):
    def __init__(self, source: str, catalogue: Catalogue) -> None:
        super().__init__(source)
        self.catalogue = catalogue
        self.max_years = DEFAULT_MAX_EFFECT_YEARS
        self.limited_by = "the default limit of five years"
        self.subject_kinds: tuple[Kind, ...] = ()

    def limited(self, length: Duration | None, where: str, what: str) -> None:
        """Refuse a length past the scheme's effect limit (DESIGN.md rule 15)."""
        if length is None:
            return
        years = self.max_years
        months = length.months
        over = months > 12 * years if months is not None else length.n > limit_days(years)
        if over:
            self.problem(
                where,
                f"every effect is time-limited: {what} is {length}, past the limit of {years} "
                f"years ({12 * years} months or {limit_days(years)} days; {self.limited_by}); "
                f"shorten it, or give the scheme a max_effect of up to "
                f"{ABSOLUTE_MAX_EFFECT_YEARS} years resting on a law, an administrative or "
                "local regulation or a judicial interpretation",
            )

    def required_duration(
        self, item: Mapping[str, Any], key: str, days_key: str, where: str
    ) -> Duration:
        if key not in item and days_key not in item:
            self.problem(
                where, f"missing {key!r} ({{days|months|years: N}}): no effect is permanent"
            )
            return Duration(1)
        length = self.duration(item, key, where, days_key=days_key)
        self.limited(length, f"{where}.{key if key in item else days_key}", key)
        return length or Duration(1)

    def limited_sum(self, first: Duration, second: Duration, where: str, what: str) -> None:
        """Refuse a sum of two lengths past the limit: in months when both are in months or
        years, else in days with a year as 12 months and a month as 31 days (rule 15)."""
        months = (first.months or 0) + (second.months or 0)
        if first.months is not None and second.months is not None:
            self.limited(Duration(months, "months"), where, what)
        else:
            self.limited(Duration(first.limit_days() + second.limit_days()), where, what)

    def window(self, item: Mapping[str, Any], where: str) -> tuple[dt.date | None, dt.date | None]:
        """A conduct window (rule 11): inclusive dates, a missing bound open."""
        first = self.get(item, "conduct_from", where, _date, "a date YYYY-MM-DD")
        last = self.get(item, "conduct_until", where, _date, "a date YYYY-MM-DD")
        if first is not None and last is not None and first > last:
            self.problem(
                where, f"conduct_from ({first}) is after conduct_until ({last}): an empty window"
            )
        return first, last

    def max_effect(self, raw: object, effective_from: dt.date | None) -> MaxEffect | None:
        item = self.mapping(raw, "max_effect", ("years", "legal_basis"))
        if item is None:
            return None
        years = self.integer(item, "years", "max_effect")
        if years is not None and not 1 <= years <= ABSOLUTE_MAX_EFFECT_YEARS:
            self.problem(
                "max_effect.years",
                f"a scheme's effect limit is 1 to {ABSOLUTE_MAX_EFFECT_YEARS} years, got {years}",
            )
            years = None
        basis = parse_basis(item.get("legal_basis"), shipped_register(), effective_from)
        if isinstance(basis, str):
            self.problem("max_effect.legal_basis", basis)
        elif basis.instrument.level not in STATUTORY:
            self.problem(
                "max_effect.legal_basis",
                f"{basis.instrument.id} is a {basis.instrument.level.replace('_', ' ')}; only a "
                "law, an administrative or local regulation or a judicial interpretation may "
                "set an effect limit above five years",
            )
        if years is None or not isinstance(basis, Basis):
            return None
        self.max_years = years
        self.limited_by = f"max_effect, {basis}"
        return MaxEffect(years, str(basis))

    def scope(self, raw: object) -> Scope:
        item = self.mapping(raw, "scope", (), ("regions", "min_age"))
        if item is None:
            return Scope()
        regions: tuple[str, ...] = ()
        if "regions" in item:
            value = item["regions"]
            if not isinstance(value, list) or not value:
                self.problem("scope.regions", f"expected a non-empty list, got {value!r}")
            else:
                for entry in value:
                    if not isinstance(entry, str) or not REGION.match(entry):
                        self.problem(
                            "scope.regions",
                            f"expected quoted 2-, 4- or 6-digit division codes such as "
                            f'"371082", got {entry!r}',
                        )
                regions = tuple(v for v in value if isinstance(v, str))
                if len(set(regions)) != len(regions):
                    self.problem("scope.regions", "repeated division codes")
        min_age = self.integer(item, "min_age", "scope")
        if min_age is not None and not 1 <= min_age <= 150:
            self.problem("scope.min_age", f"expected an age from 1 to 150, got {min_age}")
            min_age = None
        if min_age is not None and "person" not in self.subject_kinds:
            self.problem("scope.min_age", "min_age is allowed only when person is in subjects")
            min_age = None
        return Scope(regions, min_age)

    def catalogue_code(self, code_id: object, where: str) -> tuple[str, Code | None]:
        if not isinstance(code_id, str) or code_id not in self.catalogue.codes:
            self.problem(
                where,
                f"code {code_id!r} is not in the catalogue ({self.catalogue.source}); "
                "add it there with its legal basis, or fix the spelling",
            )
            return str(code_id), None
        code = self.catalogue.codes[code_id]
        if self.subject_kinds and not set(code.subjects) & set(self.subject_kinds):
            self.problem(
                where,
                f"code {code_id!r} applies only to {', '.join(code.subjects)} and can never "
                f"apply to this scheme's subjects ({', '.join(self.subject_kinds)})",
            )
        return code_id, code

    def signed_points(self, value: int | None, code: Code | None, where: str) -> None:
        if value is None or code is None:
            return
        if value == 0:
            self.problem(where, "points must not be 0; leave the code out of the scheme instead")
        elif (value < 0) != (code.polarity == "negative"):
            sign = "negative (below 0)" if code.polarity == "negative" else "positive (above 0)"
            self.problem(where, f"code {code.id!r} is {code.polarity}: its points must be {sign}")

    def rule(self, raw: object, where: str) -> Rule | None:
        item = self.mapping(raw, where, RULE_KEYS, RULE_OPTIONAL)
        if item is None:
            return None
        code_id, code = self.catalogue_code(item.get("code"), f"{where}.code")
        points = self.integer(item, "points", where)
        tiers: list[Tier] = []
        if ("points" in item) == ("tiers" in item):
            self.problem(where, "give exactly one of 'points' or 'tiers'")
        self.signed_points(points, code, f"{where}.points")
        raw_tiers = item.get("tiers", [])
        if "tiers" in item and (not isinstance(raw_tiers, list) or not raw_tiers):
            self.problem(f"{where}.tiers", "expected a non-empty list of {min_amount, points}")
            raw_tiers = []
        for t_index, raw_tier in enumerate(raw_tiers):
            t_where = f"{where}.tiers[{t_index}]"
            tier = self.mapping(raw_tier, t_where, ("min_amount", "points"))
            if tier is None:
                continue
            min_amount = self.get(tier, "min_amount", t_where, _decimal, "a non-negative number")
            tier_points = self.integer(tier, "points", t_where)
            self.signed_points(tier_points, code, f"{t_where}.points")
            if min_amount is not None and tier_points is not None:
                tiers.append(Tier(min_amount, tier_points))
        if tiers and tiers[0].min_amount != 0:
            self.problem(f"{where}.tiers", "the first tier must start at min_amount: 0")
        for before, after in pairwise(tiers):
            if after.min_amount <= before.min_amount:
                self.problem(
                    f"{where}.tiers", "min_amount must strictly increase from tier to tier"
                )
                break
        window = self.window(item, where)
        cap = self.integer(item, "cap", where)
        if cap is not None and cap < 1:
            self.problem(
                f"{where}.cap",
                f"cap limits the rule's total in magnitude: use 1 or more, got {cap}",
            )
        return Rule(
            code=code_id,
            points=points,
            tiers=tuple(tiers),
            valid=self.required_duration(item, "valid", "valid_days", where),
            legal_basis=self.legal_basis(item, where),
            ends_on_fulfilment=self.flag(item, "ends_on_fulfilment", where),
            cap=cap,
            conduct_from=window[0],
            conduct_until=window[1],
        )

    def score(self, raw: object) -> Score | None:
        item = self.mapping(raw, "score", SCORE_KEYS)
        if item is None:
            return None
        base, low, high = (self.integer(item, key, "score") for key in ("base", "min", "max"))
        if low is not None and high is not None and low > high:
            self.problem("score", f"min ({low}) must not exceed max ({high})")
        if None not in (base, low, high) and not cast(int, low) <= cast(int, base) <= cast(
            int, high
        ):
            self.problem("score.base", f"base {base} must lie within [min, max] = [{low}, {high}]")
        grades: list[Grade] = []
        raw_grades = item.get("grades", [])
        if not isinstance(raw_grades, list) or not raw_grades:
            self.problem("score.grades", "expected a non-empty list of {grade, min}, best first")
            raw_grades = []
        for g_index, raw_grade in enumerate(raw_grades):
            g_where = f"score.grades[{g_index}]"
            band = self.mapping(raw_grade, g_where, ("grade", "min"))
            if band is None:
                continue
            name = band.get("grade")
            name = str(name) if isinstance(name, str | int) and str(name).strip() else None
            if name is None:
                self.problem(f"{g_where}.grade", "expected a grade name such as AAA")
            minimum = self.integer(band, "min", g_where)
            if name is not None and minimum is not None:
                grades.append(Grade(name, minimum))
        self.unique_ids([(f"score.grades[{i}]", g.grade) for i, g in enumerate(grades)], "grade")
        for before, after in pairwise(grades):
            if after.min >= before.min:
                self.problem(
                    "score.grades",
                    f"grade minimums must strictly decrease, best grade first "
                    f"({before.grade} {before.min}, then {after.grade} {after.min})",
                )
                break
        if grades and low is not None and grades[-1].min > low:
            self.problem(
                "score.grades",
                f"the last band ({grades[-1].grade}) starts at {grades[-1].min}, above "
                f"score.min ({low}): every score must fall in a band; lower it to {low} or less",
            )
        rules: list[Rule] = []
        raw_rules = item.get("rules", [])
        if not isinstance(raw_rules, list):
            self.problem("score.rules", "expected a list of rules")
            raw_rules = []
        for r_index, raw_rule in enumerate(raw_rules):
            code = raw_rule.get("code") if isinstance(raw_rule, dict) else None
            rule = self.rule(raw_rule, f"score.rules[{r_index}]" + (f" ({code})" if code else ""))
            if rule is not None:
                rules.append(rule)
        for first_index, first in enumerate(rules):
            for second in rules[first_index + 1 :]:
                if first.code == second.code and _overlap(first, second):
                    self.problem(
                        "score.rules",
                        f"two rules for code {first.code!r} whose conduct windows overlap "
                        f"({first.label.removeprefix(first.code).strip() or 'open'} and "
                        f"{second.label.removeprefix(second.code).strip() or 'open'}); merge "
                        "them, or give them disjoint conduct_from/conduct_until windows",
                    )
        return Score(
            base=base or 0, min=low or 0, max=high or 0, grades=tuple(grades), rules=tuple(rules)
        )

    def list_(self, raw: object, where: str) -> CodeList | GradeList | None:
        by_grade = isinstance(raw, dict) and "grades" in raw
        optional = GRADE_LIST_OPTIONAL if by_grade else CODE_LIST_OPTIONAL
        item = self.mapping(raw, where, LIST_KEYS, optional)
        if item is None:
            return None
        list_id = self.identifier(
            item, "id", where, NAME_ID, "a lowercase id such as spc-defaulters"
        )
        kind = self.choice(item, "kind", where, ("black", "red"))
        common: dict[str, Any] = {
            "id": list_id or "",
            "kind": kind,
            "title": self.text(item, "title", where) or "",
            "legal_basis": self.legal_basis(item, where, "black list" if kind == "black" else None),
            "public": self.flag(item, "public", where),
            "description": self.text(item, "description", where),
        }
        if by_grade:
            screen(self, item, where)
            return GradeList(
                grades=self.string_list(item, "grades", where),
                exclusive_of=self.string_list(item, "exclusive_of", where, allow_empty=True),
                **common,
            )
        if "codes" not in item:
            self.problem(where, "a list needs either 'codes' (with 'duration_days') or 'grades'")
        screen(self, item, where)
        codes = self.string_list(item, "codes", where)
        for code_id in codes:
            _, code = self.catalogue_code(code_id, f"{where}.codes")
            wanted = {"black": "negative", "red": "positive"}.get(str(kind))
            if code is not None and wanted and code.polarity != wanted:
                self.problem(
                    f"{where}.codes",
                    f"a {kind} list may only hold {wanted} codes; {code_id!r} is {code.polarity}",
                )
        min_amount = self.get(item, "min_amount", where, _decimal, "a non-negative number")
        window = self.window(item, where)
        starts_after = self.duration(item, "starts_after", where)
        self.limited(starts_after, f"{where}.starts_after", "starts_after")
        extendable = self.duration(item, "extendable", where)
        duration = (
            self.required_duration(item, "duration", "duration_days", where)
            if "codes" in item
            else Duration(1)
        )
        if extendable is not None:
            self.limited_sum(duration, extendable, f"{where}.extendable", "duration + extendable")
        return CodeList(
            conduct_from=window[0],
            conduct_until=window[1],
            starts_after=starts_after,
            extendable=extendable,
            codes=codes,
            duration=duration,
            min_amount=min_amount,
            ends_on_fulfilment=self.flag(item, "ends_on_fulfilment", where),
            **common,
        )

    def measure(
        self, raw: object, where: str, lists: Mapping[str, CodeList | GradeList], grades: set[str]
    ) -> Measure | None:
        item = self.mapping(raw, where, MEASURE_KEYS, MEASURE_OPTIONAL)
        if item is None:
            return None
        screen(self, item, where)
        if "target" in item and item["target"] != "subject":
            self.problem(
                f"{where}.target",
                f"a measure applies to the subject itself and to no one else (target: "
                f"subject), got {item['target']!r}",
            )
        measure_id = self.identifier(
            item, "id", where, NAME_ID, "a lowercase id such as no-flights"
        )
        kind = self.choice(item, "kind", where, ("restriction", "incentive"))
        when = self.mapping(item.get("when", {}), f"{where}.when", (), ("lists", "grades"))
        when = when or {}
        when_lists = self.string_list(when, "lists", f"{where}.when")
        when_grades = self.string_list(when, "grades", f"{where}.when")
        if "when" in item and not when_lists and not when_grades:
            self.problem(f"{where}.when", "a measure needs a trigger: 'lists' and/or 'grades'")
        for list_id in when_lists:
            lst = lists.get(list_id)
            if lst is None:
                self.problem(f"{where}.when.lists", f"no list {list_id!r} in this scheme")
            elif kind == "restriction" and lst.kind == "red":
                self.problem(
                    f"{where}.when.lists",
                    f"a restriction cannot be triggered by the red list {list_id!r}",
                )
            elif kind == "incentive" and lst.kind == "black":
                self.problem(
                    f"{where}.when.lists",
                    f"an incentive cannot be triggered by the black list {list_id!r}",
                )
        self.known_grades(when_grades, grades, f"{where}.when.grades", "grade measures")
        return Measure(
            id=measure_id or "",
            agency=self.text(item, "agency", where) or "",
            kind=cast(Any, kind),
            title=self.text(item, "title", where) or "",
            legal_basis=self.legal_basis(
                item, where, "restriction" if kind == "restriction" else None
            ),
            lists=when_lists,
            grades=when_grades,
            description=self.text(item, "description", where),
        )

    def known_grades(
        self, wanted: tuple[str, ...], grades: set[str], where: str, what: str
    ) -> None:
        if wanted and not grades:
            self.problem(where, f"{what} need a 'score' section with grades")
            return
        for grade in wanted:
            if grade not in grades:
                self.problem(
                    where, f"no grade {grade!r} in score.grades ({', '.join(sorted(grades))})"
                )


def parse_scheme(
    text: str,
    *,
    catalogue: Catalogue,
    source: str = "<scheme>",
) -> Scheme:
    """Parse and validate a scheme against a catalogue. Raises PolicyError with every problem."""
    reader = _SchemeReader(source, catalogue)
    doc = reader.mapping(_load_yaml(text, source), "scheme", SCHEME_KEYS, SCHEME_OPTIONAL)
    if doc is None:
        reader.finish()
        raise AssertionError("unreachable")
    scheme_id = reader.identifier(
        doc, "id", "scheme", NAME_ID, "a lowercase id such as spc-defaulters"
    )
    version = reader.integer(doc, "version", "scheme")
    if version is not None and version < 1:
        reader.problem("scheme.version", f"version must be 1 or more, got {version}")
    reader.subject_kinds = reader.subjects(doc, "scheme")
    effective_from = reader.get(doc, "effective_from", "scheme", _date, "a date YYYY-MM-DD")
    reader.day = effective_from  # the day every legal basis must be in force
    max_effect = (
        reader.max_effect(doc["max_effect"], effective_from) if "max_effect" in doc else None
    )
    scope = reader.scope(doc["scope"]) if "scope" in doc else Scope()
    score = reader.score(doc["score"]) if "score" in doc else None
    grades = {g.grade for g in score.grades} if score else set()

    lists: dict[str, CodeList | GradeList] = {}
    raw_lists = doc.get("lists", [])
    if not isinstance(raw_lists, list):
        reader.problem("lists", "expected a list of lists")
        raw_lists = []
    ids: list[tuple[str, str]] = []
    for index, raw in enumerate(raw_lists):
        label = raw.get("id") if isinstance(raw, dict) else None
        where = f"lists[{index}]" + (f" ({label})" if isinstance(label, str) else "")
        lst = reader.list_(raw, where)
        if lst is not None and lst.id:
            ids.append((where, lst.id))
            lists.setdefault(lst.id, lst)
    reader.unique_ids(ids, "list")
    for lst in lists.values():
        if isinstance(lst, GradeList):
            where = f"lists ({lst.id})"
            reader.known_grades(lst.grades, grades, f"{where}.grades", "grade lists")
            for other in lst.exclusive_of:
                found = lists.get(other)
                if not isinstance(found, CodeList):
                    reader.problem(
                        f"{where}.exclusive_of", f"{other!r} is not a code list of this scheme"
                    )
                elif lst.kind == "black" and found.kind == "red":
                    reader.problem(
                        f"{where}.exclusive_of",
                        f"a black list may be exclusive only of black lists; {other!r} is red "
                        "(black lists never depend on red ones: rule 14)",
                    )

    measures: list[Measure] = []
    raw_measures = doc.get("measures", [])
    if not isinstance(raw_measures, list):
        reader.problem("measures", "expected a list of measures")
        raw_measures = []
    for index, raw in enumerate(raw_measures):
        label = raw.get("id") if isinstance(raw, dict) else None
        where = f"measures[{index}]" + (f" ({label})" if isinstance(label, str) else "")
        measure = reader.measure(raw, where, lists, grades)
        if measure is not None:
            measures.append(measure)
    reader.unique_ids([(f"measures ({m.id})", m.id) for m in measures if m.id], "measure")
    reader.finish()
    return Scheme(
        id=cast(str, scheme_id),
        version=cast(int, version),
        title=cast(str, reader.text(doc, "title", "scheme")),
        subjects=reader.subject_kinds,
        score=score,
        lists=tuple(lists.values()),
        measures=tuple(measures),
        description=reader.text(doc, "description", "scheme"),
        jurisdiction=reader.text(doc, "jurisdiction", "scheme"),
        effective_from=effective_from,
        source=source,
        objection_suspends_effect=reader.flag(doc, "objection_suspends_effect", "scheme"),
        max_effect=max_effect,
        scope=scope,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from error


def load_catalogue(path: Path) -> Catalogue:
    return parse_catalogue(_read(path), source=str(path))


def load_scheme(path: Path, *, catalogue: Catalogue) -> Scheme:
    return parse_scheme(_read(path), catalogue=catalogue, source=str(path))
