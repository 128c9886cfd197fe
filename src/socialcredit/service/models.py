"""The API's request and response bodies (what /openapi.json documents)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from socialcredit.identifiers import Kind as SubjectKind
from socialcredit.policy.model import ListKind, MeasureKind

# Days are ISO 8601 dates (YYYY-MM-DD); instants ISO 8601 date-times in UTC.
PolicyKind = Literal["catalogue", "scheme"]
# registry.audit.ROLES and registry.access.ROLES (tests/service/test_schema.py holds them equal)
ReaderRole = Literal["operator", "furnisher", "agency", "subject", "peer", "public", "system"]
KeyRole = Literal["operator", "furnisher", "agency", "subject", "peer"]


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, machine-readable: e.g. not_found, forbidden.")
    message: str = Field(description="What went wrong and what to do about it.")
    details: list[dict[str, Any]] | None = None


class Error(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: str
    store: str | None = None
    schema_revision: str | None = None


class TriggerOut(BaseModel):
    list_: str | None = Field(
        alias="list", description="The list the subject is on that triggers the measure."
    )
    grade: str | None = Field(description="The grade that triggers it (grade measures).")
    under_objection: bool
    objections: list[int]


class MeasureOut(BaseModel):
    scheme: str
    scheme_version: int
    measure: str
    title: str
    kind: MeasureKind
    legal_basis: str
    under_objection: bool = Field(description="A record that could cause it is under objection.")
    triggered_by: list[TriggerOut]


class CheckOut(BaseModel):
    subject: str
    kind: SubjectKind | None = None
    as_of: dt.date | None = None
    known: bool | None = Field(
        default=None, description="Whether the registry holds any data on the subject."
    )
    measures: list[MeasureOut] | None = None
    error: str | None = Field(default=None, description="Set when the identifier is not valid.")


class CheckRequest(BaseModel):
    subjects: list[str] = Field(max_length=10_000, description="Up to 10,000 identifiers.")
    purpose: str | None = Field(
        default=None, max_length=500, description="Why (audited); default: point-of-service check."
    )


class ChecksOut(BaseModel):
    agency: str
    results: list[CheckOut]


class RejectionOut(BaseModel):
    row: int
    field: str
    reason: str
    detail: str | None = None


class IngestOut(BaseModel):
    kind: Literal["records", "events"]
    furnisher: str
    rows_read: int
    accepted: int
    noop: int
    rejected: int
    batch_id: int | None
    duplicate_of: int | None
    recorded_at: dt.datetime | None
    warnings: list[str]
    rejections: list[RejectionOut]
    standings: str


class ObjectionIn(BaseModel):
    record: str = Field(description="FURNISHER/RECORD_ID of one of your records.", max_length=300)
    reason: str = Field(min_length=1, max_length=5000)


class RepairIn(BaseModel):
    record: str = Field(max_length=300)
    evidence: str = Field(min_length=1, max_length=5000)
    commitment: bool = Field(description="You sign the commitment to keep faith (信用承诺).")


class ReviewIn(BaseModel):
    reason: str = Field(min_length=1, max_length=5000)
    scheme: str | None = Field(default=None, max_length=100)


class CaseOut(BaseModel):
    kind: Literal["objection", "repair"]
    id: int
    subject: str
    record: str
    text: str
    due: dt.date
    outcome: Literal["upheld", "rejected", "granted", "denied"] | None
    decision_reason: str | None
    decided_by: str | None
    overdue: bool
    lapses_on: dt.date | None = Field(
        None,
        description="An objection's lapse day (the day after it is due): from then, while "
        "undecided, its record has no effect in any scheme. None for a repair application.",
    )
    complete_on: dt.date | None = Field(
        None,
        description="A repair application's file found complete on this day; its decision "
        "is then due (``due``) within the repair decision deadline.",
    )


class ReviewOut(BaseModel):
    id: int
    subject: str
    scheme_id: str | None
    reason: str
    due: dt.date
    outcome: Literal["confirmed", "corrected"] | None
    decision_reason: str | None
    decided_by: str | None
    overdue: bool
    record: str | None = Field(
        None, description="Corrected: the record found wrong, retracted (FURNISHER/RECORD_ID)."
    )


class CorrectionOut(BaseModel):
    id: int
    review_id: int
    subject: str
    furnisher: str
    record: str = Field(description="The record found wrong and retracted.")
    due: dt.date = Field(description="The day the corrected record is due by.")
    replacement: str | None = Field(description="The corrected record, once named.")
    completed_by: str | None
    overdue: bool


class Replacement(BaseModel):
    record_id: str = Field(
        min_length=1, max_length=100, description="The corrected record's id, already sent."
    )


class ObjectionDecision(BaseModel):
    uphold: bool = Field(description="true: the record is retracted; false: it stands.")
    reason: str = Field(min_length=1, max_length=5000)


class RepairDecision(BaseModel):
    grant: bool
    reason: str = Field(min_length=1, max_length=5000)


class ReviewDecision(BaseModel):
    outcome: Literal["confirmed", "corrected"]
    reason: str = Field(min_length=1, max_length=5000)
    record: str | None = Field(
        None,
        max_length=300,
        description="Corrected: the record found wrong (FURNISHER/RECORD_ID); it is retracted "
        "and its furnisher asked for the corrected record. Required with corrected.",
    )


class NoticeOut(BaseModel):
    id: int
    created: dt.datetime
    kind: Literal["record", "listed", "delisted", "grade", "objection", "repair", "review"]
    scheme_id: str | None
    ref: str | None
    text: str
    sent: dt.datetime | None
    channel: str | None


class ReadOut(BaseModel):
    seq: int
    at: dt.datetime
    actor: str
    role: ReaderRole
    purpose: str
    what: str


class OrganisationOut(BaseModel):
    identifier: str
    name: str | None
    region: str | None


class PublicRecordOut(BaseModel):
    furnisher: str
    record_id: str
    code: str
    title: str
    legal_basis: str
    occurred_on: dt.date
    amount: str | None
    published_from: dt.date
    published_until: dt.date = Field(description="The first day it is no longer published.")
    under_objection: bool


class PublicListingOut(BaseModel):
    scheme: str
    list_id: str
    title: str
    kind: ListKind
    legal_basis: str
    since: dt.date | None
    until: dt.date | None = Field(description="The first day off the list.")


class PublicSubjectOut(BaseModel):
    identifier: str
    kind: SubjectKind
    name: str | None
    on: dt.date
    records: list[PublicRecordOut]
    lists: list[PublicListingOut]


class PublicListOut(BaseModel):
    scheme: str
    list_id: str
    title: str
    kind: ListKind
    legal_basis: str


class PublicMemberOut(BaseModel):
    identifier: str
    kind: SubjectKind
    name: str | None
    since: dt.date | None
    until: dt.date | None = Field(description="The first day off the list.")


class PublicPageOut(BaseModel):
    scheme: str
    list_id: str
    title: str
    kind: ListKind
    legal_basis: str
    on: dt.date
    total: int
    page: int
    per_page: int
    pages: int
    members: list[PublicMemberOut]


class SchemeOut(BaseModel):
    id: str
    version: int
    title: str
    subjects: list[SubjectKind]
    effective_from: dt.date | None
    summary: str = Field(description="Every rule, list and measure in plain language.")


class PolicyVersionOut(BaseModel):
    id: int
    kind: PolicyKind
    policy_id: str
    version: int
    effective_from: dt.date | None
    published: dt.datetime
    digest: str
    published_by: str | None = None
    reason: str | None = None
    changes: list[str] | None = Field(
        default=None, description="The changes against the version before, milder or harsher."
    )
    impact: dict[str, Any] | None = Field(
        default=None,
        description="What it changed across the registry when published (registry.impact).",
    )


class PublishedOut(BaseModel):
    kind: PolicyKind
    policy_id: str
    version: int
    new: bool
    evaluated: list[str] = Field(description="Schemes whose current standings were re-evaluated.")


class FurnisherOut(BaseModel):
    id: str
    name: str
    codes: list[str]


class BatchOut(BaseModel):
    id: int
    furnisher: str
    kind: Literal["records", "events", "decision"]
    file: str
    received: dt.datetime
    rows_read: int
    accepted: int
    noop: int
    rejected: int
    rejection_rate: float


class StandingOut(BaseModel):
    subject_id: str
    kind: SubjectKind
    as_of: dt.date
    known_at: dt.datetime
    under_objection: dict[str, int] = Field(
        description="FURNISHER/RECORD_ID → the open objection's id."
    )
    standings: dict[str, dict[str, Any]] = Field(
        description="Per scheme: version, holds_until and the standing with every point explained."
    )


class KeyOut(BaseModel):
    id: int
    role: KeyRole
    label: str
