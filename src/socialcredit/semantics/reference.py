"""The reference evaluator: DESIGN.md's evaluation semantics, per subject, in plain Python.

Read it next to DESIGN.md "Evaluation semantics"; the step numbers in comments are that
section's. Every faster engine must produce byte-identical output to this one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from socialcredit.identifiers import Kind
from socialcredit.policy.model import Catalogue, CodeList, Duration, Scheme
from socialcredit.semantics.fields import (
    CONFLICT,
    NOT_EXTENDABLE,
    UNKNOWN_RECORD,
    Event,
    Record,
    Rejection,
    read_event,
    read_record,
)

Key = tuple[str, str]  # (furnisher, record_id)


@dataclass(frozen=True)
class Standing:
    """One subject's standing at T as known at K, in the canonical output shape."""

    subject_id: str
    kind: Kind
    score: int | None
    grade: str | None
    lists: tuple[str, ...]
    measures: tuple[str, ...]
    explanation: dict[str, Any] | None = None

    def to_json(self, scheme: str | None = None) -> str:
        """One canonical JSON line (without the newline): fixed key order, no spaces, UTF-8;
        with ``scheme`` (two or more schemes evaluated together) it begins with that key."""
        data: dict[str, Any] = {} if scheme is None else {"scheme": scheme}
        data |= {
            "subject_id": self.subject_id,
            "kind": self.kind,
            "score": self.score,
            "grade": self.grade,
            "lists": list(self.lists),
            "measures": list(self.measures),
        }
        if self.explanation is not None:
            data["explanation"] = self.explanation
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Accepted:
    """The outcome of reading a records file: accepted records, rejections, no-op repeats."""

    records: list[Record] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    noops: int = 0


def catalogue_kinds(catalogue: Catalogue) -> dict[str, tuple[str, ...]]:
    return {code.id: tuple(code.subjects) for code in catalogue.codes.values()}


def accept_records(
    rows: Iterable[tuple[int, Mapping[str, str | None]]], catalogue: Catalogue
) -> Accepted:
    """Read record rows in file order. The first valid row of a key is accepted; a later row
    with equal parsed fields is a no-op, with any field different a conflict."""
    kinds = catalogue_kinds(catalogue)
    result = Accepted()
    first: dict[Key, Record] = {}
    for row, fields in rows:
        parsed = read_record(row, fields, kinds)
        if isinstance(parsed, Rejection):
            result.rejections.append(parsed)
            continue
        key = (parsed.furnisher, parsed.record_id)
        earlier = first.get(key)
        if earlier is None:
            first[key] = parsed
            result.records.append(parsed)
        elif earlier.content() == parsed.content():
            result.noops += 1
        else:
            result.rejections.append(
                Rejection(row, "record_id", CONFLICT, "/".join(key), str(earlier.row))
            )
    return result


def accept_events(
    rows: Iterable[tuple[int, Mapping[str, str | None]]],
    record_codes: Mapping[Key, str],
    extendable: frozenset[str] = frozenset(),
) -> tuple[list[Event], list[Rejection]]:
    """Read event rows; an event is accepted when its record was accepted (whatever K is),
    and an ``extended`` event only when its record's code is in ``extendable`` (on an
    extendable list of a scheme evaluated: rule 13)."""
    events: list[Event] = []
    rejections: list[Rejection] = []
    for row, fields in rows:
        parsed = read_event(row, fields)
        if isinstance(parsed, Rejection):
            rejections.append(parsed)
            continue
        key = (parsed.furnisher, parsed.record_id)
        if key not in record_codes:
            ref = f"{parsed.furnisher}/{parsed.record_id}"
            rejections.append(Rejection(row, "record_id", UNKNOWN_RECORD, ref))
        elif parsed.event == "extended" and record_codes[key] not in extendable:
            ref = f"{parsed.furnisher}/{parsed.record_id}"
            rejections.append(Rejection(row, "record_id", NOT_EXTENDABLE, ref, record_codes[key]))
        else:
            events.append(parsed)
    return events, rejections


def extendable_codes(*schemes: Scheme) -> frozenset[str]:
    """The codes of every extendable code list of these schemes."""
    return frozenset(
        code
        for scheme in schemes
        for lst in scheme.code_lists
        if lst.extendable is not None
        for code in lst.codes
    )


