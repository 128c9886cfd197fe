"""One root error type; each domain error says what was wrong and what would be accepted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SocialCreditError(Exception):
    """Root of every error socialcredit raises on purpose.

    Each class carries what every interface answers for it: ``exit_code`` (the CLI's status),
    ``status`` (the HTTP status) and ``code`` (the stable code in the API's error body). One
    handler in the service and one in the CLI map them; a message speaks of fields (``reason
    is required``), and ``field`` names the field so that the CLI can add its flag's name.
    The root itself is a refusal: the request was understood and the registry will not do it.
    """

    exit_code = 1
    status = 422
    code = "refused"

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UsageError(SocialCreditError):
    """The caller asked for something malformed: a bad option, a missing column, a bad instant."""

    exit_code = 2
    status = 400
    code = "invalid"


class InvalidJson(UsageError):
    """A body that should be JSON is not (the same code on every route)."""

    code = "invalid_json"


class InvalidIdentifier(UsageError):
    """Not a valid resident identity number or Unified Social Credit Code."""

    code = "invalid_identifier"


class NotFound(UsageError):
    """What the caller named does not exist: no records about a subject, no such case."""

    status = 404
    code = "not_found"


class Conflict(SocialCreditError):
    """The request clashes with what the registry holds: a decision already taken, a version
    already published with other content, a case already open."""

    exit_code = 1
    status = 409
    code = "conflict"


class Unauthenticated(SocialCreditError):
    status = 401
    code = "unauthenticated"


class Forbidden(SocialCreditError):
    """The caller is known but may not do this (its role, or not for this subject)."""

    status = 403
    code = "forbidden"


class TooLarge(UsageError):
    """A body or a field over a configured limit; the message says the limit."""

    status = 413
    code = "too_large"


class UnsupportedMedia(UsageError):
    status = 415
    code = "unsupported_media_type"


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
    status = 422
    code = "invalid_policy"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the policy:\n{lines}")
