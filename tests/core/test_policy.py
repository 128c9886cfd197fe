from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from socialcredit.errors import PolicyError
from socialcredit.policy.grounds import PROHIBITED, prohibited_terms, screen_text
from socialcredit.policy.loader import parse_catalogue, parse_scheme
from socialcredit.policy.model import Duration, limit_days
from socialcredit.policy.shipped import (
    resolve_scheme,
    shipped_catalogue,
    shipped_catalogue_text,
    shipped_scheme_ids,
)

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
            {
                "code": "traffic.ticket",
                "points": -5,
                "valid_days": 365,
                "legal_basis": "spc-2017-7 art. 1",
            },
            {
                "code": "finance.loan_arrears",
                "tiers": [{"min_amount": 0, "points": -1}, {"min_amount": 10, "points": -2}],
                "valid_days": 365,
                "legal_basis": "spc-2017-7 art. 1",
            },
        ],
    },
    "lists": [
        {
            "id": "bad",
            "kind": "black",
            "title": "t",
            "legal_basis": "spc-2017-7 art. 1",
            "codes": ["court.judgment_default"],
            "duration_days": 730,
        },
        {
            "id": "good",
            "kind": "red",
            "title": "t",
            "legal_basis": "spc-2017-7 art. 1",
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
            "legal_basis": "spc-2017-7 art. 1",
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
        (
            _set("score.rules.0.code", "finance.loan_arrears"),
            "conduct windows overlap (open and open)",
        ),
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
        (_set("score.rules.0.valid_days", 1827), "is 1827 days, past the limit of 5 years"),
        (_set("lists.0.duration_days", 0), "expected 1 or more days, got 0"),
        (_set("lists.0.duration_days", KeyError), "missing 'duration'"),
        (_set("lists.0.duration", {"years": 2}), "exactly one of 'duration' or 'duration_days'"),
        (_set("score.rules.0.valid_days", KeyError), "missing 'valid'"),
        (_set("measures.0.target", "children"), "target: subject), got 'children'"),
        (_set("measures.0.target", "subject"), None),
        (_set("scope", {"regions": [371082]}), "expected quoted 2-, 4- or 6-digit"),
        (_set("scope", {"regions": ["37108"]}), "expected quoted 2-, 4- or 6-digit"),
        (_set("scope", {"regions": []}), "expected a non-empty list"),
        (_set("scope", {"min_age": 0}), "expected an age from 1 to 150"),
        (_set("scope", {"min_age": 151}), "expected an age from 1 to 150"),
        (_set("scope", {"regions": ["37", "3710", "371082"], "min_age": 18}), None),
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


@pytest.mark.parametrize(
    ("length", "limit", "accepted"),
    [
        ({"days": 1826}, None, True),
        ({"days": 1827}, None, False),
        ({"months": 60}, None, True),
        ({"months": 61}, None, False),
        ({"years": 5}, None, True),
        ({"years": 6}, None, False),
        ({"years": 10}, 10, True),
        ({"days": 3653}, 10, True),
        ({"days": 3654}, 10, False),
        ({"years": 7}, 7, True),
        ({"months": 85}, 7, False),
    ],
)
def test_effect_limits_are_per_scheme(
    length: dict[str, int], limit: int | None, accepted: bool
) -> None:
    def change(doc: dict[str, Any]) -> None:
        del doc["lists"][0]["duration_days"]
        doc["lists"][0]["duration"] = length
        if limit is not None:
            doc["max_effect"] = {"years": limit, "legal_basis": "us-fcra §1681c(a)"}

    text = scheme_with(change)
    if accepted:
        scheme = parse_scheme(text, catalogue=CATALOGUE)
        assert scheme.max_effect_years == (limit or 5)
        assert scheme.code_lists[0].duration == Duration(*reversed(next(iter(length.items()))))
    else:
        found = problems(text)
        unit, n = next(iter(length.items()))
        assert (
            f"lists[0] (bad).duration: every effect is time-limited: duration is {n} {unit}"
            in found
        )
        assert f"past the limit of {limit or 5} years" in found
        assert "max_effect" in found


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Every legal basis names a registered instrument and a locator.
        (_set("score.rules.0.legal_basis", "because the mayor said so"), "'because' is not in"),
        (_set("score.rules.0.legal_basis", "spc-2017-7"), "names no locator"),
        (_set("score.rules.0.legal_basis", {"instrument": "spc-2017-7"}), "expected {instrument"),
        (_set("score.rules.0.legal_basis", 7), "expected 'INSTRUMENT-ID LOCATOR'"),
        (_set("score.rules.0.legal_basis", {"instrument": "us-fcra", "locator": "§1681c"}), None),
        (_set("score.rules.0.legal_basis", ["spc-2017-7 art. 1", "pipl art. 24"]), None),
        (_set("score.rules.0.legal_basis", ["spc-2017-7 art. 1", "nope art. 1"]), "'nope' is"),
        # An instrument repealed (or not yet in force) on the version's effective_from.
        (_set("effective_from", "2026-05-01"), None),
        (
            lambda d: (
                d.update(effective_from="2026-05-01"),
                d["score"]["rules"][0].update(legal_basis="ndrc-order-58 art. 3"),
            ),
            "ndrc-order-58 (Administrative Measures for the Repair of Dishonesty Information "
            "(NDRC Order No. 58)) is not in force on 2026-05-01",
        ),
        (_set("score.rules.0.legal_basis", "ndrc-order-58 art. 3"), "was repealed on 2026-04-01"),
        (_set("effective_from", "2016-01-01"), "spc-2017-7 (Provisions of the SPC on"),
        # A black list or a restriction rests on a law, a regulation, a judicial
        # interpretation or a central policy document (Guobanfa [2020] No. 49).
        (
            _set("lists.0.legal_basis", "suining-2010 art. 5"),
            "a black list must rest on a law, an administrative or local regulation, a judicial "
            "interpretation or a central policy document (Guobanfa [2020] No. 49: no punishment "
            "without such a basis); suining-2010 is a normative document",
        ),
        (_set("measures.0.legal_basis", "samr-order-44 art. 3"), "samr-order-44 is a departmental"),
        (_set("measures.0.legal_basis", ["samr-order-44 art. 3", "sc-decree-654 art. 18"]), None),
        (_set("lists.0.legal_basis", "guobanfa-2020-49 sect. 2"), None),
        (_set("lists.1.legal_basis", "suining-2010 grade A"), None),  # a red list: any level
        (_set("measures.0.kind", "incentive"), "cannot be triggered by the black list"),
    ],
)
def test_legal_bases_name_instruments_in_force_of_the_level_required(
    change: Any, message: str | None
) -> None:
    text = scheme_with(change)
    if message is None:
        parse_scheme(text, catalogue=CATALOGUE)
    else:
        assert message in problems(text)