@dataclass(frozen=True)
class _Dates:
    """The visible events of one record: when several of one type exist, the earliest counts."""

    retracted: bool = False
    repaired: dt.date | None = None
    fulfilled: dt.date | None = None
    objected: dt.date | None = None
    objection_rejected: dt.date | None = None
    extended: dt.date | None = None
    objection_lapsed: dt.date | None = None

    def suspension_start(self, scheme: Scheme) -> dt.date | None:
        """The first day the record is suspended under ``scheme``, if no rejection came first:
        the objection's day where the scheme suspends effects under objection, and in every
        scheme the day the objection lapsed undecided (issue #15); the earlier of the two."""
        starts = [self.objection_lapsed]
        if scheme.objection_suspends_effect:
            starts.append(self.objected)
        found = [day for day in starts if day is not None]
        return min(found) if found else None

    def suspended(self, scheme: Scheme, day: dt.date) -> bool:
        """Suspended on ``day``: its suspension has started by then and no rejection of the
        objection is dated on or before it. (An upheld objection retracts the record.)"""
        start = self.suspension_start(scheme)
        return (
            start is not None
            and start <= day
            and (self.objection_rejected is None or day < self.objection_rejected)
        )


def _event_dates(events: Iterable[Event]) -> dict[Key, _Dates]:
    retracted: set[Key] = set()
    earliest: dict[tuple[Key, str], dt.date] = {}
    for event in events:
        key = (event.furnisher, event.record_id)
        if event.event == "retracted":
            retracted.add(key)
        elif event.date is not None:
            slot = (key, event.event)
            earliest[slot] = min(event.date, earliest.get(slot, event.date))
    keys = retracted | {key for key, _ in earliest}
    return {
        key: _Dates(
            key in retracted,
            earliest.get((key, "repaired")),
            earliest.get((key, "fulfilled")),
            earliest.get((key, "objected")),
            earliest.get((key, "objection_rejected")),
            earliest.get((key, "extended")),
            earliest.get((key, "objection_lapsed")),
        )
        for key in keys
    }


def effect_end(
    record: Record, length: Duration, dates: _Dates, *, ends_on_fulfilment: bool
) -> dt.date:
    """The exclusive end of a record's effect: the earliest of occurred_on + the length (in
    calendar units, rule 10), the repair date, and (when the rule or list ends on
    fulfilment) the fulfilment date. A suspension under objection pauses the effect without
    moving its end."""
    ends = [length.after(record.occurred_on)]
    if dates.repaired is not None:
        ends.append(dates.repaired)
    if ends_on_fulfilment and dates.fulfilled is not None:
        ends.append(dates.fulfilled)
    return min(ends)


def list_window(record: Record, lst: CodeList, dates: _Dates) -> tuple[dt.date, dt.date] | None:
    """A record's window on a code list, [start, end) (rules 5, 12, 13): start = occurred_on +
    starts_after; end = start + duration, moved by an extension, brought forward by a repair
    and (with ends_on_fulfilment) a fulfilment. None: it never holds the list — a delayed
    list's record fulfilled on or before its start."""
    start = lst.start(record.occurred_on)
    if lst.starts_after is not None and dates.fulfilled is not None and dates.fulfilled <= start:
        return None
    ends = [lst.end(record.occurred_on, dates.extended)]
    if dates.repaired is not None:
        ends.append(dates.repaired)
    if lst.ends_on_fulfilment and dates.fulfilled is not None:
        ends.append(dates.fulfilled)
    return start, min(ends)


def in_effect(
    record: Record,
    end: dt.date,
    dates: _Dates,
    scheme: Scheme,
    as_of: dt.date,
    start: dt.date | None = None,
) -> bool:
    """The record counts at T: T lies in its effect [start, end) (start: occurred_on unless
    given) and the record is not suspended on T (_Dates.suspended: under an undecided objection
    where the scheme says so, and in every scheme once the objection lapsed undecided)."""
    if not (record.occurred_on if start is None else start) <= as_of < end:
        return False
    return not dates.suspended(scheme, as_of)


def measure_triggers(
    scheme: Scheme, held: set[str], grade: str | None, *, barred: bool = False
) -> dict[str, list[str]]:
    """Each measure that applies, by id, with what triggers it: its held lists (sorted), then
    ``grade:G`` when the subject's grade is one of the measure's grades. A subject ``barred``
    (on a black list: rule 14) gets no incentive."""
    measures: dict[str, list[str]] = {}
    for measure in sorted(scheme.measures, key=lambda m: m.id):
        if barred and measure.kind == "incentive":
            continue
        triggers = sorted(lst for lst in measure.lists if lst in held)
        if grade is not None and grade in measure.grades:
            triggers.append(f"grade:{grade}")
        if triggers:
            measures[measure.id] = triggers
    return measures


