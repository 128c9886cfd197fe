"""The exact reading of furnished rows: field formats, rejection order and reason texts.

Every engine decides *whether* a row is rejected and *which* (field, problem) comes first by
the rules here; the text a person reads is always made by :func:`reason_text`, so the reasons
are word for word the same whichever engine ran.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from socialcredit.identifiers import Kind, check

RECORD_COLUMNS = ("furnisher", "record_id", "subject_id", "code", "occurred_on", "recorded_at")
RECORD_OPTIONAL = ("amount",)
EVENT_COLUMNS = ("furnisher", "record_id", "event", "date", "recorded_at")
EVENT_NAMES = (
    "fulfilled",
    "repaired",
    "retracted",
    "objected",
    "objection_rejected",
    "extended",
    "objection_lapsed",
)
# Written by the registry for a subject's objection (filed; lapsing undecided the day after
# its due date; decided against the subject); a furnisher does not send these
# (registry.ingest refuses them).
OBJECTION_EVENTS = ("objected", "objection_rejected", "objection_lapsed")

# The registry holds dates in these years. A date outside is refused as implausible (a typo such
# as 2204 for 2024), which also keeps every effect end representable.
MIN_YEAR = 1900
MAX_YEAR = 2199

DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
INSTANT_RE = re.compile(
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,6})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
AMOUNT_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,18})?$")
EPOCH = dt.date(1970, 1, 1)
US_PER_DAY = 86_400_000_000

# Problems, in the order they are checked.
ROW = "row"
MISSING = "missing"
MALFORMED = "malformed"
INVALID_ID = "invalid_id"
UNKNOWN_CODE = "unknown_code"
KIND_MISMATCH = "kind_mismatch"
CONFLICT = "conflict"
UNKNOWN_RECORD = "unknown_record"
NOT_EXTENDABLE = "not_extendable"
# Checked by the registry's ingest only, after all of the above.
OTHER_FURNISHER = "other_furnisher"
UNAUTHORISED = "unauthorised"
LEDGER_CONFLICT = "ledger_conflict"
REGISTRY_EVENT = "registry_event"
CONTROL = "control_characters"
TOO_LONG = "too_long"
OUT_OF_RANGE = "out_of_range"
ERASED = "erased"
BEFORE_CONDUCT = "before_conduct"
RESERVED_ID = "reserved_id"

# The registry's own bounds on furnished fields (checked by its ingest; see docs/registry.md).
MAX_RECORD_ID = 100  # a subject must be able to name the record in an objection
MAX_SUBJECT_NAME = 200
LENGTH_LIMITS = {"record_id": MAX_RECORD_ID, "subject_name": MAX_SUBJECT_NAME}
# The earliest date a furnished fact may carry: the founding of the People's Republic, before
# which no instrument the registry applies existed. The latest is the day the batch arrives.
EARLIEST_FACT = dt.date(1949, 10, 1)
# At most this many characters of a rejected value are quoted back in a reason.
SHOWN = 80

PROBLEM_LABELS = {
    ROW: "unreadable row",
    MISSING: "required field empty",
    MALFORMED: "malformed field",
    INVALID_ID: "invalid identifier",
    UNKNOWN_CODE: "code not in catalogue",
    KIND_MISMATCH: "code does not apply to the subject's kind",
    CONFLICT: "conflicts with an earlier accepted row",
    UNKNOWN_RECORD: "event for a record not accepted",
    NOT_EXTENDABLE: "extension of a record on no extendable list",
    OTHER_FURNISHER: "names another furnisher",
    UNAUTHORISED: "code not authorised for the furnisher",
    LEDGER_CONFLICT: "conflicts with a record in the ledger",
    REGISTRY_EVENT: "an event only the registry writes",
    CONTROL: "control characters or other unprintable text",
    TOO_LONG: "field too long",
    OUT_OF_RANGE: "date outside the registry's range",
    ERASED: "record erased after its retention period",
    BEFORE_CONDUCT: "decision day before the conduct",
    RESERVED_ID: "record id reserved for the registry",
}


def shown(value: str | None) -> str:
    """A rejected value as a reason quotes it: its repr, cut at :data:`SHOWN` characters with
    its length said, so that a huge value never makes a huge report."""
    if value is None or len(value) <= SHOWN:
        return repr(value)
    return f"{value[:SHOWN]!r}… ({len(value):,} characters)"


def parse_date(value: str | None) -> dt.date | None:
    """A date ``YYYY-MM-DD`` that exists in the calendar, in the registry's years; else None."""
    if value is None or not DATE_RE.match(value):
        return None
    try:
        date = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return date if MIN_YEAR <= date.year <= MAX_YEAR else None


