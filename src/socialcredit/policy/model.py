"""The policy language's domain types: a catalogue of codes and versioned schemes.

Instances are built only by :mod:`socialcredit.policy.loader`, which validates them; every
instance in memory has passed the guardrails.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from socialcredit.identifiers import Kind

Polarity = Literal["negative", "positive"]
Severity = Literal["minor", "general", "serious"]
ListKind = Literal["black", "red"]
MeasureKind = Literal["restriction", "incentive"]

DEFAULT_MAX_EFFECT_DAYS = 1826  # five years: the limit of the credit-reporting regulation
ABSOLUTE_MAX_EFFECT_DAYS = 3653  # ten years: the most a registry may raise it to


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
    valid_days: int
    legal_basis: str
    ends_on_fulfilment: bool = False
    cap: int | None = None

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
    duration_days: int
    public: bool = False
    min_amount: Decimal | None = None
    ends_on_fulfilment: bool = False
    description: str | None = None


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

    @property
    def code_lists(self) -> tuple[CodeList, ...]:
        return tuple(lst for lst in self.lists if isinstance(lst, CodeList))

    @property
    def grade_lists(self) -> tuple[GradeList, ...]:
        return tuple(lst for lst in self.lists if isinstance(lst, GradeList))

    def codes_used(self) -> frozenset[str]:
        rules = {rule.code for rule in self.score.rules} if self.score else set()
        return frozenset(rules.union(*(lst.codes for lst in self.code_lists)))
