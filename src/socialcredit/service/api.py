"""The JSON API under ``/v1``: a thin layer over the registry's service functions.

Every route names the roles that may call it; a subject's routes act on the identifier its key
is bound to and on no other; a furnisher submits as its own furnisher only; an agency checks at
its own agency only. Every read of a person's data goes through the registry's audited reads.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Annotated, Any, BinaryIO, cast

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.params import Query as QueryInfo
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from socialcredit.errors import (
    Forbidden,
    InvalidIdentifier,
    InvalidJson,
    NotFound,
    TooLarge,
    Unauthenticated,
    UnsupportedMedia,
    UsageError,
)
from socialcredit.identifiers import check
from socialcredit.inputs import json_array_to_lines
from socialcredit.policy.summary import describe_scheme
from socialcredit.registry.access import Principal
from socialcredit.registry.admin import publish_files
from socialcredit.registry.audit import Reader, reads_of
from socialcredit.registry.checks import result_text
from socialcredit.registry.corrections import complete_correction, list_corrections
from socialcredit.registry.due_process import (
    Case,
    apply_repair,
    complete_repair,
    decide_objection,
    decide_repair,
    file_objection,
    queue,
)
from socialcredit.registry.exchange import delta_bytes
from socialcredit.registry.impact import impact_of
from socialcredit.registry.ingest import IngestReport, ingest_events, ingest_records
from socialcredit.registry.notices import notices_of
from socialcredit.registry.policies import (
    catalogue_at,
    list_batches,
    list_furnishers,
    policy_kind,
    schemes_in_force,
)
from socialcredit.registry.publication import MAX_PER_PAGE, public_view
from socialcredit.registry.reports import issue_report, subject_cases
from socialcredit.registry.review import Review, decide_review, list_reviews, request_review
from socialcredit.registry.standings.online import standing_of, view_json
from socialcredit.semantics.fields import reason_text
from socialcredit.semantics.reference import catalogue_kinds
from socialcredit.service import models as m
from socialcredit.service.security import STREAMED, SUBMISSIONS, limited_class
from socialcredit.service.state import State, app_state, article, state_of
from socialcredit.settings import Settings
from socialcredit.store.db import now_us, us_to_datetime
from socialcredit.store.schema import policy_versions, subjects

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer sck_...")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: sck_...")

ERRORS: dict[int, dict[str, Any]] = {
    code: {"model": m.Error, "description": text}
    for code, text in (
        (400, "The request cannot be acted on (or its body is not JSON): the message says why."),
        (401, "No valid API key was given."),
        (403, "The key's role may not do this, or not for this subject."),
        (404, "No such subject, case, scheme or list."),
        (
            409,
            "It clashes with what the registry holds: a decision already taken, a version "
            "already published with other content, a record already under objection.",
        ),
        (413, "The body is too large: the message says the limit."),
        (415, "The body's media type is not one this route takes."),
        (422, "The body or a parameter is malformed: details name each place."),
        (429, "Too many requests: wait as Retry-After says."),
        (503, "The store is unavailable, or the registry is catching up: retry shortly."),
    )
}


def raises(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error statuses a route's own work can give (its domain errors: 400, 404, 409, …),
    for its ``responses``; :func:`document_statuses` adds those the route's form implies."""
    return {code: ERRORS[code] for code in codes}


def _authenticated(dependant: Dependant) -> bool:
    return any(d.call is caller or _authenticated(d) for d in dependant.dependencies)


def implied_statuses(route: APIRoute) -> set[int]:
    """The error statuses a route's form implies, whatever it does: 401 and 403 if it needs a
    key; 422 if it has parameters or a body; 400 for a query parameter given twice (the
    middleware refuses it) or a body that may not parse; 413 for any body (the middleware's
    cap); 415 for the submissions' files; 429 if it is rate-limited; 503 if it reads the
    store (every /v1 route)."""
    found: set[int] = set()
    methods = route.methods or set()
    if _authenticated(route.dependant):
        found |= {401, 403}
    params = get_flat_params(route.dependant)
    if params or route.body_field is not None:
        found.add(422)
    if any(isinstance(p.field_info, QueryInfo) for p in params):
        found.add(400)  # a query parameter given twice (the middleware)
    if methods & {"POST", "PUT", "PATCH"}:
        found.add(413)
        if route.body_field is not None or route.path.startswith(STREAMED):
            found.add(400)
        if route.path in SUBMISSIONS:  # they take CSV, NDJSON, a JSON array, Parquet
            found.add(415)
    if any(limited_class(route.path, method) for method in methods):
        found.add(429)
    if route.path.startswith("/v1/"):
        found.add(503)
    return found


