"""The policy language's domain types: a catalogue of codes and versioned schemes.

Instances are built only by :mod:`socialcredit.policy.loader`, which validates them; every
instance in memory has passed the guardrails.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from socialcredit.identifiers import Kind

Polarity = Literal["negative", "positive"]
Severity = Literal["minor", "general", "serious"]
ListKind = Literal["black", "red"]
MeasureKind = Literal["restriction", "incentive"]

DurationUnit = Literal["days", "months", "years"]

DEFAULT_MAX_EFFECT_YEARS = 5  # the limit of the credit-reporting regulation
ABSOLUTE_MAX_EFFECT_YEARS = 10  # the most a scheme's own max_effect may allow


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or that month's last day when it has none (the month-end
    rule of Civil Code art. 202): 2025-01-31 + 1 = 2025-02-28, 2024-02-29 + 12 = 2025-02-28.
    Past the calendar's end: ``date.max`` (an end that is never reached)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if year > dt.MAXYEAR:
        return dt.date.max
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


@dataclass(frozen=True)
class Duration:
    """A length of time in one calendar unit (DESIGN.md rule 10): ``{days|months|years: n}``.
    occurred_on is day one; adding gives the exclusive end."""

    n: int
    unit: DurationUnit = "days"

    @property
    def months(self) -> int | None:
        """The length in months (a year is 12), None for a length in days."""
        return {"days": None, "months": self.n, "years": 12 * self.n}[self.unit]

    def after(self, day: dt.date) -> dt.date:
        """``day`` plus this length: the exclusive end of an effect that starts on ``day``."""
        if self.months is None:
            try:
                return day + dt.timedelta(days=self.n)
            except OverflowError:
                return dt.date.max
        return add_months(day, self.months)

    def before(self, day: dt.date) -> dt.date:
        """The earliest start whose end (``after``) may lie past ``day``: a safe lower bound,
        counting a month as 31 days."""
        days = self.n if self.months is None else 31 * self.months
        return day - dt.timedelta(days=days)

    def limit_days(self) -> int:
        """The length counted against a limit in days: a month counts 31 days."""
        return self.n if self.months is None else 31 * self.months

    def __str__(self) -> str:
        unit = self.unit if self.n != 1 else self.unit[:-1]
        return f"{self.n} {unit}"


def limit_days(years: int) -> int:
    """A limit of ``years`` in days: 365 per year and a day per leap year it can span
    (1826 for five years, 3653 for ten)."""
    return 365 * years + (years + 2) // 4


@dataclass(frozen=True)
class MaxEffect:
    """A scheme's own limit on every effect, above the default five years (rule 15)."""

    years: int
    legal_basis: str


@dataclass(frozen=True)
class Code:
    id: str
    title: str
    ground: str
    polarity: Polarity
    subjects: tuple[Kind, ...]
    severity: Severity
    legal_basis: str
    description: str | None = None
    repairable: bool = True
    # How long the record's personal content is kept after it stops having effect (None: the
    # default five years of the credit-reporting regulation, art. 16; never longer)
    retention: Duration | None = None


@dataclass(frozen=True)
class Catalogue:
    codes: dict[str, Code]
    source: str = "<catalogue>"


@dataclass(frozen=True)
class Tier:
    min_amount: Decimal
    points: int


@dataclass(frozen=True)
class Rule:
    code: str
    points: int | None
    tiers: tuple[Tier, ...]
    valid: Duration
    legal_basis: str
    ends_on_fulfilment: bool = False
    cap: int | None = None
    conduct_from: dt.date | None = None
    conduct_until: dt.date | None = None

    @property
    def label(self) -> str:
        """The rule as explanations name it: its code, and its conduct window if it has one
        (``traffic.ticket (2026-01-01..)``)."""
        return self.code + window_label(self.conduct_from, self.conduct_until)

    def covers(self, occurred_on: dt.date) -> bool:
        return in_window(occurred_on, self.conduct_from, self.conduct_until)

    def points_for(self, amount: Decimal) -> int:
        """The rule's points for a record of this amount (the highest tier reached)."""
        if self.points is not None:
            return self.points
        reached = [tier.points for tier in self.tiers if tier.min_amount <= amount]
        return reached[-1]


@dataclass(frozen=True)
class Grade:
    grade: str
    min: int


@dataclass(frozen=True)
class Score:
    base: int
    min: int
    max: int
    grades: tuple[Grade, ...]
    rules: tuple[Rule, ...]

    def grade_of(self, score: int) -> str:
        return next(band.grade for band in self.grades if band.min <= score)


@dataclass(frozen=True)
class CodeList:
    id: str
    kind: ListKind
    title: str
    legal_basis: str
    codes: tuple[str, ...]
    duration: Duration
    public: bool = False
    min_amount: Decimal | None = None
    ends_on_fulfilment: bool = False
    description: str | None = None
    conduct_from: dt.date | None = None
    conduct_until: dt.date | None = None
    starts_after: Duration | None = None
    extendable: Duration | None = None

    def covers(self, occurred_on: dt.date) -> bool:
        return in_window(occurred_on, self.conduct_from, self.conduct_until)

    def start(self, occurred_on: dt.date) -> dt.date:
        """The first day of a record's window (rule 12: occurred_on + starts_after)."""
        return self.starts_after.after(occurred_on) if self.starts_after else occurred_on

    def end(self, occurred_on: dt.date, extended: dt.date | None) -> dt.date:
        """The exclusive end of a record's window before repair and fulfilment: start +
        duration, moved to min(extended, cap) by a later extension (rule 13)."""
        end = self.duration.after(self.start(occurred_on))
        if self.extendable is not None and extended is not None and extended > end:
            return min(extended, self.extendable.after(end))
        return end


