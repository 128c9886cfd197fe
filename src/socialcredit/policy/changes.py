"""What a new version of a scheme changes, milder or harsher, and whether it may be published.

Publication is lawful by construction (policy language v2, "Lawful publication"): compared
with the version in force, each change is milder, equal or harsher for the subjects. Then

- **no back-dating, no retroactive harshness** (lex mitior): a version whose
  ``effective_from`` is before its publication day may only be milder or equal;
- a harsher **rule or list** reaches only conduct from the version's ``effective_from`` on
  (the rule or list carries ``conduct_from`` on or after it; the old one is kept with
  ``conduct_until`` the day before — rules are matched across versions by code and window,
  lists by id);
- a harsher **grade band, measure or population** takes effect no earlier than the notice
  period after publication (``SOCIALCREDIT_POLICY_NOTICE_DAYS``, default 30).

:func:`compare` lists the changes; :func:`refusals` says what may not be published and how
to fix it. Both are pure: the registry calls them in ``policy publish`` and ``POST
/v1/policies`` (:func:`socialcredit.registry.policies.publish_scheme`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from socialcredit.policy.model import (
    CodeList,
    Duration,
    GradeList,
    Measure,
    Rule,
    Scheme,
    window_label,
)

Area = Literal["rule", "list", "band", "measure", "population"]
# Reference days for comparing lengths in different units (every day of a common and a leap
# year): one length is longer than another when it ends later from any of them.
_DAYS = tuple(dt.date(2023, 1, 1) + dt.timedelta(days=n) for n in range(731))
_OPEN_START, _OPEN_END = dt.date.min, dt.date.max


@dataclass(frozen=True)
class Change:
    """One difference between two versions: where, what, and which way it cuts."""

    area: Area
    item: str  # "score.rules traffic.ticket", "lists defaulters", "measures no-air-travel", …
    what: str
    harsher: bool
    prospective: bool = False  # a rule or list that reaches only conduct from effective_from

    def __str__(self) -> str:
        return f"{self.item}: {self.what} ({'harsher' if self.harsher else 'milder'})"


def _cmp(new: Duration | None, old: Duration | None) -> tuple[bool, bool]:
    """(longer, shorter): whether ``new`` ends later / earlier than ``old`` from some day
    (None: no length)."""
    if new == old:
        return False, False
    ends_new = [new.after(d) if new else d for d in _DAYS]
    ends_old = [old.after(d) if old else d for d in _DAYS]
    pairs = list(zip(ends_new, ends_old, strict=True))
    return any(a > b for a, b in pairs), any(a < b for a, b in pairs)


def _length(value: Duration | None) -> str:
    return str(value) if value else "none"


def _window(first: dt.date | None, last: dt.date | None) -> tuple[dt.date, dt.date]:
    return first or _OPEN_START, last or _OPEN_END


def _overlaps(a: tuple[dt.date, dt.date], b: tuple[dt.date, dt.date]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _uncovered(span: tuple[dt.date, dt.date], cover: list[tuple[dt.date, dt.date]]) -> bool:
    """Whether some day of ``span`` lies in none of ``cover``."""
    start = span[0]
    for first, last in sorted(cover):
        if first > start:
            return True
        if last >= start:
            if last >= span[1]:
                return False
            start = last + dt.timedelta(days=1)
    return start <= span[1]


def _negative(rule: Rule) -> bool:
    points = rule.points if rule.points is not None else rule.tiers[0].points
    return points < 0


def _amounts(*rules: Rule) -> list[Decimal]:
    found = {Decimal(0)}
    for rule in rules:
        found.update(tier.min_amount for tier in rule.tiers)
    return sorted(found)


def _rule_changes(new: Rule, old: Rule, item: str, prospective: bool) -> list[Change]:
    """How a rule changed against an old rule for the same code over the conduct both cover.
    For a negative rule more points against, a longer effect, a higher or no cap and
    effects that no longer end on fulfilment are harsher; for a positive rule, fewer points, a
    shorter effect and a lower cap."""
    found: list[Change] = []
    bad = _negative(old)

    def add(what: str, harsher: bool) -> None:
        found.append(Change("rule", item, what, harsher, prospective))

    for amount in _amounts(new, old):
        a, b = new.points_for(amount), old.points_for(amount)
        if a != b:
            add(f"points {b} → {a} (amount {amount})", a < b)
            break
    longer, shorter = _cmp(new.valid, old.valid)
    if longer or shorter:
        add(f"valid {old.valid} → {new.valid}", (longer if bad else shorter))
    if new.cap != old.cap:
        raised = old.cap is not None and (new.cap is None or new.cap > old.cap)
        add(f"cap {old.cap or 'none'} → {new.cap or 'none'}", raised if bad else not raised)
    if new.ends_on_fulfilment != old.ends_on_fulfilment:
        add(
            "ends_on_fulfilment " + ("added" if new.ends_on_fulfilment else "removed"),
            bad and not new.ends_on_fulfilment,
        )
    return found


def _rules(old: Scheme, new: Scheme) -> list[Change]:
    effective = new.effective_from
    old_rules = old.score.rules if old.score else ()
    new_rules = new.score.rules if new.score else ()
    found: list[Change] = []
    for rule in new_rules:
        item = f"score.rules {rule.label}"
        span = _window(rule.conduct_from, rule.conduct_until)
        prospective = (
            effective is not None
            and rule.conduct_from is not None
            and rule.conduct_from >= effective
        )
        matches = [
            o
            for o in old_rules
            if o.code == rule.code and _overlaps(span, _window(o.conduct_from, o.conduct_until))
        ]
        for other in matches:
            found += _rule_changes(rule, other, item, prospective)
        covered = [_window(o.conduct_from, o.conduct_until) for o in matches]
        if _uncovered(span, covered):
            found.append(
                Change(
                    "rule",
                    item,
                    "new rule" + ("" if not matches else " for conduct the old rules left out"),
                    _negative(rule),
                    prospective,
                )
            )
    for rule in old_rules:
        span = _window(rule.conduct_from, rule.conduct_until)
        cover = [_window(n.conduct_from, n.conduct_until) for n in new_rules if n.code == rule.code]
        if _uncovered(span, cover):
            what = "rule removed" if not cover else "rule narrowed (conduct it no longer covers)"
            found.append(Change("rule", f"score.rules {rule.label}", what, not _negative(rule)))
    return found


def _widened(new: CodeList, old: CodeList) -> tuple[bool, bool]:
    """(wider, narrower) conduct window."""
    (a0, a1), (b0, b1) = (
        _window(new.conduct_from, new.conduct_until),
        _window(old.conduct_from, old.conduct_until),
    )
    return a0 < b0 or a1 > b1, a0 > b0 or a1 < b1


def _code_list_changes(new: CodeList, old: CodeList, item: str, prospective: bool) -> list[Change]:
    black = new.kind == "black"
    found: list[Change] = []

    def add(what: str, worse_if_black: bool) -> None:
        found.append(Change("list", item, what, worse_if_black == black, prospective))

    added, removed = set(new.codes) - set(old.codes), set(old.codes) - set(new.codes)
    if added:
        add(f"codes added: {', '.join(sorted(added))}", True)
    if removed:
        add(f"codes removed: {', '.join(sorted(removed))}", False)
    longer, shorter = _cmp(new.duration, old.duration)
    if longer or shorter:
        add(f"duration {old.duration} → {new.duration}", longer)
    if new.min_amount != old.min_amount:
        lower = new.min_amount is None or (
            old.min_amount is not None and new.min_amount < old.min_amount
        )
        add(f"min_amount {old.min_amount or 'none'} → {new.min_amount or 'none'}", lower)
    if new.ends_on_fulfilment != old.ends_on_fulfilment:
        add(
            "ends_on_fulfilment " + ("added" if new.ends_on_fulfilment else "removed"),
            not new.ends_on_fulfilment,
        )
    longer, shorter = _cmp(new.starts_after, old.starts_after)
    if longer or shorter:
        add(f"starts_after {_length(old.starts_after)} → {_length(new.starts_after)}", shorter)
    longer, shorter = _cmp(new.extendable, old.extendable)
    if longer or shorter:
        add(f"extendable {_length(old.extendable)} → {_length(new.extendable)}", longer)
    wider, narrower = _widened(new, old)
    if wider or narrower:
        old_window = window_label(old.conduct_from, old.conduct_until).strip() or "(open)"
        new_window = window_label(new.conduct_from, new.conduct_until).strip() or "(open)"
        add(f"conduct window {old_window} → {new_window}", wider and not narrower)
    return found


def _grade_list_changes(new: GradeList, old: GradeList, item: str) -> list[Change]:
    black = new.kind == "black"
    found: list[Change] = []
    added, removed = set(new.grades) - set(old.grades), set(old.grades) - set(new.grades)
    if added:
        found.append(Change("list", item, f"grades added: {', '.join(sorted(added))}", black))
    if removed:
        found.append(
            Change("list", item, f"grades removed: {', '.join(sorted(removed))}", not black)
        )
    more = set(new.exclusive_of) - set(old.exclusive_of)
    fewer = set(old.exclusive_of) - set(new.exclusive_of)
    if more:
        found.append(
            Change("list", item, f"exclusive_of added: {', '.join(sorted(more))}", not black)
        )
    if fewer:
        found.append(
            Change("list", item, f"exclusive_of removed: {', '.join(sorted(fewer))}", black)
        )
    return found


def _lists(old: Scheme, new: Scheme) -> list[Change]:
    effective = new.effective_from
    before = {lst.id: lst for lst in old.lists}
    found: list[Change] = []
    for lst in new.lists:
        item = f"lists {lst.id}"
        prospective = (
            isinstance(lst, CodeList)
            and effective is not None
            and lst.conduct_from is not None
            and lst.conduct_from >= effective
        )
        previous = before.get(lst.id)
        if previous is None:
            found.append(
                Change("list", item, f"new {lst.kind} list", lst.kind == "black", prospective)
            )
            continue
        if previous.kind != lst.kind or type(previous) is not type(lst):
            found.append(Change("list", item, f"{previous.kind} list became {lst.kind}", True))
        elif isinstance(lst, CodeList) and isinstance(previous, CodeList):
            found += _code_list_changes(lst, previous, item, prospective)
        elif isinstance(lst, GradeList) and isinstance(previous, GradeList):
            found += _grade_list_changes(lst, previous, item)
        if lst.public and not previous.public and lst.kind == "black":
            found.append(Change("list", item, "made public", True, prospective))
    after = {lst.id for lst in new.lists}
    for lst in old.lists:
        if lst.id not in after:
            found.append(
                Change("list", f"lists {lst.id}", f"{lst.kind} list removed", lst.kind == "red")
            )
    return found


def _measures(old: Scheme, new: Scheme) -> list[Change]:
    before = {m.id: m for m in old.measures}
    found: list[Change] = []

    def triggers(m: Measure) -> set[str]:
        return {f"list {i}" for i in m.lists} | {f"grade {g}" for g in m.grades}

    for measure in new.measures:
        item = f"measures {measure.id}"
        restriction = measure.kind == "restriction"
        previous = before.get(measure.id)
        if previous is None:
            found.append(Change("measure", item, f"new {measure.kind}", restriction))
            continue
        if previous.kind != measure.kind:
            found.append(Change("measure", item, f"{previous.kind} became {measure.kind}", True))
            continue
        added = triggers(measure) - triggers(previous)
        removed = triggers(previous) - triggers(measure)
        if added:
            found.append(
                Change("measure", item, f"triggers added: {', '.join(sorted(added))}", restriction)
            )
        if removed:
            found.append(
                Change(
                    "measure",
                    item,
                    f"triggers removed: {', '.join(sorted(removed))}",
                    not restriction,
                )
            )
    after = {m.id for m in new.measures}
    for measure in old.measures:
        if measure.id not in after:
            found.append(
                Change(
                    "measure",
                    f"measures {measure.id}",
                    f"{measure.kind} removed",
                    measure.kind == "incentive",
                )
            )
    return found


def _bands(old: Scheme, new: Scheme) -> list[Change]:
    found: list[Change] = []
    if old.score is None or new.score is None:
        if old.score is not None or new.score is not None:
            found.append(
                Change("band", "score", "score added" if new.score else "score removed", True)
            )
        return found
    a, b = new.score, old.score
    for name, x, y in (("base", a.base, b.base), ("min", a.min, b.min), ("max", a.max, b.max)):
        if x != y:
            found.append(Change("band", f"score.{name}", f"{y} → {x}", x < y))
    grades_new = {g.grade: g.min for g in a.grades}
    grades_old = {g.grade: g.min for g in b.grades}
    if list(grades_new) != list(grades_old):
        found.append(
            Change(
                "band",
                "score.grades",
                f"grades {', '.join(grades_old)} → {', '.join(grades_new)}",
                True,
            )
        )
        return found
    for grade, minimum in grades_new.items():
        if minimum != grades_old[grade]:
            found.append(
                Change(
                    "band",
                    f"score.grades {grade}",
                    f"min {grades_old[grade]} → {minimum}",
                    minimum > grades_old[grade],
                )
            )
    return found


def _population(old: Scheme, new: Scheme) -> list[Change]:
    found: list[Change] = []
    gained = set(new.subjects) - set(old.subjects)
    lost = set(old.subjects) - set(new.subjects)
    if gained:
        found.append(Change("population", "subjects", f"added {', '.join(sorted(gained))}", True))
    if lost:
        found.append(Change("population", "subjects", f"removed {', '.join(sorted(lost))}", False))

    def covered(prefix: str, regions: tuple[str, ...]) -> bool:
        return not regions or any(prefix.startswith(r) for r in regions)

    a, b = new.scope.regions, old.scope.regions
    wider = any(not covered(r, b) for r in a) or (b and not a)
    narrower = any(not covered(r, a) for r in b) or (a and not b)
    if wider or narrower:
        found.append(
            Change(
                "population",
                "scope.regions",
                f"{', '.join(b) or 'everywhere'} → {', '.join(a) or 'everywhere'}",
                bool(wider),
            )
        )
    x, y = new.scope.min_age, old.scope.min_age
    if x != y:
        younger = x is None or (y is not None and x < y)
        found.append(
            Change("population", "scope.min_age", f"{y or 'none'} → {x or 'none'}", younger)
        )
    if old.objection_suspends_effect and not new.objection_suspends_effect:
        found.append(Change("population", "objection_suspends_effect", "true → false", True))
    elif new.objection_suspends_effect and not old.objection_suspends_effect:
        found.append(Change("population", "objection_suspends_effect", "false → true", False))
    return found


def compare(old: Scheme, new: Scheme) -> list[Change]:
    """Every change from ``old`` (the version in force) to ``new``, each milder or harsher."""
    return (
        _population(old, new)
        + _bands(old, new)
        + _rules(old, new)
        + _lists(old, new)
        + _measures(old, new)
    )


def refusals(
    changes: list[Change], new: Scheme, *, published_on: dt.date, notice_days: int
) -> list[str]:
    """Why the version may not be published, one line per harsher change, each with the fix;
    empty when it may."""
    effective = new.effective_from
    starts = effective.isoformat() if effective else "the start (no effective_from)"
    found: list[str] = []
    earliest = published_on + dt.timedelta(days=notice_days)
    for change in changes:
        if not change.harsher:
            continue
        if effective is None or effective < published_on:
            found.append(
                f"{change.item}: {change.what} is harsher, and the version takes effect on "
                f"{starts}, before its publication on {published_on.isoformat()}: a back-dated "
                "version may only be milder or equal (lex mitior); give it an effective_from "
                f"on or after {published_on.isoformat()}"
                + (
                    f" ({earliest.isoformat()} for a {change.area})"
                    if change.area in ("band", "measure", "population")
                    else ""
                )
            )
            continue
        if change.area == "rule" and not change.prospective:
            day_before = (effective - dt.timedelta(days=1)).isoformat()
            found.append(
                f"{change.item}: {change.what} is harsher for conduct before {starts}: keep the "
                f"old rule with conduct_until: {day_before} and add the harsher one with "
                f"conduct_from: {effective.isoformat()} (or later)"
            )
        elif change.area == "list" and not change.prospective:
            day_before = (effective - dt.timedelta(days=1)).isoformat()
            found.append(
                f"{change.item}: {change.what} is harsher for conduct before {starts}: give the "
                f"harsher list a new id with conduct_from: {effective.isoformat()} (or later), "
                f"add conduct_until: {day_before} to the old one, and let the measures name both"
                if change.what != "new black list"
                else f"{change.item}: a new black list reaches conduct before {starts}: give it "
                f"conduct_from: {effective.isoformat()} (or later)"
            )
        elif change.area in ("band", "measure", "population") and effective < earliest:
            found.append(
                f"{change.item}: {change.what} is harsher: it may take effect no earlier than "
                f"{earliest.isoformat()}, {notice_days} days after publication "
                "(SOCIALCREDIT_POLICY_NOTICE_DAYS); give the version that effective_from or later"
            )
    return found
