from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from socialcredit.errors import PolicyError
from socialcredit.policy.grounds import PROHIBITED
from socialcredit.policy.loader import parse_catalogue, parse_scheme
from socialcredit.policy.shipped import resolve_scheme, shipped_catalogue, shipped_scheme_ids

CATALOGUE = shipped_catalogue()

BASE: dict[str, Any] = {
    "id": "test",
    "version": 1,
    "title": "test",
    "subjects": ["person"],
    "score": {
        "base": 100,
        "min": 0,
        "max": 200,
        "grades": [{"grade": "A", "min": 100}, {"grade": "B", "min": 0}],
        "rules": [
            {"code": "traffic.ticket", "points": -5, "valid_days": 365, "legal_basis": "law"},
            {
                "code": "finance.loan_arrears",
                "tiers": [{"min_amount": 0, "points": -1}, {"min_amount": 10, "points": -2}],
                "valid_days": 365,
                "legal_basis": "law",
            },
        ],
    },
    "lists": [
        {
            "id": "bad",
            "kind": "black",
            "title": "t",
            "legal_basis": "law",
            "codes": ["court.judgment_default"],
            "duration_days": 730,
        },
        {
            "id": "good",
            "kind": "red",
            "title": "t",
            "legal_basis": "law",
            "grades": ["A"],
            "exclusive_of": ["bad"],
        },
    ],
    "measures": [
        {
            "id": "m",
            "agency": "a",
            "kind": "restriction",
            "title": "t",
            "legal_basis": "law",
            "when": {"lists": ["bad"], "grades": ["B"]},
        },
    ],
}


def scheme_with(change: Any) -> str:
    doc = copy.deepcopy(BASE)
    change(doc)
    return yaml.safe_dump(doc, allow_unicode=True)


def problems(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_scheme(text, catalogue=CATALOGUE, source="s.yaml")
    return str(caught.value)


def test_base_scheme_is_valid() -> None:
    scheme = parse_scheme(scheme_with(lambda d: None), catalogue=CATALOGUE)
    assert [lst.id for lst in scheme.lists] == ["bad", "good"]


def _set(path: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is KeyError:
            del node[int(last) if last.isdigit() else last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("colour", "red"), "unknown key 'colour'"),
        (_set("title", KeyError), "missing required key 'title'"),
        (_set("score.rules.0.legal_basis", " "), "must cite a non-empty legal basis"),
        (_set("lists.0.legal_basis", ""), "lists[0] (bad).legal_basis"),
        (_set("score.rules.0.code", "no.such"), "'no.such' is not in the catalogue"),
        (_set("score.rules.0.code", "gsxt.annual_report_missing"), "can never apply"),
        (_set("score.rules.0.points", 5), "its points must be negative"),
        (_set("score.rules.0.points", 0), "points must not be 0"),
        (_set("score.rules.0.code", "finance.loan_arrears"), "2 rules for code"),
        (_set("score.rules.1.tiers.0.min_amount", 1), "must start at min_amount: 0"),
        (_set("score.rules.1.tiers.1.min_amount", 0), "strictly increase"),
        (_set("score.rules.1.tiers.1.points", 0), "points must not be 0"),
        (_set("score.rules.0.cap", 0), "use 1 or more"),
        (_set("score.grades.1.min", 150), "strictly decrease"),
        (_set("score.grades.1.min", 10), "every score must fall in a band"),
        (_set("score.base", 300), "must lie within [min, max]"),
        (_set("lists.0.codes", ["civic.honour"]), "a black list may only hold negative codes"),
        (_set("lists.1.kind", "black"), None),
        (_set("measures.0.kind", "incentive"), "cannot be triggered by the black list"),
        (_set("score.rules.0.valid_days", 1827), "between 1 and 1826"),
        (_set("lists.0.duration_days", 0), "between 1 and 1826"),
        (_set("lists.0.duration_days", KeyError), "needs 'duration_days'"),
        (_set("lists.1.exclusive_of", ["good"]), "'good' is not a code list"),
        (_set("measures.0.when", {}), "needs a trigger"),
        (_set("measures.0.when", {"lists": ["nope"]}), "no list 'nope'"),
        (_set("lists.1.id", "bad"), "duplicate list id 'bad'"),
        (_set("subjects", ["alien"]), "unknown subject kinds"),
    ],
)
def test_each_problem_is_named(change: Any, message: str | None) -> None:
    text = scheme_with(change)
    if message is None:
        parse_scheme(text, catalogue=CATALOGUE)
        return
    found = problems(text)
    assert message in found
    assert "s.yaml" in found