def document_statuses(routes: Sequence[Any]) -> None:
    """Give each API route's OpenAPI entry exactly its error statuses: those it declares
    (:func:`raises`) and those its form implies (:func:`implied_statuses`) — so that a public
    route documents no 401 and a GET no 413. tests/service/test_schema.py sends positive and
    negative requests and fails on any status a route gives that it does not document."""
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for code in sorted(implied_statuses(route)):
            route.responses.setdefault(code, ERRORS[code])


def token_of(request: Request) -> str | None:
    """The API key a request gives: ``Authorization: Bearer KEY`` (or ``ApiKey KEY``, as
    OpenSanctions' clients send it) or ``X-API-Key``. An ``Authorization`` header of another
    form is refused even beside a valid ``X-API-Key``: credentials that say two things are not
    guessed between."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.casefold() not in ("bearer", "apikey") or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <API key>'")
        return token.strip()
    return request.headers.get("x-api-key") or None


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    key: Annotated[str | None, Depends(_header)] = None,
) -> Principal:
    """The authenticated caller (:func:`token_of`; ``bearer`` and ``key`` document the two
    headers in the OpenAPI document)."""
    token = token_of(request)
    if not token:
        raise Unauthenticated("this route needs an API key (X-API-Key header)")
    found = state_of(request).principal(token)
    if found is None:
        raise Unauthenticated("the API key is not valid or was revoked")
    return found


def role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(who: Annotated[Principal, Depends(caller)]) -> Principal:
        if who.role not in roles:
            wanted = " or ".join(roles)
            raise Forbidden(
                f"{article(who.role)} key may not do this; it needs {article(wanted)} key"
            )
        return who

    return dependency


Operator = Annotated[Principal, Depends(role("operator"))]
Furnisher = Annotated[Principal, Depends(role("furnisher"))]
Agency = Annotated[Principal, Depends(role("agency"))]
Subject = Annotated[Principal, Depends(role("subject"))]
Peer = Annotated[Principal, Depends(role("peer"))]
AppState = Annotated[State, Depends(app_state)]


def reader_of(who: Principal, purpose: str | None, default: str) -> Reader:
    return Reader(who.actor, who.role, (purpose or "").strip() or default)


def _subject_of(who: Principal) -> str:
    assert who.subject is not None
    return who.subject


def case_out(case: Case) -> m.CaseOut:
    return m.CaseOut(**{**asdict(case), "due": case.due.isoformat()})


def review_out(review: Review) -> m.ReviewOut:
    data = asdict(review)
    data.pop("requested_us")
    return m.ReviewOut(**{**data, "due": review.due.isoformat()})


CaseId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="The case number.")]

router = APIRouter(prefix="/v1")


# -- relying agencies: point-of-service checks --------------------------------------------------


@router.get(
    "/checks/{subject_id}",
    responses=raises(400),
    tags=["checks"],
    response_model=m.CheckOut,
    summary="The measures that apply to a subject at your agency now",
)
async def check_one(
    subject_id: str,
    who: Agency,
    state: AppState,
    purpose: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Each measure of a scheme in force at the key's agency that applies to the subject today,
    with the list or grade that triggers it and whether a record that could cause it is under
    objection. The check is recorded in the subject's access audit before the answer is sent."""
    if check(subject_id).kind is None:
        raise InvalidIdentifier(
            f"{subject_id!r} is not a valid identifier: {check(subject_id).reason}",
        )
    assert who.agency is not None
    reader = reader_of(who, purpose, f"point-of-service check at {who.agency}")
    results = await state.check(who.agency, [subject_id], reader)
    return Response(result_text(results[0]).encode(), media_type="application/json")


