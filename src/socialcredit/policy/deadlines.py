"""The legal maxima of the registry's deadlines: settings may shorten a deadline, never
lengthen it (issue #15, binding deadlines).

Each deadline is set in working days (``SOCIALCREDIT_OBJECTION_DAYS`` and the rest). Its
maximum is what the instrument says, in the instrument's own unit: the credit-reporting
regulation's 20 days for an objection (and, by the reading below, a review) are calendar days,
the credit repair opinions' 10 and 3 are working days. A setting above the
maximum is refused naming it; and a due date is never later than the maximum counted in its
own unit from the day the case was filed (:meth:`Deadline.due`), so a run of holidays cannot
carry a working-day deadline past a calendar-day law.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from socialcredit.policy.instruments import Basis, parse_basis, shipped_register


@dataclass(frozen=True)
class Deadline:
    setting: str  # the Settings field (SOCIALCREDIT_ + upper case)
    what: str
    maximum: int
    unit: Literal["days", "working days"]
    legal_basis: str  # an instrument id of the register, a space and the locator

    @property
    def basis(self) -> Basis:
        found = parse_basis(self.legal_basis, shipped_register(), None)
        if isinstance(found, str):  # the shipped table is wrong: a bug, tested
            raise ValueError(f"deadline {self.setting}: {found}")
        return found

    @property
    def variable(self) -> str:
        return f"SOCIALCREDIT_{self.setting.upper()}"

    def refusal(self, value: int) -> str | None:
        """Why ``value`` working days may not be set (None: it may). A working-day count is
        never shorter than the same count of calendar days, so the bound is the number."""
        if value <= self.maximum:
            return None
        return (
            f"{self.variable}={value} is above the legal maximum for {self.what}: "
            f"{self.maximum} {self.unit} ({self.basis.display()}); set it to {self.maximum} "
            "or less"
        )

    def due(
        self, start: dt.date, working_days: int, add_working_days: Callable[[dt.date, int], dt.date]
    ) -> dt.date:
        """The due date of a case filed on ``start``: ``working_days`` working days later, and
        never later than the legal maximum counted in its own unit."""
        due = add_working_days(start, working_days)
        if self.unit == "days":
            return min(due, start + dt.timedelta(days=self.maximum))
        return min(due, add_working_days(start, self.maximum))


DEADLINES: dict[str, Deadline] = {
    d.setting: d
    for d in (
        Deadline(
            "objection_days",
            "deciding an objection",
            20,
            "days",
            "credit-reporting-regulation art. 25",
        ),
        Deadline(
            "repair_feedback_days",
            "answering a credit repair application",
            10,
            "working days",
            "guobanfa-2025-22 feedback on repair applications",
        ),
        Deadline(
            "repair_decision_days",
            "deciding a complete credit repair file",
            3,
            "working days",
            "guobanfa-2025-22 decision on a complete file",
        ),
        # The SPC's provisions (art. 12) give a court three working days to correct wrong
        # information once a correction request is found well founded: the furnisher's term
        # for sending the corrected record after a review retracts the wrong one.
        Deadline(
            "correction_days",
            "sending a corrected record",
            3,
            "working days",
            "spc-2017-7 art. 12",
        ),
        # No instrument sets a term for the human review of an automated standing (PIPL art.
        # 24 gives the right, not the term); the reading chosen: a review is an objection to
        # the information a standing is made of, so the objection's maximum binds it.
        Deadline(
            "review_days",
            "a human review of a standing",
            20,
            "days",
            "credit-reporting-regulation art. 25",
        ),
    )
}
