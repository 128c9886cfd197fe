"""One root error type; each domain error says what was wrong and what would be accepted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SocialCreditError(Exception):
    """Root of every error socialcredit raises on purpose. ``exit_code`` is the CLI's status."""

    exit_code = 1


class UsageError(SocialCreditError):
    """The caller asked for something malformed: a bad option, a missing column, a bad instant."""

    exit_code = 2


class NotFound(UsageError):
    """What the caller named does not exist: no records about a subject, no such case."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where it is (file and item path) and what to do about it."""

    source: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.message}"


class PolicyError(SocialCreditError):
    """A catalogue or scheme failed validation. Carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the policy:\n{lines}")