@router.post(
    "/checks",
    responses=raises(400),
    tags=["checks"],
    response_model=m.ChecksOut,
    summary="Check up to 10,000 subjects at once",
)
async def check_many(request_body: m.CheckRequest, who: Agency, state: AppState) -> Response:
    """The same answer as the single check for each identifier, in the order given; an invalid
    identifier gets an ``error`` instead of failing the batch. Every subject the registry holds
    data on gets an audit entry, committed before the answer is sent."""
    assert who.agency is not None
    reader = reader_of(who, request_body.purpose, f"point-of-service check at {who.agency}")
    results = await state.check(who.agency, request_body.subjects, reader, in_thread=True)
    agency = json.dumps(who.agency, ensure_ascii=False)
    body = f'{{"agency":{agency},"results":[{",".join(result_text(r) for r in results)}]}}'
    return Response(body.encode(), media_type="application/json")


# -- peer registries: the exchange feed ---------------------------------------------------------


@router.get(
    "/exchange/feed",
    tags=["exchange"],
    response_class=Response,
    responses={
        200: {
            "description": "The signed exchange file (docs/exchange.md); `X-Exchange-Until` "
            "is its cursor's end.",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        },
        **raises(400, 404),
    },
    summary="A peer registry pulls what its agreement lets flow to it",
)
async def exchange_feed(
    who: Peer,
    state: AppState,
    since: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    purpose: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The same signed delta `socialcredit exchange export --peer` writes, for the key's own
    peer: the entries after `since` (by default the end of the last file made for it) that
    the agreement in force lets flow, signed with this registry's exchange key. Each person
    in it has an entry in the access audit before it is sent."""
    assert who.peer is not None
    reader = reader_of(who, purpose, f"exchange feed to {who.peer}")
    peer = who.peer
    done, data = await run_in_threadpool(
        delta_bytes, state.store, state.settings, peer, reader=reader, since=since
    )
    name = f"{peer}-{done.since}-{done.until}.zip"
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Exchange-Since": str(done.since),
            "X-Exchange-Until": str(done.until),
        },
    )


# -- furnishers ---------------------------------------------------------------------------------

MEDIA = {
    "text/csv": ".csv",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/json": ".jsonl",
}

_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The rows, with the columns of a furnished file: CSV with a header row "
        "(text/csv), JSON lines (application/x-ndjson) or a JSON array of objects.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        },
    }
}


def _limit_text(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 2**10} KiB"


def _too_large(what: str, limit: int) -> TooLarge:
    return TooLarge(f"the body is larger than {_limit_text(limit)}, the most {what} may be")


async def spool(request: Request, out: BinaryIO, limit: int, what: str) -> int:
    """Write the request's body to ``out`` as it arrives, never more than ``limit`` bytes:
    a larger declared Content-Length is refused before anything is read, a longer body as
    soon as it passes the limit (413 either way). Returns the number of bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(what, limit)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(what, limit)
        out.write(chunk)
    return size


async def _body_file(request: Request, folder: Path, settings: Settings) -> Path:
    """The batch's body in a file of the folder, streamed (bounded by the settings' limits);
    a JSON array is rewritten as JSON lines in :func:`work`'s thread, not here."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = MEDIA.get(media)
    if suffix is None:
        raise UnsupportedMedia(
            "send the rows as text/csv, application/x-ndjson or application/json "
            f"(the Content-Type was {media or 'missing'})"
        )
    if media == "application/json":
        limit, what, path = settings.max_json_batch_bytes, "a JSON-array batch", "batch.json"
    else:
        limit, what, path = settings.max_batch_bytes, "a batch", f"batch{suffix}"
    with (folder / path).open("wb") as out:
        await spool(request, out, limit, what)
    return folder / path


def _rows_file(path: Path) -> Path:
    """The file the ingest reads: a JSON array is streamed into JSON lines first."""
    if path.suffix != ".json":
        return path
    lines = path.with_suffix(".jsonl")
    try:
        json_array_to_lines(path, lines)
    except UsageError as error:
        raise InvalidJson(str(error)) from None
    return lines


def ingest_out(report: IngestReport, standings: str, state: State) -> m.IngestOut:
    with state.store.reading() as connection:
        kinds = catalogue_kinds(catalogue_at(connection))
    return m.IngestOut(
        kind=cast(Any, report.kind),
        furnisher=report.furnisher,
        rows_read=report.rows_read,
        accepted=report.accepted,
        noop=report.noop,
        rejected=report.rejected,
        batch_id=report.batch_id,
        duplicate_of=report.duplicate_of,
        recorded_at=None
        if report.recorded_at is None
        else dt.datetime.fromisoformat(report.recorded_at),
        warnings=report.warnings,
        rejections=[
            m.RejectionOut(
                row=r.row,
                field=r.field,
                reason=reason_text(r, kind_subjects=kinds),
                detail=r.detail,
            )
            for r in sorted(report.rejections, key=lambda r: r.row)
        ],
        standings=standings,
    )


async def _submit(kind: str, request: Request, who: Principal, state: State) -> m.IngestOut:
    assert who.furnisher_id is not None
    with tempfile.TemporaryDirectory(prefix="socialcredit-batch-") as folder:
        body = await _body_file(request, Path(folder), state.settings)
        ingest = ingest_records if kind == "records" else ingest_events

        def work() -> m.IngestOut:
            report = ingest(
                state.store,
                _rows_file(body),
                settings=state.settings,
                furnisher_id=who.furnisher_id or "",
            )
            return ingest_out(report, report.standings, state)

        return await run_in_threadpool(work)


@router.post(
    "/records",
    responses=raises(409),
    tags=["furnishers"],
    response_model=m.IngestOut,
    openapi_extra=_SUBMIT_BODY,
    summary="Submit records (the same validation and report as `socialcredit ingest`)",
)
async def submit_records(request: Request, who: Furnisher, state: AppState) -> m.IngestOut:
    """Every row is validated; rejected rows come back with row, field and reason, valid rows
    are appended to the ledger in one transaction. The same body again adds nothing."""
    return await _submit("records", request, who, state)


@router.post(
    "/events",
    responses=raises(409),
    tags=["furnishers"],
    response_model=m.IngestOut,
    openapi_extra=_SUBMIT_BODY,
    summary="Submit events on your records (fulfilled, repaired, retracted)",
)
async def submit_events(request: Request, who: Furnisher, state: AppState) -> m.IngestOut:
    return await _submit("events", request, who, state)


def _batch(b: Any) -> m.BatchOut:
    return m.BatchOut(
        id=b.id,
        furnisher=b.furnisher,
        kind=cast(Any, b.kind),
        file=b.file,
        received=us_to_datetime(b.received_us),
        rows_read=b.rows_read,
        accepted=b.accepted,
        noop=b.noop,
        rejected=b.rejected,
        rejection_rate=b.rejection_rate,
    )


@router.get("/batches", tags=["furnishers"], response_model=list[m.BatchOut])
def batches(
    who: Annotated[Principal, Depends(role("furnisher", "operator"))],
    state: AppState,
    furnisher: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[m.BatchOut]:
    """The latest batches, newest first: a furnisher sees its own, an operator any."""
    if who.role == "furnisher":
        if furnisher not in (None, who.furnisher_id):
            raise Forbidden("a furnisher sees its own batches only")
        furnisher = who.furnisher_id
    with state.store.reading() as connection:
        found = list_batches(connection, furnisher_id=furnisher, limit=limit)
    return [_batch(b) for b in found]


# -- subjects: their own data -------------------------------------------------------------------


@router.get("/me/standing", responses=raises(404), tags=["subjects"], response_model=m.StandingOut)
def my_standing(who: Subject, state: AppState) -> dict[str, Any]:
    """Your standing under every scheme that applies to you, every point and listing traced
    to its record and legal basis."""
    view = standing_of(
        state.store,
        state.settings,
        _subject_of(who),
        reader=Reader(who.actor, "subject", "subject's own request"),
    )
    return view_json(view)


@router.get(
    "/me/report",
    tags=["subjects"],
    responses={
        200: {"content": {"application/pdf": {}, "text/html": {}, "application/json": {}}},
        **raises(400, 404),
    },
)
def my_report(
    who: Subject,
    state: AppState,
    format: Annotated[str, Query(pattern="^(pdf|html|json)$")] = "pdf",
) -> Response:
    """Issue your credit report (the first two a year are free)."""
    with tempfile.TemporaryDirectory(prefix="socialcredit-report-") as folder:
        out = Path(folder) / f"report.{format}"
        issued = issue_report(
            state.store,
            state.settings,
            _subject_of(who),
            fmt=format,
            out=out,
            reader=Reader(who.actor, "subject", "subject's own request"),
        )
        content = out.read_bytes()
    media = {
        "pdf": "application/pdf",
        "html": "text/html; charset=utf-8",
        "json": "application/json",
    }
    name = f"report-{issued.subject}-{issued.id}.{format}"
    return Response(
        content,
        media_type=media[format],
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.post(
    "/me/objections",
    responses=raises(400, 404, 409),
    tags=["subjects"],
    response_model=m.CaseOut,
    status_code=201,
)
def my_objection(body: m.ObjectionIn, who: Subject, state: AppState) -> m.CaseOut:
    """Object to one of your records; the registry must decide within its deadline."""
    case = file_objection(
        state.store, state.settings, _subject_of(who), body.record, reason=body.reason
    )
    return case_out(case)


@router.post(
    "/me/repairs",
    responses=raises(400, 404, 409),
    tags=["subjects"],
    response_model=m.CaseOut,
    status_code=201,
)
def my_repair(body: m.RepairIn, who: Subject, state: AppState) -> m.CaseOut:
    """Apply for credit repair of one of your records (its conditions are checked first)."""
    case = apply_repair(
        state.store,
        state.settings,
        _subject_of(who),
        body.record,
        evidence=body.evidence,
        commitment=body.commitment,
    )
    return case_out(case)


@router.post(
    "/me/reviews",
    responses=raises(400, 404, 409),
    tags=["subjects"],
    response_model=m.ReviewOut,
    status_code=201,
)
def my_review(body: m.ReviewIn, who: Subject, state: AppState) -> m.ReviewOut:
    """Ask that a person review your standing."""
    found = request_review(
        state.store, state.settings, _subject_of(who), reason=body.reason, scheme_id=body.scheme
    )
    return review_out(found)


@router.get("/me/cases", tags=["subjects"], response_model=dict[str, list[dict[str, Any]]])
def my_cases(who: Subject, state: AppState) -> dict[str, list[dict[str, Any]]]:
    """Your objections, repair applications and review requests, with deadlines and
    decisions."""
    return subject_cases(
        state.store, _subject_of(who), reader=Reader(who.actor, "subject", "subject's own request")
    )


@router.get("/me/notices", tags=["subjects"], response_model=list[m.NoticeOut])
def my_notices(who: Subject, state: AppState) -> list[m.NoticeOut]:
    found = notices_of(
        state.store, Reader(who.actor, "subject", "subject's own request"), _subject_of(who)
    )
    return [
        m.NoticeOut(
            id=n.id,
            created=us_to_datetime(n.created_us),
            kind=cast(Any, n.kind),
            scheme_id=n.scheme_id,
            ref=n.ref,
            text=n.text,
            sent=None if n.sent_us is None else us_to_datetime(n.sent_us),
            channel=n.channel,
        )
        for n in found
    ]


@router.get("/me/audit", tags=["subjects"], response_model=list[m.ReadOut])
def my_audit(who: Subject, state: AppState) -> list[m.ReadOut]:
    """Who read your data, when and why (this listing is itself recorded)."""
    found = reads_of(
        state.store, Reader(who.actor, "subject", "subject's own request"), _subject_of(who)
    )
    return [
        m.ReadOut(
            seq=r.seq,
            at=us_to_datetime(r.at_us),
            actor=r.actor,
            role=cast(Any, r.role),
            purpose=r.purpose,
            what=r.what,
        )
        for r in found
    ]


# -- operators ----------------------------------------------------------------------------------


@router.get(
    "/subjects/{subject_id}/standing",
    responses=raises(400, 404),
    tags=["operators"],
    response_model=m.StandingOut,
)
def subject_standing(
    subject_id: str,
    who: Operator,
    state: AppState,
    purpose: Annotated[str, Query(min_length=1, max_length=500)],
) -> dict[str, Any]:
    """A subject's standing, explained; the operator must say why (audited)."""
    view = standing_of(
        state.store, state.settings, subject_id, reader=Reader(who.actor, "operator", purpose)
    )
    return view_json(view)


QueuePurpose = Annotated[
    str | None,
    Query(max_length=500, description="Why the queue is read (audited; default: case work)."),
]


@router.get(
    "/queues/objections", responses=raises(400), tags=["operators"], response_model=list[m.CaseOut]
)
def objection_queue(
    who: Operator, state: AppState, overdue: bool = False, purpose: QueuePurpose = None
) -> list[m.CaseOut]:
    """Open objections, overdue first, then by deadline. Each subject in the queue gets an
    audit entry (the queue shows the subject's identifier and own words)."""
    reader = reader_of(who, purpose, "objection queue: case work")
    found = queue(state.store, state.settings, "objection", reader=reader, overdue_only=overdue)
    return [case_out(c) for c in found]


@router.get(
    "/queues/repairs", responses=raises(400), tags=["operators"], response_model=list[m.CaseOut]
)
def repair_queue(
    who: Operator, state: AppState, overdue: bool = False, purpose: QueuePurpose = None
) -> list[m.CaseOut]:
    reader = reader_of(who, purpose, "repair queue: case work")
    found = queue(state.store, state.settings, "repair", reader=reader, overdue_only=overdue)
    return [case_out(c) for c in found]


@router.get(
    "/queues/reviews", responses=raises(400), tags=["operators"], response_model=list[m.ReviewOut]
)
def review_queue(
    who: Operator, state: AppState, overdue: bool = False, purpose: QueuePurpose = None
) -> list[m.ReviewOut]:
    reader = reader_of(who, purpose, "review queue: case work")
    found = list_reviews(state.store, state.settings, reader=reader, overdue_only=overdue)
    return [review_out(r) for r in found]


@router.post(
    "/objections/{case_id}/decision",
    responses=raises(400, 404, 409),
    tags=["operators"],
    response_model=m.CaseOut,
)
def objection_decision(
    case_id: CaseId, body: m.ObjectionDecision, who: Operator, state: AppState
) -> m.CaseOut:
    """Uphold (the record is retracted) or reject (it stands), with a reason the subject
    reads."""
    case = decide_objection(
        state.store, state.settings, case_id, uphold=body.uphold, reason=body.reason, by=who.actor
    )
    return case_out(case)


@router.post(
    "/repairs/{case_id}/decision",
    responses=raises(400, 404, 409),
    tags=["operators"],
    response_model=m.CaseOut,
)
def repair_decision(
    case_id: CaseId, body: m.RepairDecision, who: Operator, state: AppState
) -> m.CaseOut:
    case = decide_repair(
        state.store, state.settings, case_id, grant=body.grant, reason=body.reason, by=who.actor
    )
    return case_out(case)


@router.post(
    "/repairs/{case_id}/complete",
    responses=raises(404, 409),
    tags=["operators"],
    response_model=m.CaseOut,
)
def repair_complete(case_id: CaseId, who: Operator, state: AppState) -> m.CaseOut:
    """The application's file is complete (its evidence examined): the decision is then due
    within the repair decision deadline (at most 3 working days), and the subject is told."""
    return case_out(complete_repair(state.store, state.settings, case_id, by=who.actor))


@router.post(
    "/reviews/{review_id}/decision",
    responses=raises(400, 404, 409),
    tags=["operators"],
    response_model=m.ReviewOut,
)
def review_decision(
    review_id: CaseId, body: m.ReviewDecision, who: Operator, state: AppState
) -> m.ReviewOut:
    found = decide_review(
        state.store,
        state.settings,
        review_id,
        outcome=body.outcome,
        reason=body.reason,
        by=who.actor,
        record=body.record,
    )
    return review_out(found)


@router.get(
    "/corrections",
    responses=raises(403),
    tags=["furnishers"],
    response_model=list[m.CorrectionOut],
)
def corrections_list(
    who: Annotated[Principal, Depends(role("furnisher", "operator"))],
    state: AppState,
    furnisher: str | None = None,
    every: bool = False,
) -> list[m.CorrectionOut]:
    """Records a review found wrong and retracted, whose corrected record is awaited: a
    furnisher sees its own tasks, an operator any (``every``: completed ones too). Audited,
    one entry per subject named."""
    if who.role == "furnisher":
        if furnisher not in (None, who.furnisher_id):
            raise Forbidden("a furnisher sees its own correction tasks only")
        furnisher = who.furnisher_id
    found = list_corrections(
        state.store,
        state.settings,
        reader=Reader(who.actor, who.role, "correction tasks"),
        furnisher=furnisher,
        open_only=not every,
    )
    return [m.CorrectionOut(**asdict(c)) for c in found]


@router.post(
    "/corrections/{case_id}/replacement",
    responses=raises(400, 403, 404, 409),
    tags=["furnishers"],
    response_model=m.CorrectionOut,
)
def correction_replacement(
    case_id: CaseId,
    body: m.Replacement,
    who: Annotated[Principal, Depends(role("furnisher", "operator"))],
    state: AppState,
) -> m.CorrectionOut:
    """Name the corrected record (sent already, after the task was opened): the task is done
    and the subject told. A furnisher completes its own tasks only."""
    done = complete_correction(
        state.store,
        state.settings,
        case_id,
        replacement=body.record_id,
        by=who.actor,
        furnisher=who.furnisher_id if who.role == "furnisher" else None,
    )
    return m.CorrectionOut(**asdict(done))


@router.get("/policies", tags=["operators"], response_model=list[m.PolicyVersionOut])
def policies(who: Operator, state: AppState) -> list[m.PolicyVersionOut]:
    """Every published version of the catalogue and the schemes, newest first."""
    with state.store.reading() as connection:
        rows = connection.execute(
            sa.select(policy_versions).order_by(policy_versions.c.id.desc())
        ).all()
    return [
        m.PolicyVersionOut(
            id=r.id,
            kind=r.kind,
            policy_id=r.policy_id,
            version=r.version,
            effective_from=r.effective_from,
            published=us_to_datetime(r.published_us),
            digest=r.digest,
            published_by=r.published_by,
            reason=r.reason,
            changes=json.loads(r.changes) if r.changes else None,
            impact=json.loads(r.impact) if r.impact else None,
        )
        for r in rows
    ]


@router.post(
    "/policies",
    responses={
        **raises(409, 422),
        200: {
            "description": "dry_run=true: the version's changes against the one before, what "
            "would be refused, and its impact across the registry; nothing is published"
        },
    },
    tags=["operators"],
    response_model=m.PublishedOut,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A scheme or catalogue in the policy language (YAML).",
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def publish_policy(
    request: Request,
    who: Operator,
    state: AppState,
    reason: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=2000,
            description="Why the version is published (required unless dry_run).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        Query(
            description="Publish nothing: answer 200 with the scheme's changes, what would be "
            "refused, and its impact across the registry."
        ),
    ] = False,
) -> Any:
    """Publish a new version of a scheme or of the catalogue; refused (422, with every
    problem) if it fails validation — prohibited grounds, missing legal bases, effects too
    long."""
    body = io.BytesIO()
    await spool(request, body, state.settings.max_policy_bytes, "a policy document")
    try:
        text = body.getvalue().decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"the policy is not UTF-8 text ({error.reason} at byte {error.start + 1}): "
            "save it as UTF-8"
        ) from None
    if not text.strip():
        raise UsageError("the body is empty: send the policy's YAML text")
    if dry_run:
        if policy_kind(text, "the policy") != "scheme":
            raise UsageError("dry_run applies to a scheme, not to the catalogue")
        impact = await run_in_threadpool(
            impact_of, state.store, state.settings, text, source="the policy"
        )
        return JSONResponse(impact.to_json())
    if reason is None:
        raise UsageError("reason is required to publish: say why the version is published")
    with tempfile.TemporaryDirectory(prefix="socialcredit-policy-") as folder:
        path = Path(folder) / "policy.yaml"
        path.write_text(text, encoding="utf-8")
        found, evaluated = await run_in_threadpool(
            partial(publish_files, reason=reason, by=who.actor),
            state.store,
            state.settings,
            [path],
        )
    published = found[0]
    return m.PublishedOut(
        kind=cast(Any, published.kind),
        policy_id=published.policy_id,
        version=published.version,
        new=published.new,
        evaluated=evaluated,
    )