def evaluate_subject(
    subject_id: str,
    kind: Kind,
    records: list[Record],
    dates: Mapping[Key, _Dates],
    scheme: Scheme,
    as_of: dt.date,
    *,
    explain: bool = False,
    barred: bool = False,
) -> Standing:
    """One subject's standing at ``as_of`` from its visible records and event dates.
    ``barred``: the subject is on a black list of another scheme evaluated with this one; on
    one of this scheme's own it is barred anyway (rule 14: no red list, no incentive)."""
    # 1. A retracted record has no effect at all; nor (rule 9) has one from before the
    # subject reached the scheme's min_age.
    live = [
        (r, dates.get((r.furnisher, r.record_id), _Dates()))
        for r in counting(records, dates, scheme, subject_id, kind)
    ]
    counted: dict[Key, dict[str, Any]] = {}

    def entry(record: Record) -> dict[str, Any]:
        return counted.setdefault(
            (record.furnisher, record.record_id),
            {
                "furnisher": record.furnisher,
                "record_id": record.record_id,
                "code": record.code,
                "points": None,
                "legal_basis": None,
                "ends": None,
                "lists": {},
            },
        )

    # 2-4. Score rules, tiers, caps, clamp, grade.
    score = grade = None
    cap_adjustments: dict[str, int] = {}
    if scheme.score is not None:
        total = 0
        for rule in scheme.score.rules:
            rule_sum = 0
            for record, ds in live:
                if record.code != rule.code or not rule.covers(record.occurred_on):
                    continue
                end = effect_end(record, rule.valid, ds, ends_on_fulfilment=rule.ends_on_fulfilment)
                if in_effect(record, end, ds, scheme, as_of):
                    points = rule.points_for(record.amount)
                    rule_sum += points
                    item = entry(record)
                    item.update(points=points, legal_basis=rule.legal_basis, ends=end.isoformat())
            if rule.cap is not None and abs(rule_sum) > rule.cap:
                capped = rule.cap if rule_sum > 0 else -rule.cap
                cap_adjustments[rule.label] = capped - rule_sum
                rule_sum = capped
            total += rule_sum
        score = max(scheme.score.min, min(scheme.score.max, scheme.score.base + total))
        grade = scheme.score.grade_of(score)

    # 5. Lists: code lists from records, then grade lists from the grade; black lists first,
    # since red lists never hold a subject on a black list (rule 14).
    held: dict[str, tuple[str | None, str | None]] = {}
    on_lists: dict[str, list[tuple[Record, dt.date]]] = {}
    for lst in sorted(scheme.code_lists, key=lambda x: x.kind != "black"):
        since: dt.date | None = None
        until: dt.date | None = None
        for record, ds in live:
            if record.code not in lst.codes:
                continue
            if lst.min_amount is not None and record.amount < lst.min_amount:
                continue
            if not lst.covers(record.occurred_on):
                continue
            window = list_window(record, lst, ds)
            if window is None:
                continue
            start, end = window
            if in_effect(record, end, ds, scheme, as_of, start):
                since = start if since is None else min(since, start)
                until = end if until is None else max(until, end)
                on_lists.setdefault(lst.id, []).append((record, end))
        if since is not None and until is not None:
            held[lst.id] = (since.isoformat(), until.isoformat())
    for glist in scheme.grade_lists:
        if grade in glist.grades and not any(other in held for other in glist.exclusive_of):
            held[glist.id] = (None, None)
    kinds = {lst.id: lst.kind for lst in scheme.lists}
    barred = barred or any(kinds[i] == "black" for i in held)
    if barred:
        held = {i: dates for i, dates in held.items() if kinds[i] == "black"}
    for list_id in held:
        for record, end in on_lists.get(list_id, []):
            entry(record)["lists"][list_id] = end.isoformat()

    # 6. Measures: on one of its lists or in one of its grades (no incentive when barred).
    measures = measure_triggers(scheme, set(held), grade, barred=barred)

    explanation: dict[str, Any] | None = None
    if explain:
        records_counted = [counted[key] for key in sorted(counted)]
        for item in records_counted:
            item["lists"] = dict(sorted(item["lists"].items()))
        explanation = {
            "records": records_counted,
            "cap_adjustments": dict(sorted(cap_adjustments.items())),
            "lists": {
                list_id: {"since": since_, "until": until_}
                for list_id, (since_, until_) in sorted(held.items())
            },
            "measures": measures,
        }
    return Standing(
        subject_id=subject_id,
        kind=kind,
        score=score,
        grade=grade,
        lists=tuple(sorted(held)),
        measures=tuple(sorted(measures)),
        explanation=explanation,
    )


def counting(
    records: Iterable[Record],
    dates: Mapping[Key, _Dates],
    scheme: Scheme,
    subject_id: str,
    kind: Kind,
) -> list[Record]:
    """The records that can count for a subject in a scheme: not retracted, and not from on
    or before its ``min_age``-th birthday (rule 9: those count as retracted)."""
    adult = scheme.scope.adult_from(subject_id, kind)
    return [
        r
        for r in records
        if not dates.get((r.furnisher, r.record_id), _Dates()).retracted
        and (adult is None or r.occurred_on >= adult)
    ]