def test_red_list_triggering_restriction_refused() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["measures"][0]["when"] = {"lists": ["good"]}

    assert "cannot be triggered by the red list 'good'" in problems(scheme_with(change))


def test_grade_lists_and_measures_need_a_score() -> None:
    found = problems(scheme_with(_set("score", KeyError)))
    assert "grade lists need a 'score' section" in found
    assert "grade measures need a 'score' section" in found


def test_every_problem_is_reported_at_once() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["score"]["rules"][0]["points"] = 5
        doc["lists"][0]["duration_days"] = 5000
        doc["measures"][0]["legal_basis"] = ""

    error = problems(scheme_with(change))
    assert "3 problems" in error


def test_registry_may_raise_its_limit_to_ten_years() -> None:
    text = scheme_with(_set("lists.0.duration_days", 3653))
    assert (
        parse_scheme(text, catalogue=CATALOGUE, max_effect_days=3653).lists[0].duration_days == 3653
    )


CODE = {
    "id": "x.y",
    "title": "t",
    "ground": "contract",
    "polarity": "negative",
    "subjects": ["person"],
    "severity": "minor",
    "legal_basis": "law",
}


@given(ground=st.sampled_from(sorted(PROHIBITED)))
def test_no_prohibited_ground_passes(ground: str) -> None:
    text = yaml.safe_dump({"codes": [{**CODE, "ground": ground}]})
    with pytest.raises(PolicyError) as caught:
        parse_catalogue(text, source="c.yaml")
    assert f"code 'x.y' has the prohibited ground {ground!r}" in str(caught.value)


@given(ground=st.text(min_size=1, max_size=12))
def test_only_listed_grounds_pass(ground: str) -> None:
    text = yaml.safe_dump({"codes": [{**CODE, "ground": ground}]})
    try:
        parse_catalogue(text)
    except PolicyError as error:
        assert "ground" in str(error)
    else:
        from socialcredit.policy.grounds import ALLOWED

        assert ground in ALLOWED


def test_suining_original_items_are_refused() -> None:
    """Suining's 2010 rating deducted for petitioning and for exceeding the birth quota."""
    doc = yaml.safe_load(
        (
            __import__("importlib.resources").resources.files("socialcredit")
            / "data"
            / "catalogue.yaml"
        ).read_text(encoding="utf-8")
    )
    doc["codes"] += [
        {
            **CODE,
            "id": "petition.besieging_organs",
            "ground": "petition_protest",
            "title": "Besieging Party or government organs",
        },
        {
            **CODE,
            "id": "family.over_quota_birth",
            "ground": "family_planning",
            "title": "Exceeding the birth quota",
        },
    ]
    with pytest.raises(PolicyError) as caught:
        parse_catalogue(yaml.safe_dump(doc, allow_unicode=True), source="suining-original")
    text = str(caught.value)
    assert "2 problems" in text
    assert "'petition.besieging_organs' has the prohibited ground 'petition_protest'" in text
    assert "'family.over_quota_birth' has the prohibited ground 'family_planning'" in text


@pytest.mark.parametrize("scheme_id", shipped_scheme_ids())
def test_shipped_schemes_are_valid_within_five_years(scheme_id: str) -> None:
    scheme = resolve_scheme(scheme_id, catalogue=CATALOGUE)
    assert scheme.id == scheme_id
    days = [r.valid_days for r in scheme.score.rules] if scheme.score else []
    days += [lst.duration_days for lst in scheme.code_lists]
    assert all(1 <= d <= 1826 for d in days)


def test_shipped_ids() -> None:
    assert shipped_scheme_ids() == [
        "flensburg-driver",
        "gsxt-enterprises",
        "honour-roll",
        "rongcheng-person",
        "spc-defaulters",
        "suining-person",
    ]
    spc = resolve_scheme("spc-defaulters", catalogue=CATALOGUE)
    assert spc.code_lists[0].codes == ("court.judgment_default",)