def test_a_catalogue_code_cites_a_registered_instrument() -> None:
    doc = yaml.safe_load(shipped_catalogue_text())
    doc["codes"][0]["legal_basis"] = "Provisions of the SPC, art. 1"
    with pytest.raises(PolicyError, match=r"'Provisions' is not in the instruments register"):
        parse_catalogue(yaml.safe_dump(doc, allow_unicode=True), source="c.yaml")


@pytest.mark.parametrize(
    ("retention", "message"),
    [
        ({"years": 5}, None),
        ({"months": 60}, None),
        ({"days": 30}, None),
        ({"years": 6}, "longer than the five years"),
        ({"months": 61}, "longer than the five years"),
        ({"days": 1827}, "longer than the five years"),
        ({"decades": 1}, "retention"),
    ],
)
def test_a_codes_retention_is_at_most_the_regulations_five_years(
    retention: dict[str, int], message: str | None
) -> None:
    doc = yaml.safe_load(shipped_catalogue_text())
    doc["codes"][0]["retention"] = retention
    text = yaml.safe_dump(doc, allow_unicode=True)
    if message is None:
        code = parse_catalogue(text).codes[doc["codes"][0]["id"]]
        assert code.retention == Duration(*next(iter(retention.items()))[::-1])
    else:
        with pytest.raises(PolicyError, match=message):
            parse_catalogue(text, source="c.yaml")


