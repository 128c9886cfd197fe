"""Working days: deadlines the law counts in them (objections, repair, reviews).

Saturdays and Sundays are days off, except the make-up working days of the registry's calendar
(China moves weekend days to stretch public holidays); the calendar's holidays are days off too.
The calendar is a YAML file named by ``SOCIALCREDIT_HOLIDAYS_FILE``::

    holidays: [2026-10-01, 2026-10-02, 2026-10-05]
    workdays: [2026-09-27, 2026-10-10]

A deadline of N working days from an event is the end of the N-th working day after the day of
the event, in the registry's time zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from socialcredit.errors import UsageError


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    workdays: frozenset[dt.date] = field(default_factory=frozenset)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The N-th working day after ``start`` (``start`` itself never counts)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day, left = start, days
        while left:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count


def load_calendar(path: Path | None) -> WorkCalendar:
    if path is None:
        return WorkCalendar()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise UsageError(f"cannot read the holiday calendar {path}: {error}") from None
    if not isinstance(doc, dict) or set(doc) - {"holidays", "workdays"}:
        raise UsageError(f"{path}: expected the keys holidays and workdays, each a list of dates")

    def dates(key: str) -> frozenset[dt.date]:
        values = doc.get(key) or []
        found = set()
        for value in values:
            if isinstance(value, dt.date):
                found.add(value)
            else:
                try:
                    found.add(dt.date.fromisoformat(str(value)))
                except ValueError:
                    raise UsageError(f"{path}: {key}: {value!r} is not a date YYYY-MM-DD") from None
        return frozenset(found)

    return WorkCalendar(dates("holidays"), dates("workdays"))