def in_population(scheme: Scheme, subject_id: str, kind: Kind, as_of: dt.date) -> bool:
    """Rule 9: of the scheme's kinds, in its regions, and old enough on ``as_of``."""
    return kind in scheme.subjects and scheme.scope.outside(subject_id, kind, as_of) is None


def next_change(
    records: list[Record], dates: Mapping[Key, _Dates], scheme: Scheme, as_of: dt.date
) -> dt.date | None:
    """The first date after ``as_of`` on which the subject's standing may change with no new
    records or events: a record's effect starts or ends there. None: it never changes."""
    found: dt.date | None = None

    def consider(ds: _Dates, start: dt.date, end: dt.date) -> None:
        nonlocal found
        if start >= end:  # repaired or fulfilled before it began: no effect
            return
        moments = [start, end]
        suspended, stop = ds.suspension_start(scheme), ds.objection_rejected
        # A suspension inside the effect pauses it: its first and last days are changes.
        if suspended is not None and (stop is None or suspended < stop):
            moments += [m for m in (suspended, stop) if m is not None and start < m < end]
        for moment in moments:
            if as_of < moment and (found is None or moment < found):
                found = moment

    live = (
        counting(records, dates, scheme, records[0].subject_id, records[0].kind) if records else []
    )
    for record in live:
        ds = dates.get((record.furnisher, record.record_id), _Dates())
        for rule in scheme.score.rules if scheme.score else ():
            if rule.code == record.code and rule.covers(record.occurred_on):
                end = effect_end(record, rule.valid, ds, ends_on_fulfilment=rule.ends_on_fulfilment)
                consider(ds, record.occurred_on, end)
        for lst in scheme.code_lists:
            if (
                record.code in lst.codes
                and (lst.min_amount is None or record.amount >= lst.min_amount)
                and lst.covers(record.occurred_on)
                and (window := list_window(record, lst, ds)) is not None
            ):
                consider(ds, *window)
    return found


def visible_dates(events: Iterable[Event], known_at_us: int) -> dict[Key, _Dates]:
    """The event dates of each record as known at K."""
    return _event_dates(e for e in events if e.recorded_us <= known_at_us)


def evaluate(
    records: Iterable[Record],
    events: Iterable[Event],
    scheme: Scheme,
    *,
    as_of: dt.date,
    known_at_us: int,
    explain: bool = False,
    barred: bool = False,
) -> list[Standing]:
    """Every subject of the scheme's kinds with an accepted record visible at K (step 7),
    sorted by identifier (step 8). ``barred`` (one subject's records): the subject is on a
    black list of another scheme evaluated with this one (rule 14)."""
    visible_dates = _event_dates(e for e in events if e.recorded_us <= known_at_us)
    by_subject: dict[str, list[Record]] = defaultdict(list)
    kinds: dict[str, Kind] = {}
    for record in records:
        if record.recorded_us <= known_at_us and in_population(
            scheme, record.subject_id, record.kind, as_of
        ):
            by_subject[record.subject_id].append(record)
            kinds[record.subject_id] = record.kind
    return [
        evaluate_subject(
            subject_id,
            kinds[subject_id],
            by_subject[subject_id],
            visible_dates,
            scheme,
            as_of,
            explain=explain,
            barred=barred,
        )
        for subject_id in sorted(by_subject)
    ]


def evaluate_together(
    records: Iterable[Record],
    events: Iterable[Event],
    schemes: Iterable[Scheme],
    *,
    as_of: dt.date,
    known_at_us: int,
    explain: bool = False,
) -> list[tuple[str, Standing]]:
    """Several schemes evaluated together (rule 14): a subject on a black list of any of
    them is on no red list and gets no incentive in any. Lines by scheme id, then subject."""
    ordered = sorted(schemes, key=lambda s: s.id)
    dates = _event_dates(e for e in events if e.recorded_us <= known_at_us)
    by_subject: dict[str, list[Record]] = defaultdict(list)
    kinds: dict[str, Kind] = {}
    for record in records:
        if record.recorded_us <= known_at_us:
            by_subject[record.subject_id].append(record)
            kinds[record.subject_id] = record.kind
    found: dict[str, list[Standing]] = {scheme.id: [] for scheme in ordered}
    for subject_id in sorted(by_subject):
        kind, mine = kinds[subject_id], by_subject[subject_id]
        members = [s for s in ordered if in_population(s, subject_id, kind, as_of)]
        first = {s.id: evaluate_subject(subject_id, kind, mine, dates, s, as_of) for s in members}
        barred = any(
            lst.kind == "black" and lst.id in first[s.id].lists for s in members for lst in s.lists
        )
        for scheme in members:
            found[scheme.id].append(
                evaluate_subject(
                    subject_id, kind, mine, dates, scheme, as_of, explain=explain, barred=barred
                )
            )
    return [(scheme_id, standing) for scheme_id, lines in found.items() for standing in lines]