@router.get("/furnishers", tags=["operators"], response_model=list[m.FurnisherOut])
def furnishers(who: Operator, state: AppState) -> list[m.FurnisherOut]:
    with state.store.reading() as connection:
        found = list_furnishers(connection)
    return [m.FurnisherOut(id=f.id, name=f.name, codes=list(f.codes)) for f in found]


# -- the public ---------------------------------------------------------------------------------


def search_organisations(state: State, q: str, limit: int = 50) -> list[m.OrganisationOut]:
    """Organisations by exact code or by a part of their name (persons are never listed)."""
    text = q.strip()
    if not text:
        return []
    query = sa.select(subjects.c.identifier, subjects.c.name, subjects.c.region).where(
        subjects.c.kind == "organisation"
    )
    if check(text.upper()).kind == "organisation":
        query = query.where(subjects.c.identifier == text.upper())
    else:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(subjects.c.name.like(f"%{escaped}%", escape="\\"))
    with state.store.reading() as connection:
        rows = connection.execute(query.order_by(subjects.c.name).limit(limit)).all()
    return [m.OrganisationOut(identifier=r.identifier, name=r.name, region=r.region) for r in rows]


@router.get("/public/organisations", tags=["public"], response_model=list[m.OrganisationOut])
def public_organisations(
    state: AppState, q: Annotated[str, Query(min_length=1, max_length=100)]
) -> list[m.OrganisationOut]:
    """Search organisations by name (any part) or by Unified Social Credit Code."""
    return search_organisations(state, q)


