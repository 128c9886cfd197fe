"""Hypothesis strategies: catalogues, schemes, record and event files, T and K near boundaries."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

from socialcredit.identifiers import organisation_check_character, person_check_character
from socialcredit.policy.loader import parse_catalogue, parse_scheme
from socialcredit.policy.model import Catalogue, Scheme
from socialcredit.semantics.fields import EVENT_NAMES, parse_date, parse_instant

BASE = dt.date(2024, 1, 1)

PERSONS = [
    body + person_check_character(body)
    for body in (
        "11010519491231002",
        "37108219800101123",
        "32032419991231456",
        "44030520000229789",
        # minors around BASE for min_age 17-20: 18 on 2024-01-20; 18 on 2023-12-31 and 19 on
        # 2024-12-31; born on 29 Feb: 19 on 2023-02-28 (a common year), 20 on 2024-02-29
        "37108220060120555",
        "32032420051231666",
        "11010520040229777",
    )
]
ORGANISATIONS = [
    body + organisation_check_character(body)
    for body in ("91350100M000100Y4", "9137108200000000A", "12100000400000000")
]
INVALID_IDS = ["11010519491231002x", "110105194912310021", "123", "", "91350100M000100Y4I"]

CODES: list[tuple[str, str, tuple[str, ...]]] = [
    ("neg.a", "negative", ("person", "organisation")),
    ("neg.b", "negative", ("person",)),
    ("neg.c", "negative", ("organisation",)),
    ("pos.a", "positive", ("person", "organisation")),
    ("pos.b", "positive", ("person",)),
]


def catalogue() -> Catalogue:
    doc = {
        "codes": [
            {
                "id": code,
                "title": code,
                "ground": "contract",
                "polarity": polarity,
                "subjects": list(subjects),
                "severity": "general",
                "legal_basis": "spc-2017-7 art. 1",
            }
            for code, polarity, subjects in CODES
        ]
    }
    return parse_catalogue(yaml.safe_dump(doc), source="generated")


def conduct_window(draw: st.DrawFn) -> dict[str, str]:
    """A conduct window near BASE with one or both bounds (rule 11)."""
    first = BASE + dt.timedelta(days=draw(st.integers(-30, 50)))
    last = first + dt.timedelta(days=draw(st.integers(0, 60)))
    return draw(
        st.sampled_from(
            [
                {"conduct_from": first.isoformat()},
                {"conduct_until": last.isoformat()},
                {"conduct_from": first.isoformat(), "conduct_until": last.isoformat()},
            ]
        )
    )


def lengths(key: str) -> st.SearchStrategy[dict[str, Any]]:
    """A rule's ``valid`` or a list's ``duration``: in days (either spelling), months or a
    year, so that ends fall on month ends and across 29 February."""
    return st.one_of(
        st.builds(lambda n: {f"{key}_days": n}, st.integers(1, 120)),
        st.builds(lambda n: {key: {"days": n}}, st.integers(1, 120)),
        st.builds(lambda n: {key: {"months": n}}, st.integers(1, 4)),
        st.just({key: {"years": 1}}),
    )


@st.composite
def schemes(draw: st.DrawFn, *, suspends: bool | None = None) -> Scheme:
    """A generated scheme; ``suspends`` fixes objection_suspends_effect (None: drawn)."""
    subjects = draw(st.sampled_from([["person"], ["organisation"], ["person", "organisation"]]))
    usable = [c for c in CODES if set(c[2]) & set(subjects)]
    doc: dict[str, Any] = {"id": "gen", "version": 1, "title": "generated", "subjects": subjects}
    scope: dict[str, Any] = {}
    if draw(st.integers(0, 2)) == 0:
        # person division codes 110105, 371082, 320324, 440305; organisation 350100, 371082,
        # 100000: prefixes of 2, 4 and 6 digits
        scope["regions"] = draw(
            st.lists(
                st.sampled_from(["11", "37", "3710", "371082", "3203", "35", "100000"]),
                unique=True,
                min_size=1,
                max_size=3,
            )
        )
    if "person" in subjects and draw(st.integers(0, 2)) == 0:
        scope["min_age"] = draw(st.integers(17, 20))
    if scope:
        doc["scope"] = scope
    if suspends is not None:
        doc["objection_suspends_effect"] = suspends
    elif draw(st.booleans()):
        doc["objection_suspends_effect"] = draw(st.booleans())
    grades: list[str] = []
    if draw(st.booleans()):
        rules = []
        for code, polarity, _ in draw(
            st.lists(st.sampled_from(usable), unique=True, min_size=1, max_size=4)
        ):
            sign = -1 if polarity == "negative" else 1
            rule: dict[str, Any] = {
                "code": code,
                **draw(lengths("valid")),
                "legal_basis": f"spc-2017-7 art. 1 ({code})",
                "ends_on_fulfilment": draw(st.booleans()),
            }
            if draw(st.booleans()):
                rule["points"] = sign * draw(st.integers(1, 50))
            else:
                thresholds = sorted(draw(st.sets(st.integers(1, 500), max_size=2)))
                rule["tiers"] = [
                    {"min_amount": m, "points": sign * draw(st.integers(1, 50))}
                    for m in [0, *thresholds]
                ]
            if draw(st.booleans()):
                rule["cap"] = draw(st.integers(1, 80))
            window = draw(st.integers(0, 3))
            if window == 1:  # one windowed rule
                rule.update(conduct_window(draw))
            elif window == 2:  # two rules for the code, split at a day (rule 11)
                split = BASE + dt.timedelta(days=draw(st.integers(-20, 60)))
                later = {**rule, "conduct_from": split.isoformat()}
                later["points"] = sign * draw(st.integers(1, 50))
                later.pop("tiers", None)
                rule["conduct_until"] = (split - dt.timedelta(days=1)).isoformat()
                rules.append(later)
            rules.append(rule)
        minimum, maximum = -100, 150
        cuts = sorted(draw(st.sets(st.integers(-90, 140), min_size=1, max_size=3)), reverse=True)
        grades = [f"G{i}" for i in range(len(cuts) + 1)]
        doc["score"] = {
            "base": draw(st.integers(minimum, maximum)),
            "min": minimum,
            "max": maximum,
            "grades": [
                {"grade": g, "min": m} for g, m in zip(grades, [*cuts, minimum], strict=True)
            ],
            "rules": rules,
        }
    lists: list[dict[str, Any]] = []
    for index in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["black", "red"]))
        wanted = "negative" if kind == "black" else "positive"
        codes = [c[0] for c in usable if c[1] == wanted]
        if not codes:
            continue
        entry: dict[str, Any] = {
            "id": f"list-{index}",
            "kind": kind,
            "title": "generated list",
            "legal_basis": "spc-2017-7 art. 2",
            "codes": draw(st.lists(st.sampled_from(codes), unique=True, min_size=1)),
            **draw(lengths("duration")),
            "ends_on_fulfilment": draw(st.booleans()),
        }
        if draw(st.booleans()):
            entry["min_amount"] = draw(st.sampled_from([0, 10, 100, "99.5"]))
        if draw(st.integers(0, 3)) == 0:
            entry.update(conduct_window(draw))
        if draw(st.integers(0, 2)) == 0:  # a delayed list (rule 12)
            entry["starts_after"] = draw(
                st.sampled_from([{"days": 10}, {"days": 31}, {"months": 1}, {"months": 2}])
            )
        if kind == "black" and draw(st.integers(0, 2)) == 0:  # an extendable list (rule 13)
            entry["extendable"] = draw(st.sampled_from([{"days": 20}, {"months": 1}, {"years": 1}]))
        lists.append(entry)
    if grades and draw(st.booleans()):
        lists.append(
            {
                "id": "grade-list",
                "kind": "black",
                "title": "graded",
                "legal_basis": "guobanfa-2020-49 sect. 1",
                "grades": draw(st.lists(st.sampled_from(grades), unique=True, min_size=1)),
                # a black list never depends on a red one (rule 14)
                "exclusive_of": [
                    lst["id"] for lst in lists if lst["kind"] == "black" and draw(st.booleans())
                ],
            }
        )
    if lists:
        doc["lists"] = lists
    measures = []
    for index in range(draw(st.integers(0, 3))):
        black = [lst["id"] for lst in lists if lst["kind"] == "black"]
        when: dict[str, Any] = {}
        if black and draw(st.booleans()):
            when["lists"] = draw(st.lists(st.sampled_from(black), unique=True, min_size=1))
        if grades and (not when or draw(st.booleans())):
            when["grades"] = draw(st.lists(st.sampled_from(grades), unique=True, min_size=1))
        if when:
            measures.append(
                {
                    "id": f"m-{index}",
                    "agency": "agency",
                    "kind": "restriction",
                    "title": "measure",
                    "legal_basis": "spc-2015-17 art. 3",
                    "when": when,
                }
            )
    if measures:
        doc["measures"] = measures
    return parse_scheme(yaml.safe_dump(doc), catalogue=catalogue(), source="generated")


def _day(offset: int) -> str:
    return (BASE + dt.timedelta(days=offset)).isoformat()


def _instant(offset_hours: int, zone: str) -> str:
    moment = dt.datetime(2024, 1, 1) + dt.timedelta(hours=offset_hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + zone


good_instants = st.builds(
    _instant, st.integers(0, 24 * 90), st.sampled_from(["Z", "+08:00", "-05:30", ".5Z"])
)
BAD_INSTANTS = ["2024-01-10", "2024-01-10T25:00:00Z", "", "2024-01-10T08:00:00"]


def sometimes_bad(draw: st.DrawFn, good: st.SearchStrategy[str], bad: list[str]) -> str:
    """Mostly a good value; one time in 25 a malformed one."""
    if draw(st.sampled_from(range(25))) == 24:
        return draw(st.sampled_from(bad))
    return draw(good)


@st.composite
def record_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for _ in range(draw(st.integers(3, 25))):
        if rows and draw(st.integers(0, 5)) == 0:
            repeat = dict(draw(st.sampled_from(rows)))
            if draw(st.booleans()):
                repeat["amount"] = draw(st.sampled_from(["", "0", "5", "5.00", "700"]))
            rows.append(repeat)
            continue
        subject = sometimes_bad(draw, st.sampled_from(PERSONS + ORGANISATIONS), INVALID_IDS)
        kind = "person" if subject in PERSONS else "organisation"
        fitting = [c[0] for c in CODES if kind in c[2]]
        rows.append(
            {
                "furnisher": sometimes_bad(draw, st.sampled_from(["f1", "f2"]), [""]),
                "record_id": f"r{draw(st.integers(0, 120))}",
                "subject_id": subject,
                "code": sometimes_bad(
                    draw, st.sampled_from(fitting), ["unknown.code", "neg.b", "neg.c", "pos.b"]
                ),
                "occurred_on": sometimes_bad(
                    draw,
                    st.builds(_day, st.integers(-40, 80)),
                    ["2024-02-30", "2024-1-05", "", "2300-01-01"],
                ),
                "amount": sometimes_bad(
                    draw,
                    st.sampled_from(["", "0", "5", "10", "99.5", "100", "250.75", "600"]),
                    ["1e3", "-1", "1,5", " 5"],
                ),
                "recorded_at": sometimes_bad(draw, good_instants, BAD_INSTANTS),
            }
        )
    return rows


EVENTS = list(EVENT_NAMES)


@st.composite
def event_rows(
    draw: st.DrawFn, records: list[dict[str, str]], names: list[str] = EVENTS
) -> list[dict[str, str]]:
    keys = [(r["furnisher"], r["record_id"]) for r in records] or [("f1", "r0")]
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        furnisher, record_id = draw(st.sampled_from([*keys, ("f9", "nope")]))
        rows.append(
            {
                "furnisher": furnisher,
                "record_id": record_id,
                "event": sometimes_bad(draw, st.sampled_from(names), ["paid", ""]),
                "date": sometimes_bad(draw, st.builds(_day, st.integers(-10, 90)), ["", "x"]),
                "recorded_at": sometimes_bad(draw, good_instants, BAD_INSTANTS),
            }
        )
    return rows


@st.composite
def objection_rows(draw: st.DrawFn, records: list[dict[str, str]]) -> list[dict[str, str]]:
    """Objections to records while they are in effect, some lapsing undecided, some rejected
    later (or, as bad data can have it, before)."""
    rows: list[dict[str, str]] = []
    dated = [r for r in records if parse_date(r["occurred_on"]) is not None]
    for _ in range(draw(st.integers(1, 6)) if dated else 0):
        record = draw(st.sampled_from(dated))
        occurred = parse_date(record["occurred_on"])
        assert occurred is not None
        filed = occurred + dt.timedelta(days=draw(st.integers(1, 60) | st.integers(-5, 0)))
        key = {"furnisher": record["furnisher"], "record_id": record["record_id"]}
        rows.append(
            {
                **key,
                "event": "objected",
                "date": filed.isoformat(),
                "recorded_at": draw(good_instants),
            }
        )
        if draw(st.booleans()):  # the registry writes the lapse with the objection
            lapses = filed + dt.timedelta(days=draw(st.integers(1, 30) | st.integers(-3, 0)))
            rows.append(
                {
                    **key,
                    "event": "objection_lapsed",
                    "date": lapses.isoformat(),
                    "recorded_at": draw(good_instants),
                }
            )
        if draw(st.booleans()):
            decided = filed + dt.timedelta(days=draw(st.integers(1, 40) | st.integers(-3, 0)))
            rows.append(
                {
                    **key,
                    "event": "objection_rejected",
                    "date": decided.isoformat(),
                    "recorded_at": draw(good_instants),
                }
            )
    return rows


@dataclass(frozen=True)
class Case:
    scheme: Scheme
    records: list[dict[str, str]]
    events: list[dict[str, str]]
    as_of: dt.date
    known_at: str


@st.composite
def cases(draw: st.DrawFn, *, objections: bool = False) -> Case:
    """A scheme, records, events, T and K; with ``objections``, mostly a scheme that suspends
    effects under objection, objections to records in effect, and T beside their dates."""
    scheme = draw(schemes(suspends=draw(st.integers(0, 3)) > 0 if objections else None))
    records = draw(record_rows())
    events = draw(event_rows(records))
    if objections:
        events += draw(objection_rows(records))
    # T on and around effect boundaries: an occurred_on plus a rule's or list's days, +-1.
    candidates = [0, 30, 60]
    lengths_ = [r.valid for r in scheme.score.rules] if scheme.score else []
    lengths_ += [lst.duration for lst in scheme.code_lists]
    for row in records + events:
        for name in ("occurred_on", "date"):
            try:
                day = dt.date.fromisoformat(row.get(name, ""))
            except ValueError:
                continue
            candidates += [(end - BASE).days for end in [day, *(n.after(day) for n in lengths_)]]
            for lst in scheme.code_lists:  # a delayed window's start and end, an extension's cap
                end = lst.end(day, None)
                candidates += [(lst.start(day) - BASE).days, (end - BASE).days]
                if lst.extendable is not None:
                    candidates.append((lst.extendable.after(end) - BASE).days)
    for person in PERSONS:  # the day a person comes of age, and the day before
        adult = scheme.scope.adult_from(person, "person")
        if adult is not None:
            candidates += [(adult - BASE).days, (adult - BASE).days - 1]
    how = draw(st.sampled_from(["exact", "exact", "before", "any"]))
    if how == "any":
        offset = draw(st.integers(-10, 100))
    else:
        offset = draw(st.sampled_from(candidates)) - (how == "before")
    if objections:  # mostly T on, or a day beside, the first or last day of a suspension
        objection_days = [
            (day - BASE).days
            for e in events
            if e["event"] in ("objected", "objection_rejected", "objection_lapsed")
            and (day := parse_date(e["date"])) is not None
        ]
        if objection_days and draw(st.integers(0, 3)) > 0:
            offset = draw(st.sampled_from(objection_days)) + draw(st.sampled_from([0, 0, -1, 1]))
    as_of = BASE + dt.timedelta(days=offset)
    known_at = draw(
        st.just("2030-01-01T00:00:00Z")
        | st.just("2030-01-01T00:00:00Z" if objections else "2024-02-01T00:00:00Z")
        | st.sampled_from(
            [r["recorded_at"] for r in records + events if parse_instant(r["recorded_at"])]
            or ["2024-02-01T00:00:00Z"]
        )
        | st.builds(_instant, st.integers(0, 24 * 90), st.just("Z"))
    )
    return Case(scheme, records, events, as_of, known_at)


def to_csv(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
