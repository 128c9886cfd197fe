"""The publication tiers and repair conditions are dated versions of their instruments: NDRC
Order No. 58 until 2026-03-31, the Credit Repair Management Measures (NDRC Order No. 36) from
2026-04-01."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from importlib import resources

import pytest

from socialcredit.policy.instruments import shipped_register
from socialcredit.policy.repair import parse_rules, rules_on, shipped_rules
from socialcredit.registry.publication import publication_window
from socialcredit.semantics.fields import Record
from socialcredit.settings import Settings

SHIPPED = (resources.files("socialcredit") / "data" / "repair.yaml").read_text("utf-8")


def test_the_rules_in_force_change_basis_on_2026_04_01() -> None:
    before, after = rules_on(dt.date(2026, 3, 31)), rules_on(dt.date(2026, 4, 1))
    assert before.basis.instrument.id == "ndrc-order-58"
    assert after.basis.instrument.id == "ndrc-order-36"
    assert before.until == after.effective == dt.date(2026, 4, 1) and after.until is None
    assert "NDRC Order No. 36" in after.cite()
    for version in shipped_rules():
        tiers = version.tiers
        assert not tiers["minor"].published and tiers["minor"].repair_after is None
        assert [str(tiers[s].publication) for s in ("minor", "general", "serious")] == [
            "3 months",
            "1 year",
            "3 years",
        ]
        assert [str(tiers[s].repair_after) for s in ("general", "serious")] == [
            "3 months",
            "1 year",
        ]
    # 3 calendar months from 30 November is 28 February (Civil Code art. 202's month end)
    assert after.tiers["general"].repair_from(dt.date(2026, 11, 30)) == dt.date(2027, 2, 28)


def test_a_publication_window_never_outlasts_its_tier() -> None:
    """SOCIALCREDIT_PUBLICATION_DAYS_MINOR may say 92 days, but from 1 February three months
    end on 1 May (89 days): the tier of the rules in force on the first day binds."""
    record = Record(
        row=1,
        furnisher="f",
        record_id="r",
        subject_id="91350100M000100Y43",
        kind="organisation",
        code="utility.late_fees",
        occurred_on=dt.date(2026, 2, 1),
        amount=Decimal(0),
        recorded_us=int(dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp() * 1_000_000),
    )
    settings = Settings(publication_days_minor=92)
    assert publication_window(record, "minor", settings, None) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 5, 1),
    )
    default = publication_window(record, "general", Settings(), None)
    assert default == (dt.date(2026, 2, 1), dt.date(2027, 2, 1))  # 365 days, within the year


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("effective: 2026-04-01", "effective: 2022-01-01"), "versions must be in order"),
        (("ndrc-order-36 publication", "ndrc-order-58 publication"), "not in force on 2026-04-01"),
        (("ndrc-order-36 publication", "ndrc-order-99 publication"), "not in the instruments"),
        (
            (
                '"ndrc-order-58 publication periods and repair of dishonesty information"',
                '"ndrc-order-58"',
            ),
            "names no locator",
        ),
        (("serious: {publication: {years: 3}", "grave: {publication: {years: 3}"), "tiers"),
        (("repair_after: {months: 3}", "repair_after: {weeks: 12}"), "repair_after"),
    ],
)
def test_malformed_rules_are_refused_naming_the_field(
    change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in SHIPPED
    with pytest.raises(ValueError, match=message):
        parse_rules(SHIPPED.replace(old, new), shipped_register())
