from __future__ import annotations

from decimal import Decimal

import pytest

from socialcredit.semantics.fields import parse_amount, parse_date, parse_instant


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T08:00:00+08:00", 0),
        ("1970-01-01T00:00:00.5Z", 500_000),
        ("1969-12-31T19:00:00.000001-05:00", 1),
    ],
)
def test_instants_compare_in_utc(text: str, micros: int) -> None:
    assert parse_instant(text) == micros


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T00:00:00",
        "2024-01-01 00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-01-01T00:00:00.1234567Z",
        "2024-01-01T00:00:00+0800",
    ],
)
def test_malformed_instants(text: str) -> None:
    assert parse_instant(text) is None


def test_dates_and_amounts() -> None:
    assert parse_date("2024-02-29") is not None
    assert parse_date("2023-02-29") is None
    assert parse_date("2024-1-05") is None
    assert parse_date("2300-01-01") is None
    assert parse_amount("") == 0 and parse_amount(None) == 0
    assert parse_amount("12.50") == Decimal("12.5")
    for bad in ("1e3", "-1", ".5", "5.", " 5", "1,5"):
        assert parse_amount(bad) is None
