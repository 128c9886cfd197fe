"""Subject identifiers: the resident identity number and the Unified Social Credit Code.

A person is identified by the 18-character resident identity number (GB 11643-1999): 17 digits
and an ISO 7064 MOD 11-2 check character (``0-9`` or ``X``), with the birth date at positions
7-14. An organisation is identified by the 18-character Unified Social Credit Code (GB 32100-2015):
characters of ``0123456789ABCDEFGHJKLMNPQRTUWXY`` with a weighted check character modulo 31.

Identifiers are taken exactly as given: no trimming, no case folding (``x`` is not ``X``).
A string that passes both checks (possible for all-digit strings) is a person.

python-stdnum supplies the check-character arithmetic; its full ``validate`` is not used, because
it rejects unknown region codes (region tables change, so that is only a warning here) and demands
eight leading digits in a USCC, which GB 32100 does not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from stdnum import numdb
from stdnum.cn import ric, uscc

Kind = Literal["person", "organisation"]

LENGTH = 18
DIGITS = "0123456789"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ALLOWED = (
    "resident identity numbers use the digits 0-9 with a final 0-9 or X; "
    "credit codes use 0-9 and the capitals A-Y except I, O, S, V and Z"
)


@dataclass(frozen=True)
class IdCheck:
    """The outcome of checking one identifier."""

    value: str
    kind: Kind | None
    reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.kind is not None


def _is_person_shaped(value: str) -> bool:
    return all(c in DIGITS for c in value[:17]) and value[17] in DIGITS + "X"


def _is_organisation_shaped(value: str) -> bool:
    return all(c in USCC_ALPHABET for c in value)


def birth_date(value: str) -> dt.date | None:
    """The birth date encoded at positions 7-14 of a resident number, or None if not a date."""
    try:
        return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def _person_problem(value: str) -> str | None:
    expected = ric.calc_check_digit(value)
    if value[17] != expected:
        return f"check character expected {expected!r}, found {value[17]!r}"
    if birth_date(value) is None:
        return f"birth date {value[6:14]!r} (positions 7-14) is not a real calendar date"
    return None


def _organisation_problem(value: str) -> str | None:
    expected = uscc.calc_check_digit(value[:17])
    if value[17] != expected:
        return f"check character expected {expected!r}, found {value[17]!r}"
    return None


def region_warning(value: str) -> str | None:
    """A warning when a valid resident number's region code is not in python-stdnum's table.

    Never a reason to reject: region tables change, and old numbers stay valid.
    """
    if kind_of(value) != "person":
        return None
    if any(props for _part, props in numdb.get("cn/loc").info(value[:6])):
        return None
    return f"region code {value[:6]} is not in the known region table (accepted: tables change)"


def check(value: str) -> IdCheck:
    """Check one identifier and say what it identifies, or precisely why it is invalid."""
    if len(value) != LENGTH:
        return IdCheck(value, None, f"length {len(value)}, expected {LENGTH} characters")
    for position, char in enumerate(value, start=1):
        if char not in USCC_ALPHABET:
            return IdCheck(
                value, None, f"character {char!r} at position {position} is not allowed: {_ALLOWED}"
            )
    person_problem = _person_problem(value) if _is_person_shaped(value) else "not person-shaped"
    if person_problem is None:
        return IdCheck(value, "person")
    organisation_problem = _organisation_problem(value)
    if organisation_problem is None:
        return IdCheck(value, "organisation")
    if not _is_person_shaped(value):
        return IdCheck(value, None, f"unified social credit code: {organisation_problem}")
    return IdCheck(
        value,
        None,
        f"neither a resident identity number ({person_problem}) "
        f"nor a unified social credit code ({organisation_problem})",
    )


def kind_of(value: str) -> Kind | None:
    """The kind of subject a valid identifier names, or None when it is invalid."""
    return check(value).kind


def person_check_character(first17: str) -> str:
    """The MOD 11-2 check character for 17 digits (used by generators and tests)."""
    return ric.calc_check_digit(first17 + "0")


def organisation_check_character(first17: str) -> str:
    """The modulo-31 check character for 17 credit-code characters."""
    return str(uscc.calc_check_digit(first17))