@router.get(
    "/public/subjects/{subject_id}",
    responses=raises(400),
    tags=["public"],
    response_model=m.PublicSubjectOut,
)
def public_subject(subject_id: str, state: AppState) -> dict[str, Any]:
    """What the law makes public about a subject today: an organisation's records in their
    publication window and its public listings; for a person only public listings, masked —
    never a score or grade."""
    return public_view(state.store, state.settings, subject_id).to_json()


def public_lists(state: State) -> list[m.PublicListOut]:
    with state.store.reading() as connection:
        found = schemes_in_force(connection, as_of=state.settings.today(), known_us=now_us())
    return [
        m.PublicListOut(
            scheme=a.scheme.id,
            list_id=lst.id,
            title=lst.title,
            kind=lst.kind,
            legal_basis=lst.legal_basis,
        )
        for a in found
        for lst in a.scheme.lists
        if lst.public
    ]


@router.get("/public/lists", tags=["public"], response_model=list[m.PublicListOut])
def public_lists_route(state: AppState) -> list[m.PublicListOut]:
    """The public lists of the schemes in force."""
    return public_lists(state)


@router.get(
    "/public/lists/{scheme_id}/{list_id}",
    tags=["public"],
    response_model=m.PublicPageOut,
    responses={
        **raises(400, 404),
        503: {
            "model": m.Error,
            "description": "Being updated, or the store is unavailable: retry as Retry-After says.",
        },
    },
)
async def public_list_members(
    scheme_id: str,
    list_id: str,
    state: AppState,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 100,
) -> Response:
    """One page of the members of a public list today, in identifier order, persons masked,
    with the total count. Read-only: one query over the stored current standings, and a page
    read again while the registry is unchanged comes from the worker's memory."""
    pages = state.public_pages
    found = pages.cached(scheme_id, list_id, page=page, per_page=per_page)
    if found is None:

        def in_force() -> None:
            if scheme_id not in {lst.scheme for lst in public_lists(state)}:
                raise NotFound(f"no scheme {scheme_id!r} with public lists is in force")

        found = await run_in_threadpool(
            pages.get, scheme_id, list_id, page=page, per_page=per_page, first=in_force
        )
    return Response(found[1], media_type="application/json")


def published_schemes(state: State) -> list[m.SchemeOut]:
    known = now_us()
    with state.store.reading() as connection:
        catalogue = catalogue_at(connection, known)
        found = schemes_in_force(connection, as_of=state.settings.today(), known_us=known)
    return [
        m.SchemeOut(
            id=a.scheme.id,
            version=a.scheme.version,
            title=a.scheme.title,
            subjects=list(a.scheme.subjects),
            effective_from=a.scheme.effective_from,
            summary=describe_scheme(a.scheme, catalogue),
        )
        for a in found
    ]


@router.get("/public/schemes", tags=["public"], response_model=list[m.SchemeOut])
def public_schemes(state: AppState) -> list[m.SchemeOut]:
    """The schemes in force, each rule, list and measure in plain language with its legal
    basis."""
    return published_schemes(state)