def in_window(day: dt.date, first: dt.date | None, last: dt.date | None) -> bool:
    """Rule 11: inside a conduct window (inclusive bounds; a missing one is open)."""
    return (first is None or first <= day) and (last is None or day <= last)


def window_label(first: dt.date | None, last: dt.date | None) -> str:
    if first is None and last is None:
        return ""
    return f" ({first.isoformat() if first else ''}..{last.isoformat() if last else ''})"


@dataclass(frozen=True)
class GradeList:
    id: str
    kind: ListKind
    title: str
    legal_basis: str
    grades: tuple[str, ...]
    exclusive_of: tuple[str, ...] = ()
    public: bool = False
    description: str | None = None


@dataclass(frozen=True)
class Measure:
    id: str
    agency: str
    kind: MeasureKind
    title: str
    legal_basis: str
    lists: tuple[str, ...]
    grades: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True)
class Scope:
    """Who is in a scheme's population besides its subject kinds (DESIGN.md rule 9): the
    division code in the identifier starts with one of ``regions`` (person: characters 1-6,
    organisation: 3-8), and a person is at least ``min_age`` years old."""

    regions: tuple[str, ...] = ()
    min_age: int | None = None

    def region_of(self, identifier: str, kind: str) -> str:
        return identifier[:6] if kind == "person" else identifier[2:8]

    def in_region(self, identifier: str, kind: str) -> bool:
        if not self.regions:
            return True
        code = self.region_of(identifier, kind)
        return any(code.startswith(prefix) for prefix in self.regions)

    def birthday(self, identifier: str) -> dt.date:
        """The ``min_age``-th birthday of the person with this resident number (28 Feb for a
        29 Feb birth in a common year). A person is that age from the day after."""
        assert self.min_age is not None
        born = dt.date(int(identifier[6:10]), int(identifier[10:12]), int(identifier[12:14]))
        return add_months(born, 12 * self.min_age)

    def adult_from(self, identifier: str, kind: str) -> dt.date | None:
        """The first day the subject is old enough, None when the scheme has no age limit
        for it."""
        if self.min_age is None or kind != "person":
            return None
        birthday = self.birthday(identifier)
        return dt.date.max if birthday == dt.date.max else birthday + dt.timedelta(days=1)

    def latest_birth(self, as_of: dt.date) -> dt.date:
        """The latest birth date of a person who is ``min_age`` or older on ``as_of``."""
        assert self.min_age is not None
        months = 12 * self.min_age
        eve = as_of - dt.timedelta(days=1)  # of age on T: the birthday is on or before T - 1
        born = add_months(eve, -months)
        while add_months(born + dt.timedelta(days=1), months) <= eve:
            born += dt.timedelta(days=1)
        while add_months(born, months) > eve:
            born -= dt.timedelta(days=1)
        return born

    def outside(self, identifier: str, kind: str, as_of: dt.date) -> str | None:
        """Why the subject is outside the population on ``as_of`` (kind aside), else None."""
        if not self.in_region(identifier, kind):
            return (
                f"the division code {self.region_of(identifier, kind)} is not in the scheme's "
                f"regions ({', '.join(self.regions)})"
            )
        adult = self.adult_from(identifier, kind)
        if adult is not None and as_of < adult:
            return f"the scheme applies to persons of {self.min_age} or older"
        return None


@dataclass(frozen=True)
class Scheme:
    id: str
    version: int
    title: str
    subjects: tuple[Kind, ...]
    score: Score | None
    lists: tuple[CodeList | GradeList, ...]
    measures: tuple[Measure, ...]
    description: str | None = None
    jurisdiction: str | None = None
    effective_from: dt.date | None = None
    source: str = "<scheme>"
    # While a visible objection to a record is undecided, the record has no effect (DESIGN.md
    # step 2 and 5, extended: docs/evaluation.md "Objections").
    objection_suspends_effect: bool = False
    max_effect: MaxEffect | None = None
    scope: Scope = field(default_factory=lambda: Scope())

    @property
    def max_effect_years(self) -> int:
        return self.max_effect.years if self.max_effect else DEFAULT_MAX_EFFECT_YEARS

    @property
    def code_lists(self) -> tuple[CodeList, ...]:
        return tuple(lst for lst in self.lists if isinstance(lst, CodeList))

    @property
    def grade_lists(self) -> tuple[GradeList, ...]:
        return tuple(lst for lst in self.lists if isinstance(lst, GradeList))

    @property
    def bars(self) -> bool:
        """Whether the scheme has a black list (rule 14: its subjects on one are barred from
        every red list and incentive evaluated with it)."""
        return any(lst.kind == "black" for lst in self.lists)

    @property
    def rewards(self) -> bool:
        """Whether the scheme has a red list or an incentive measure (what rule 14 bars)."""
        return any(lst.kind == "red" for lst in self.lists) or any(
            m.kind == "incentive" for m in self.measures
        )

    def codes_used(self) -> frozenset[str]:
        rules = {rule.code for rule in self.score.rules} if self.score else set()
        return frozenset(rules.union(*(lst.codes for lst in self.code_lists)))
