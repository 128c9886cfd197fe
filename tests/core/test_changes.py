"""Lawful publication: what a new scheme version changes, milder or harsher, and the refusals
of back-dated harshness, retroactive rules and lists, and harshness without notice."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from socialcredit.policy.changes import compare, refusals
from socialcredit.policy.loader import parse_scheme
from socialcredit.policy.model import Scheme
from socialcredit.policy.shipped import shipped_catalogue, shipped_scheme_texts

CATALOGUE = shipped_catalogue()
TODAY = dt.date(2026, 12, 1)
TERM = "dishonest-judgment-defaulters-term"


def shipped(scheme_id: str) -> dict[str, Any]:
    return yaml.safe_load(shipped_scheme_texts()[scheme_id])


def version(doc: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> Scheme:
    new = copy.deepcopy(doc)
    new["version"] = doc["version"] + 1
    change(new)
    return parse_scheme(yaml.safe_dump(new, allow_unicode=True), catalogue=CATALOGUE)


def judged(doc: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> list[str]:
    old = parse_scheme(yaml.safe_dump(doc, allow_unicode=True), catalogue=CATALOGUE)
    new = version(doc, change)
    return refusals(compare(old, new), new, published_on=TODAY, notice_days=30)


def term_list(doc: dict[str, Any]) -> dict[str, Any]:
    return next(lst for lst in doc["lists"] if lst["id"] == TERM)


def test_a_harsher_back_dated_version_is_refused_as_the_finding_was() -> None:
    # The finding: two years → three, effective_from still 2017-05-01.
    spc = shipped("spc-defaulters")
    found = judged(
        spc, lambda d: term_list(d).update(duration={"years": 3}, extendable={"years": 2})
    )
    assert found == [
        f"lists {TERM}: duration 2 years → 3 years is harsher, and the version takes effect on "
        "2017-05-01, before its publication on 2026-12-01: a back-dated version may only be "
        "milder or equal (lex mitior); give it an effective_from on or after 2026-12-01"
    ]


def test_a_harsher_list_under_its_old_id_is_refused_for_past_conduct() -> None:
    spc = shipped("spc-defaulters")

    def change(d: dict[str, Any]) -> None:
        d["effective_from"] = "2027-01-01"
        term_list(d).update(duration={"years": 3}, extendable={"years": 2})

    (found,) = judged(spc, change)
    assert found.startswith(f"lists {TERM}: duration 2 years → 3 years is harsher for conduct ")
    assert "give the harsher list a new id with conduct_from: 2027-01-01" in found
    assert "add conduct_until: 2026-12-31 to the old one, and let the measures name both" in found


def test_the_lawful_way_a_new_list_for_new_conduct_the_old_closed_measures_naming_both() -> None:
    spc = shipped("spc-defaulters")

    def change(d: dict[str, Any]) -> None:
        d["effective_from"] = "2027-01-01"
        old = term_list(d)
        new = {
            **copy.deepcopy(old),
            "id": f"{TERM}-2027",
            "duration": {"years": 3},
            "extendable": {"years": 2},
        }
        new["conduct_from"] = "2027-01-01"
        old["conduct_until"] = "2026-12-31"
        d["lists"].append(new)
        for measure in d["measures"]:
            measure["when"]["lists"].append(new["id"])

    assert judged(spc, change) == []
    # The same, taking effect in less than the notice period: the restrictions' new triggers
    # are harsher measures.
    found = judged(spc, lambda d: (change(d), d.update(effective_from="2026-12-15")))
    assert found and all(
        "no earlier than 2026-12-31, 30 days after publication" in f for f in found
    )
    assert any(f.startswith("measures no-air-travel: triggers added: list ") for f in found)


def test_a_milder_or_equal_version_may_be_back_dated() -> None:
    spc = shipped("spc-defaulters")
    assert judged(spc, lambda d: term_list(d).update(duration={"years": 1})) == []
    assert judged(spc, lambda d: d.update(description="Reworded only.")) == []
    assert judged(spc, lambda d: d["measures"].pop()) == []  # a restriction dropped
    # {months: 24} is the same length as {years: 2}; 731 days is a day longer somewhere.
    assert judged(spc, lambda d: term_list(d).update(duration={"months": 24})) == []
    assert (
        judged(spc, lambda d: term_list(d).update(duration={"days": 731}, extendable={"years": 2}))
        != []
    )


@pytest.mark.parametrize(
    ("change", "harsher"),
    [
        (lambda d: d["score"]["rules"][0].update(points=-30), True),
        (lambda d: d["score"]["rules"][0].update(points=-10), False),
        (lambda d: d["score"]["rules"][0].update(valid={"years": 4}), False),
        (lambda d: d["score"]["grades"][1].update(min=1040), True),  # AA from 1030 to 1040
        (lambda d: d["score"].update(base=990), True),
        (lambda d: d.update(scope={"regions": ["3710"], "min_age": 18}), True),
        (lambda d: d.update(scope={"regions": ["371082"], "min_age": 16}), True),
        (lambda d: d.update(scope={"regions": ["371082"], "min_age": 21}), False),
    ],
)
def test_each_change_is_milder_or_harsher(
    change: Callable[[dict[str, Any]], None], harsher: bool
) -> None:
    doc = shipped("rongcheng-person")
    old = parse_scheme(yaml.safe_dump(doc, allow_unicode=True), catalogue=CATALOGUE)
    found = compare(old, version(doc, change))
    assert found and all(c.harsher == harsher for c in found), found


def test_a_harsher_rule_reaches_only_conduct_from_its_effective_day() -> None:
    doc = shipped("rongcheng-person")
    rule = doc["score"]["rules"][0]

    def in_place(d: dict[str, Any]) -> None:
        d["effective_from"] = "2027-01-01"
        d["score"]["rules"][0]["points"] = rule["points"] - 10

    (found,) = judged(doc, in_place)
    assert found.startswith(f"score.rules {rule['code']}: points {rule['points']} → ")
    assert "keep the old rule with conduct_until: 2026-12-31 and add the harsher one with " in found
    assert "conduct_from: 2027-01-01 (or later)" in found

    def split(d: dict[str, Any]) -> None:
        d["effective_from"] = "2027-01-01"
        old = d["score"]["rules"][0]
        old["conduct_until"] = "2026-12-31"
        d["score"]["rules"].insert(
            1, {**old, "points": old["points"] - 10, "conduct_from": "2027-01-01"}
        )
        del d["score"]["rules"][1]["conduct_until"]

    assert judged(doc, split) == []


def test_a_raised_band_needs_the_notice_period() -> None:
    doc = shipped("rongcheng-person")

    def raised(on: str) -> Callable[[dict[str, Any]], None]:
        return lambda d: (d.update(effective_from=on), d["score"]["grades"][1].update(min=1040))

    (found,) = judged(doc, raised("2026-12-20"))
    assert (
        "score.grades AA: min 1030 → 1040 is harsher: it may take effect no earlier than " in found
    )
    assert "2026-12-31, 30 days after publication (SOCIALCREDIT_POLICY_NOTICE_DAYS)" in found
    assert judged(doc, raised("2026-12-31")) == []
