from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialcredit import identifiers
from socialcredit.identifiers import check, organisation_check_character, person_check_character

PERSON = "11010519491231002X"  # the GB 11643 example number
ORGANISATION = "91350100M000100Y43"


def test_valid_person_and_organisation() -> None:
    assert check(PERSON).kind == "person"
    assert check(ORGANISATION).kind == "organisation"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1101051949123100", "length 16, expected 18 characters"),
        (PERSON + " ", "length 19, expected 18 characters"),
        (" " + PERSON[1:], "character ' ' at position 1 is not allowed"),
        (PERSON[:-1] + "x", "character 'x' at position 18 is not allowed"),
        ("9135010OM000100Y43", "character 'O' at position 8 is not allowed"),
        ("110105194912310021", "check character expected 'X', found '1'"),
        ("91350100M000100Y44", "unified social credit code: check character expected '3'"),
    ],
)
def test_reasons_are_precise(value: str, reason: str) -> None:
    result = check(value)
    assert result.kind is None
    assert result.reason is not None and reason in result.reason


def test_impossible_birth_date_is_refused_even_with_a_right_check_character() -> None:
    body = "11010519490231002"  # 31 February
    value = body + person_check_character(body)
    result = check(value)
    if result.kind == "organisation":  # possible by chance for an all-digit string
        pytest.skip("this string happens to be a valid credit code")
    assert result.kind is None
    assert "birth date '19490231' (positions 7-14) is not a real calendar date" in str(
        result.reason
    )


def test_unknown_region_is_a_warning_not_a_rejection() -> None:
    body = "99999919800101123"
    value = body + person_check_character(body)
    assert check(value).kind == "person"
    warning = identifiers.region_warning(value)
    assert warning is not None and "999999" in warning
    assert identifiers.region_warning(PERSON) is None


def test_uscc_without_eight_leading_digits_is_accepted() -> None:
    body = "9137108ABCDEFGHJK"
    value = body + organisation_check_character(body)
    assert check(value).kind == "organisation"


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_all_digit_strings_passing_both_checks_are_persons(body: str) -> None:
    person = body + person_check_character(body)
    if identifiers.birth_date(person) is not None:
        assert check(person).kind == "person"


@given(st.text(alphabet=identifiers.USCC_ALPHABET, min_size=17, max_size=17))
def test_every_body_with_its_check_character_is_valid(body: str) -> None:
    value = body + organisation_check_character(body)
    assert check(value).kind in ("person", "organisation")
    wrong = next(c for c in identifiers.USCC_ALPHABET if c != value[-1])
    assert check(body + wrong).kind != "organisation"