@pytest.mark.parametrize(
    ("max_effect", "message"),
    [
        ({"years": 11, "legal_basis": "us-fcra §1681c"}, "1 to 10 years, got 11"),
        (
            {"years": 10, "legal_basis": "because the mayor said so"},
            "'because' is not in the instruments register",
        ),
        ({"years": 10, "legal_basis": "us-fcra"}, "names no locator"),
        (
            {"years": 10, "legal_basis": "guobanfa-2020-49 art. 1"},
            "is a central policy; only a law",
        ),
        ({"years": 10, "legal_basis": "ndrc-order-58 art. 1"}, "not in force on 2026-12-01"),
        ({"years": 10}, "missing required key 'legal_basis'"),
        ({"years": 10, "legal_basis": {"instrument": "de-stvg", "locator": "§ 29"}}, None),
    ],
)
def test_max_effect_rests_on_a_statute_in_force(
    max_effect: dict[str, Any], message: str | None
) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["max_effect"] = max_effect
        doc["effective_from"] = "2026-12-01"

    text = scheme_with(change)
    if message is None:
        assert parse_scheme(text, catalogue=CATALOGUE).max_effect_years == 10
    else:
        assert message in problems(text)


@pytest.mark.parametrize(
    ("text", "ground"),
    [
        ("Petitioning outside prescribed channels (越级上访)", "petition_protest"),
        ("越级上访", "petition_protest"),
        ("Exceeding the birth quota", "family_planning"),
        ("超生", "family_planning"),
        ("the subject's children may not attend private schools", "relatives"),
        ("子女不得就读高收费私立学校", "relatives"),
        ("Attending unregistered religious gatherings", "religion"),
        ("PROTEST at a government office", "petition_protest"),
    ],
)
def test_the_text_screen_refuses_prohibited_terms_whatever_the_ground(
    text: str, ground: str
) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["measures"][0]["title"] = text

    found = problems(scheme_with(change))
    assert "measures[0]" in found and f"prohibited ground {ground!r}" in found


@pytest.mark.parametrize("text", ["Sports competition prize", "Contract breach", "Unpaid wages"])
def test_the_text_screen_matches_english_at_word_starts_only(text: str) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["measures"][0]["title"] = text

    parse_scheme(scheme_with(change), catalogue=CATALOGUE)


def test_every_term_list_is_refused_and_each_term_found() -> None:
    for ground, (chinese, english) in prohibited_terms().items():
        assert ground in PROHIBITED
        assert chinese and english, ground
        for term in (*chinese, *english):
            assert screen_text(f"x {term} y") == (term, ground), term
            assert screen_text(f"x {term.upper()}ing y" if term.isascii() else term) is not None


def test_a_code_title_is_screened_whatever_ground_it_declares() -> None:
    doc = {
        "codes": [
            {
                **CODE,
                "ground": "regulatory",
                "title": "Petitioning outside prescribed channels (越级上访)",
            }
        ]
    }
    with pytest.raises(PolicyError) as caught:
        parse_catalogue(yaml.safe_dump(doc, allow_unicode=True), source="c")
    assert "codes[0] (x.y).title" in str(caught.value)
    assert "prohibited ground 'petition_protest'" in str(caught.value)


