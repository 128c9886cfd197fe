"""Deadlines bind (issue #15, step 1): a setting may shorten a deadline, never lengthen it past
its legal maximum, and a due date never passes the maximum counted in the law's own unit."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from pydantic import ValidationError

from socialcredit.policy.deadlines import DEADLINES
from socialcredit.registry.calendar import WorkCalendar
from socialcredit.settings import Settings

# A Spring Festival week as such calendars set it (illustrative): 15-23 February 2026 off, the
# Saturdays 14 and 28 February worked.
SPRING = WorkCalendar(
    holidays=frozenset(dt.date(2026, 2, d) for d in range(15, 24)),
    workdays=frozenset({dt.date(2026, 2, 14), dt.date(2026, 2, 28)}),
)


def test_every_deadline_cites_a_registered_instrument() -> None:
    for deadline in DEADLINES.values():
        assert deadline.basis.instrument.in_force(dt.date(2026, 12, 1)), deadline.setting
        assert deadline.setting in Settings.model_fields


@pytest.mark.parametrize(
    ("setting", "maximum", "cited"),
    [
        ("objection_days", 20, "Credit Reporting Industry"),
        ("repair_feedback_days", 10, "Credit Repair System"),
        ("repair_decision_days", 3, "Credit Repair System"),
        ("review_days", 20, "Credit Reporting Industry"),
        ("correction_days", 3, "Dishonest Judgment Defaulters"),
    ],
)
def test_a_setting_above_the_legal_maximum_is_refused_naming_it(
    setting: str, maximum: int, cited: str
) -> None:
    assert getattr(Settings(**{setting: maximum}), setting) == maximum  # lawful itself
    with pytest.raises(ValidationError) as refused:
        Settings(**{setting: maximum + 1})
    text = str(refused.value)
    assert f"SOCIALCREDIT_{setting.upper()}={maximum + 1} is above the legal maximum" in text
    assert f"{maximum} {DEADLINES[setting].unit}" in text and cited in text


def test_a_due_date_never_passes_the_law_s_own_count() -> None:
    """Twenty working days from 10 February 2026 run past the Spring Festival to 16 March; the
    regulation's 20 days end on 2 March, and that is the due date."""
    objection = DEADLINES["objection_days"]
    filed = dt.date(2026, 2, 10)
    assert SPRING.add_working_days(filed, 20) == dt.date(2026, 3, 16)
    assert objection.due(filed, 20, SPRING.add_working_days) == dt.date(2026, 3, 2)
    # the default five working days are well inside it
    assert objection.due(filed, 5, SPRING.add_working_days) == dt.date(2026, 2, 24)
    # a working-day law is counted in working days: ten of them, across the holiday
    feedback = DEADLINES["repair_feedback_days"]
    assert feedback.due(filed, 10, SPRING.add_working_days) == SPRING.add_working_days(filed, 10)


def test_the_command_line_names_the_setting_and_the_law() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "socialcredit", "repair", "rules"],
        capture_output=True,
        text=True,
        check=False,
        env={**__import__("os").environ, "SOCIALCREDIT_OBJECTION_DAYS": "400"},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "SOCIALCREDIT_OBJECTION_DAYS=400 is above the legal maximum" in done.stderr