def parse_instant(value: str | None) -> int | None:
    """An instant as microseconds since 1970-01-01T00:00:00Z (UTC), or None when malformed."""
    match = INSTANT_RE.match(value) if value is not None else None
    if match is None:
        return None
    day, hour, minute, second, fraction, zone = match.groups()
    date = parse_date(day)
    if date is None or int(hour) > 23 or int(minute) > 59 or int(second) > 59:
        return None
    offset = 0
    if zone != "Z":
        off_h, off_m = int(zone[1:3]), int(zone[4:6])
        if off_h > 23 or off_m > 59:
            return None
        offset = (off_h * 60 + off_m) * 60_000_000 * (-1 if zone[0] == "-" else 1)
    micros = int((fraction or ".")[1:].ljust(6, "0"))
    local = (date - EPOCH).days * US_PER_DAY + (
        (int(hour) * 60 + int(minute)) * 60 + int(second)
    ) * 1_000_000
    return local + micros - offset


def parse_amount(value: str | None) -> Decimal | None:
    """A non-negative decimal without exponent; empty or absent is 0; None when malformed."""
    if value is None or value == "":
        return Decimal(0)
    return Decimal(value) if AMOUNT_RE.match(value) else None


def is_missing(value: str | None) -> bool:
    return value is None or value == ""


@dataclass(frozen=True)
class Rejection:
    """Where a row failed: its number (from 1 at the first data row), the field and the problem."""

    row: int
    field: str
    problem: str
    value: str | None
    detail: str | None = None  # CONFLICT: the row accepted first; KIND_MISMATCH: the kind

    @property
    def label(self) -> str:
        return f"{self.field}: {PROBLEM_LABELS[self.problem]}"


def reason_text(rejection: Rejection, *, kind_subjects: Mapping[str, tuple[str, ...]]) -> str:
    """The sentence a furnisher reads for a rejected row: what was wrong and what is accepted."""
    field, problem, value = rejection.field, rejection.problem, rejection.value
    if problem == ROW:
        return str(value)
    if problem == MISSING:
        return f"{field} is required but empty"
    if problem == MALFORMED:
        if field in ("occurred_on", "date", "decided_on"):
            return (
                f"not a real date in the form YYYY-MM-DD between {MIN_YEAR} and {MAX_YEAR}: "
                f"{shown(value)}"
            )
        if field == "recorded_at":
            return (
                "not an instant such as 2024-05-01T08:00:00Z or 2024-05-01T16:00:00+08:00 "
                f"(seconds required, up to 6 decimals, Z or an offset): {shown(value)}"
            )
        if field == "amount":
            return (
                "not a non-negative decimal without exponent (at most 20 digits before the point "
                f"and 18 after): {shown(value)}"
            )
        if field == "region":
            return f"not an administrative division code of 6 digits: {shown(value)}"
        if field == "event":
            return f"unknown event {shown(value)}; expected one of {', '.join(EVENT_NAMES)}"
        return f"malformed {field}: {shown(value)}"
    if problem == INVALID_ID:
        return f"invalid identifier {shown(value)}: {check(str(value)).reason}"
    if problem == UNKNOWN_CODE:
        return f"code {shown(value)} is not in the catalogue"
    if problem == KIND_MISMATCH:
        applies = ", ".join(kind_subjects.get(str(value), ()))
        return (
            f"code {shown(value)} does not apply to {rejection.detail}s (it applies to: {applies})"
        )
    if problem == CONFLICT:
        return (
            f"record {value} was already accepted from row {rejection.detail} with different "
            "content; to change a record, retract it and send a corrected one with a new record_id"
        )
    if problem == NOT_EXTENDABLE:
        return (
            f"code {shown(rejection.detail)} of record {value} is on no extendable list; an "
            "extension applies only to a list that allows one (extendable)"
        )
    if problem == UNKNOWN_RECORD:
        return f"no accepted record {value}: an event must follow its record"
    if problem == OTHER_FURNISHER:
        return (
            f"the row names furnisher {shown(value)} but the batch is furnished by "
            f"{rejection.detail!r}; a furnisher sends only its own rows"
        )
    if problem == UNAUTHORISED:
        return (
            f"furnisher {rejection.detail!r} is not authorised to furnish code {shown(value)} "
            "(see `socialcredit furnisher list`)"
        )
    if problem == LEDGER_CONFLICT:
        return (
            f"record {value} is already in the ledger (batch {rejection.detail}) with different "
            "content; to change a record, retract it and send a corrected one with a new record_id"
        )
    if problem == RESERVED_ID:
        return (
            f"record_id {shown(value)} begins with '~', which the registry keeps for its own "
            "records (an erased record's placeholder); give the record's own id"
        )
    if problem == BEFORE_CONDUCT:
        return (
            f"decided_on {value}: the decision day is before the conduct it decides "
            "(occurred_on); give the day the decision was made, on or after occurred_on"
        )
    if problem == ERASED:
        return (
            f"record {value} was erased on {rejection.detail} when its retention period ended "
            "(Regulation on the Administration of the Credit Reporting Industry art. 16); an "
            "erased record is not furnished again"
        )
    if problem == REGISTRY_EVENT:
        return (
            f"event {shown(value)} is written by the registry itself when a subject objects to a "
            "record and when the objection is decided; a furnisher does not send it"
        )
    if problem == TOO_LONG:
        return (
            f"the {field} holds {len(str(value)):,} characters; a {field} holds at most "
            f"{LENGTH_LIMITS.get(field, 0):,} (a subject must be able to name the record)"
            if field == "record_id"
            else f"the {field} holds {len(str(value)):,} characters; at most "
            f"{LENGTH_LIMITS.get(field, 0):,}"
        )
    if problem == OUT_OF_RANGE:
        if str(value) < EARLIEST_FACT.isoformat():
            return (
                f"{field} {shown(value)} is before {EARLIEST_FACT.isoformat()}, the earliest "
                "date the registry holds"
            )
        return (
            f"{field} {shown(value)} is after {rejection.detail}, the day the registry received "
            "the batch: a fact cannot be furnished before it happens"
        )
    if problem == CONTROL:
        return (
            f"the {field} {shown(value)} holds control characters or other unprintable text "
            "(U+0000-U+001F, U+007F-U+009F, format characters such as U+200B, separators); "
            f"a {field} is chained into the ledger and must be printable text"
        )
    raise ValueError(f"unknown problem {problem!r}")