CODE = {
    "id": "x.y",
    "title": "t",
    "ground": "contract",
    "polarity": "negative",
    "subjects": ["person"],
    "severity": "minor",
    "legal_basis": "spc-2017-7 art. 1",
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
    assert "4 problems" in text  # each ground, and each title by the text screen
    assert "names 'besieg'" in text and "names 'birth quota'" in text
    assert "'petition.besieging_organs' has the prohibited ground 'petition_protest'" in text
    assert "'family.over_quota_birth' has the prohibited ground 'family_planning'" in text


@pytest.mark.parametrize("scheme_id", shipped_scheme_ids())
def test_shipped_schemes_are_valid_within_their_limits(scheme_id: str) -> None:
    scheme = resolve_scheme(scheme_id, catalogue=CATALOGUE)
    assert scheme.id == scheme_id
    lengths = [r.valid for r in scheme.score.rules] if scheme.score else []
    lengths += [lst.duration for lst in scheme.code_lists]
    years = scheme.max_effect_years
    assert all(
        length.limit_days() <= limit_days(years)
        if length.months is None
        else length.months <= 12 * years
        for length in lengths
    )


def test_shipped_ids() -> None:
    assert shipped_scheme_ids() == [
        "fcra-consumer",
        "flensburg-driver",
        "gsxt-enterprises",
        "honour-roll",
        "rongcheng-person",
        "spc-defaulters",
        "suining-person",
    ]
    spc = resolve_scheme("spc-defaulters", catalogue=CATALOGUE)
    assert spc.code_lists[0].codes == ("court.judgment_default",)
    # Fa Shi [2017] No. 7 art. 1: six grounds; grounds 2-6 two years, extendable by three
    term = spc.code_lists[1]
    assert len(term.codes) == 5 and str(term.duration) == "2 years"
    assert str(term.extendable) == "3 years" and spc.scope.min_age == 18
    agencies = {m.id: m.agency for m in spc.measures}
    assert "Civil Aviation" in agencies["no-air-travel"]
    assert "Railway" in agencies["no-soft-sleeper"] and "Transport" in agencies["no-ship-cabins"]
    assert not any("school" in m.title.lower() for m in spc.measures)  # item 7: never shipped
    gsxt = resolve_scheme("gsxt-enterprises", catalogue=CATALOGUE)
    delayed = next(lst for lst in gsxt.code_lists if lst.starts_after is not None)
    assert delayed.codes == ("gsxt.annual_report_missing",) and str(delayed.starts_after) == (
        "3 years"
    )
    for scheme_id in ("fcra-consumer", "flensburg-driver"):
        assert resolve_scheme(scheme_id, catalogue=CATALOGUE).max_effect_years == 10


def _second_ticket_rule(**window: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        first = doc["score"]["rules"][0]
        first["conduct_until"] = "2025-12-31"
        doc["score"]["rules"].append({**first, "points": -10, **window})
        doc["score"]["rules"][-1].pop("conduct_until", None)
        doc["score"]["rules"][-1].update(window)

    return change


def test_two_rules_for_one_code_need_disjoint_conduct_windows() -> None:
    scheme = parse_scheme(
        scheme_with(_second_ticket_rule(conduct_from="2026-01-01")), catalogue=CATALOGUE
    )
    assert scheme.score is not None
    labels = [r.label for r in scheme.score.rules if r.code == "traffic.ticket"]
    assert labels == ["traffic.ticket (..2025-12-31)", "traffic.ticket (2026-01-01..)"]
    found = problems(scheme_with(_second_ticket_rule(conduct_from="2025-12-31")))
    assert "two rules for code 'traffic.ticket' whose conduct windows overlap" in found
    found = problems(scheme_with(_second_ticket_rule()))
    assert "overlap ((..2025-12-31) and open)" in found


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("score.rules.0.conduct_from", "2026-02-01"), None),
        (
            lambda d: d["score"]["rules"][0].update(
                conduct_from="2026-02-01", conduct_until="2026-01-01"
            ),
            "conduct_from (2026-02-01) is after conduct_until (2026-01-01)",
        ),
        (_set("lists.0.conduct_until", "2026-13-01"), "expected a date YYYY-MM-DD"),
        (_set("lists.0.starts_after", {"years": 3}), None),
        (_set("lists.0.starts_after", {"years": 6}), "starts_after is 6 years, past the limit"),
        (_set("lists.0.starts_after", {"weeks": 3}), "expected exactly one of {days: N}"),
        (_set("lists.0.extendable", {"days": 1000}), None),
        # 730 days + 3 years in mixed units: a year counts 12 months of 31 days
        (
            _set("lists.0.extendable", {"years": 3}),
            "duration + extendable is 1846 days, past the limit of 5 years",
        ),
        (_set("lists.1.exclusive_of", ["good"]), "'good' is not a code list"),
    ],
)
def test_windows_delays_and_extensions_are_checked(change: Any, message: str | None) -> None:
    text = scheme_with(change)
    if message is None:
        parse_scheme(text, catalogue=CATALOGUE)
    else:
        assert message in problems(text)


def test_a_black_grade_list_is_exclusive_only_of_black_lists() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["lists"].append(
            {
                "id": "honours",
                "kind": "red",
                "title": "t",
                "legal_basis": "spc-2017-7 art. 1",
                "codes": ["civic.honour"],
                "duration_days": 100,
            }
        )
        doc["lists"][1]["kind"] = "black"
        doc["lists"][1]["exclusive_of"] = ["honours"]
        doc["measures"] = []

    assert "a black list may be exclusive only of black lists; 'honours' is red" in problems(
        scheme_with(change)
    )