@dataclass(frozen=True)
class Record:
    row: int
    furnisher: str
    record_id: str
    subject_id: str
    kind: Kind
    code: str
    occurred_on: dt.date
    amount: Decimal
    recorded_us: int
    # The day the decision was made, when the furnisher gives it (registry ingest only): the
    # publication window starts there instead of at occurred_on (issue #15 item 2)
    decided_on: dt.date | None = None

    def content(self) -> tuple[object, ...]:
        """The parsed fields compared when the same key arrives twice."""
        return (self.subject_id, self.code, self.occurred_on, self.amount, self.recorded_us)


@dataclass(frozen=True)
class Event:
    row: int
    furnisher: str
    record_id: str
    event: str
    date: dt.date | None
    recorded_us: int


def _recorded_at(row: int, fields: Mapping[str, str | None]) -> int | Rejection:
    """The row's ``recorded_at`` in UTC microseconds, or why it is missing or malformed."""
    value = fields.get("recorded_at")
    if is_missing(value):
        return Rejection(row, "recorded_at", MISSING, value)
    recorded = parse_instant(value)
    if recorded is None:
        return Rejection(row, "recorded_at", MALFORMED, value)
    return recorded


def read_record(
    row: int, fields: Mapping[str, str | None], codes: Mapping[str, tuple[str, ...]]
) -> Record | Rejection:
    """Parse one record row, or say the first reason it is rejected (conflicts excepted).

    ``codes`` maps each catalogue code to the subject kinds it applies to.
    """
    error = fields.get("_error")
    if error:
        return Rejection(row, "row", ROW, error)
    for name in ("furnisher", "record_id", "subject_id", "code", "occurred_on"):
        if is_missing(fields.get(name)):
            return Rejection(row, name, MISSING, fields.get(name))
    occurred = parse_date(fields["occurred_on"])
    if occurred is None:
        return Rejection(row, "occurred_on", MALFORMED, fields["occurred_on"])
    amount = parse_amount(fields.get("amount"))
    if amount is None:
        return Rejection(row, "amount", MALFORMED, fields.get("amount"))
    recorded = _recorded_at(row, fields)
    if isinstance(recorded, Rejection):
        return recorded
    subject_id = str(fields["subject_id"])
    kind = check(subject_id).kind
    if kind is None:
        return Rejection(row, "subject_id", INVALID_ID, subject_id)
    code = str(fields["code"])
    if code not in codes:
        return Rejection(row, "code", UNKNOWN_CODE, code)
    if kind not in codes[code]:
        return Rejection(row, "code", KIND_MISMATCH, code, kind)
    return Record(
        row=row,
        furnisher=str(fields["furnisher"]),
        record_id=str(fields["record_id"]),
        subject_id=subject_id,
        kind=kind,
        code=code,
        occurred_on=occurred,
        amount=amount,
        recorded_us=recorded,
    )


def read_event(row: int, fields: Mapping[str, str | None]) -> Event | Rejection:
    """Parse one event row, or say the first reason it is rejected (unknown records excepted)."""
    error = fields.get("_error")
    if error:
        return Rejection(row, "row", ROW, error)
    for name in ("furnisher", "record_id", "event"):
        if is_missing(fields.get(name)):
            return Rejection(row, name, MISSING, fields.get(name))
    event = str(fields["event"])
    if event not in EVENT_NAMES:
        return Rejection(row, "event", MALFORMED, event)
    date = None
    if event != "retracted":  # a date on a retraction is accepted and ignored
        if is_missing(fields.get("date")):
            return Rejection(row, "date", MISSING, fields.get("date"))
        date = parse_date(fields["date"])
        if date is None:
            return Rejection(row, "date", MALFORMED, fields["date"])
    recorded = _recorded_at(row, fields)
    if isinstance(recorded, Rejection):
        return recorded
    return Event(
        row=row,
        furnisher=str(fields["furnisher"]),
        record_id=str(fields["record_id"]),
        event=event,
        date=date,
        recorded_us=recorded,
    )
