"""The portal: server-rendered pages (Jinja2), enhanced by htmx where present, complete without
JavaScript. Three audiences: the public (search, public lists, the schemes), subjects (their
standing, records, rights and who read their data) and operators (queues, furnishers, policies,
the dashboard).

Sign-in: an API key pasted into the sign-in form (any role), or a subject's one-time link. Both
start a server-side session (cookie ``sc_session``: HttpOnly, SameSite=Lax). Every form carries
a CSRF token: the session's own once signed in, a double-submit cookie before.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import secrets
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from socialcredit import __version__
from socialcredit.errors import Forbidden, NotFound, SocialCreditError, Unauthenticated, UsageError
from socialcredit.registry.access import (
    LINK_REQUESTS_A_DAY,
    Session,
    end_session,
    external_sign_in,
    redeem_login,
    request_login_link,
    session_of,
    start_session,
)
from socialcredit.registry.audit import Reader
from socialcredit.registry.corrections import list_corrections
from socialcredit.registry.due_process import (
    apply_repair,
    complete_repair,
    decide_objection,
    decide_repair,
    file_objection,
    lapses_by_furnisher,
    queue,
)
from socialcredit.registry.policies import list_batches, list_furnishers
from socialcredit.registry.publication import MAX_PER_PAGE, public_view
from socialcredit.registry.reports import case_view, issue_report, render, subject_page
from socialcredit.registry.review import decide_review, list_reviews, request_review
from socialcredit.service.state import ApiError, State, app_state, article, state_of
from socialcredit.store.db import now_us, us_to_iso
from socialcredit.store.schema import (
    batches,
    erasures,
    ledger,
    policy_versions,
    snapshots,
    standings,
)

SESSION_COOKIE = "sc_session"
CSRF_COOKIE = "sc_csrf"
CSRF_MESSAGE = "the form has expired or did not come from this site: reload and retry"

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("socialcredit", "templates/portal"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)

CaseId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="The case number.")]

router = APIRouter(include_in_schema=False)
AppState = Annotated[State, Depends(app_state)]


# -- sessions and CSRF -------------------------------------------------------------------------


def current_session(request: Request) -> Session | None:
    cached: Session | None = getattr(request.state, "portal_session", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = session_of(state_of(request).store, token)
    request.state.portal_session = found
    return found


def _signed_in(request: Request, *roles: str) -> Session:
    session = current_session(request)
    if session is None:
        raise Unauthenticated("sign in first")
    if roles and session.principal.role not in roles:
        raise Forbidden(
            f"this page is for {' and '.join(roles)}s; you are signed in as "
            f"{article(session.principal.role)}",
        )
    return session


def _anonymous_csrf(request: Request) -> str:
    token = request.cookies.get(CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def check_csrf(request: Request, given: str) -> None:
    session = current_session(request)
    expected = session.csrf if session is not None else request.cookies.get(CSRF_COOKIE)
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise ApiError(403, "csrf", CSRF_MESSAGE)


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = current_session(request)
    csrf = session.csrf if session is not None else _anonymous_csrf(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "session": session,
            "who": session.principal if session else None,
            "csrf": csrf,
            "version": __version__,
            "registry": state_of(request).settings.registry_name,
            "notice": request.query_params.get("done"),
            **context,
        },
        status_code=status_code,
    )
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        response.set_cookie(
            CSRF_COOKIE,
            new_csrf,
            httponly=True,
            samesite="strict",
            secure=state_of(request).settings.secure_cookies,
        )
    return response


def render_error(request: Request, status: int, message: str) -> Response:
    if status == 401:
        target = quote(request.url.path)
        return RedirectResponse(f"/login?next={target}", status_code=303)
    try:
        return page(request, "error.html", status_code=status, status=status, message=message)
    except Exception:  # the error page itself failed: say it plainly
        return HTMLResponse(f"<h1>{status}</h1><p>{message}</p>", status_code=status)


def _done(path: str, message: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={quote(message)}", status_code=303)


# -- public pages ------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return page(request, "home.html")


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, state: AppState, q: str = "") -> HTMLResponse:
    from socialcredit.service.api import search_organisations

    q = q[:100]
    found = search_organisations(state, q) if q.strip() else []
    name = "search_results.html" if request.headers.get("hx-request") else "search.html"
    return page(request, name, q=q, found=found)


@router.get("/public/subjects/{subject_id}", response_class=HTMLResponse)
def public_subject(request: Request, subject_id: str, state: AppState) -> HTMLResponse:
    view = public_view(state.store, state.settings, subject_id)
    return page(request, "public_subject.html", view=view)


@router.get("/public/lists", response_class=HTMLResponse)
def lists(request: Request, state: AppState) -> HTMLResponse:
    from socialcredit.service.api import public_lists

    return page(request, "public_lists.html", lists=public_lists(state))


@router.get("/public/lists/{scheme_id}/{list_id}", response_class=HTMLResponse)
def list_members(
    request: Request,
    scheme_id: str,
    list_id: str,
    state: AppState,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 100,
) -> HTMLResponse:
    from socialcredit.service.api import public_lists

    known = {(lst.scheme, lst.list_id): lst for lst in public_lists(state)}
    if (scheme_id, list_id) not in known:
        raise NotFound(f"no public list {scheme_id}/{list_id} is in force")
    found, _ = state.public_pages.get(scheme_id, list_id, page=page_number, per_page=per_page)
    return page(request, "public_list.html", lst=known[(scheme_id, list_id)], found=found)


@router.get("/schemes", response_class=HTMLResponse)
def schemes(request: Request, state: AppState) -> HTMLResponse:
    from socialcredit.service.api import published_schemes

    return page(request, "schemes.html", schemes=published_schemes(state))


# -- signing in --------------------------------------------------------------------------------


def _start(request: Request, session: Session, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        httponly=True,
        samesite="lax",
        secure=state_of(request).settings.secure_cookies,
        max_age=8 * 3600,
    )
    return response


def _home_of(role: str) -> str:
    return {"subject": "/me", "operator": "/operator"}.get(role, "/account")


def _safe_next(target: str | None, role: str) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return _home_of(role)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, state: AppState, next: str | None = None) -> HTMLResponse:
    return page(request, "login.html", next=next or "", oidc=bool(state.settings.oidc_issuer))


@router.post("/login")
def login(
    request: Request,
    state: AppState,
    key: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    check_csrf(request, csrf)
    principal = state.principal(key.strip())
    if principal is None:
        return page(
            request,
            "login.html",
            status_code=401,
            next=next,
            oidc=bool(state.settings.oidc_issuer),
            failed="That key is not valid, or it was revoked.",
        )
    session = start_session(state.store, principal)
    return _start(request, session, _safe_next(next, principal.role))


@router.get("/login/link", response_class=HTMLResponse)
def link_form(request: Request) -> HTMLResponse:
    """The sign-in form. The link's token is in its fragment (never sent, never logged): the
    page's script moves it into the form. A GET only shows the form: mail scanners that open
    links must not spend the link."""
    return page(request, "login_link.html")


@router.post("/login/link")
def link_sign_in(
    request: Request,
    state: AppState,
    token: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)],
) -> Response:
    check_csrf(request, csrf)
    principal = redeem_login(state.store, token)
    return _start(request, start_session(state.store, principal), "/me")


@router.get("/login/link/request", response_class=HTMLResponse)
def link_request_form(request: Request) -> HTMLResponse:
    return page(request, "login_link_request.html", per_day=LINK_REQUESTS_A_DAY)


@router.post("/login/link/request", response_class=HTMLResponse)
def link_request(
    request: Request,
    state: AppState,
    identifier: Annotated[str, Form(max_length=18)],
    csrf: Annotated[str, Form(max_length=200)],
) -> HTMLResponse:
    """A subject asks for a sign-in link again: it goes to the notice channel, and the answer
    is the same whether or not the registry holds data on the identifier."""
    check_csrf(request, csrf)
    request_login_link(state.store, state.settings, identifier.strip().upper())
    return page(
        request,
        "login_link_request.html",
        sent=True,
        identifier=identifier.strip().upper(),
        per_day=LINK_REQUESTS_A_DAY,
    )


@router.post("/logout")
def logout(
    request: Request, state: AppState, csrf: Annotated[str, Form(max_length=200)]
) -> Response:
    check_csrf(request, csrf)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        end_session(state.store, token)
    response = RedirectResponse("/?done=signed%20out", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/login/oidc")
async def oidc_start(request: Request, state: AppState) -> Response:
    client = _oidc_client(state)
    redirect = f"{state.settings.public_url.rstrip('/')}/login/oidc/callback"
    try:
        response: Response = await client.authorize_redirect(request, redirect)
    except Exception as error:  # Authlib fetches the discovery document with httpx (or httpx2)
        raise ApiError(
            503,
            "identity_provider_unavailable",
            f"the identity provider cannot be reached ({type(error).__name__}): "
            "try again later, or ask the registry for a sign-in link",
        ) from None
    return response


@router.get("/login/oidc/callback")
async def oidc_callback(request: Request, state: AppState) -> Response:
    client = _oidc_client(state)
    try:
        token = await client.authorize_access_token(request)
    except Exception as error:  # unreachable, or a state or token that does not match
        raise Forbidden(f"the sign-in could not be verified: {error}; start again") from None
    claims = token.get("userinfo") or {}
    identifier = str(claims.get(state.settings.oidc_identifier_claim, "")).upper()
    if not identifier:
        raise Forbidden(
            f"the identity provider did not give the claim {state.settings.oidc_identifier_claim}",
        )
    issued = external_sign_in(
        state.store, subject=identifier, provider=state.settings.oidc_issuer or ""
    )
    principal = state.principal_of_credential(issued.credential)
    return _start(request, start_session(state.store, principal), "/me")


def _oidc_client(state: State) -> Any:
    if not state.settings.oidc_issuer:
        raise NotFound("this registry has no OpenID Connect sign-in")
    if state.oauth is None:
        from authlib.integrations.starlette_client import OAuth

        oauth = OAuth()
        oauth.register(
            "eid",
            server_metadata_url=state.settings.oidc_issuer.rstrip("/")
            + "/.well-known/openid-configuration",
            client_id=state.settings.oidc_client_id,
            client_secret=state.settings.oidc_client_secret,
            client_kwargs={"scope": "openid"},
        )
        state.oauth = oauth
    return state.oauth.eid


@router.get("/account", response_class=HTMLResponse)
def account(request: Request) -> HTMLResponse:
    session = _signed_in(request)
    return page(request, "account.html", principal=session.principal)


# -- the subject's pages -----------------------------------------------------------------------


@router.get("/me", response_class=HTMLResponse)
def me(request: Request, state: AppState) -> HTMLResponse:
    session = _signed_in(request, "subject")
    who = session.principal
    assert who.subject is not None
    try:
        data = subject_page(
            state.store,
            state.settings,
            who.subject,
            reader=Reader(who.actor, "subject", "subject's own request"),
        )
    except SocialCreditError as error:
        return page(request, "me_empty.html", subject=who.subject, message=str(error))
    return page(request, "me.html", data=data)


@router.get("/me/report.pdf")
def my_report(request: Request, state: AppState) -> Response:
    session = _signed_in(request, "subject")
    who = session.principal
    assert who.subject is not None
    with tempfile.TemporaryDirectory(prefix="socialcredit-report-") as folder:
        out = Path(folder) / "report.pdf"
        issued = issue_report(
            state.store,
            state.settings,
            who.subject,
            fmt="pdf",
            out=out,
            reader=Reader(who.actor, "subject", "subject's own request"),
        )
        content = out.read_bytes()
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="report-{who.subject}-{issued.id}.pdf"'
        },
    )


@router.post("/me/objections")
def my_objection(
    request: Request,
    state: AppState,
    record: Annotated[str, Form(max_length=300)],
    reason: Annotated[str, Form(min_length=1, max_length=5000)],
    csrf: Annotated[str, Form(max_length=200)],
) -> Response:
    session = _signed_in(request, "subject")
    check_csrf(request, csrf)
    try:
        case = file_objection(
            state.store, state.settings, session.principal.subject or "", record, reason=reason
        )
    except (Unauthenticated, Forbidden):
        raise
    except SocialCreditError as error:
        return _refused(request, state, error, form="objection", record=record, text=reason)
    return _done("/me", f"objection {case.id} filed; it will be decided by {case.due}")


@router.post("/me/repairs")
def my_repair(
    request: Request,
    state: AppState,
    record: Annotated[str, Form(max_length=300)],
    evidence: Annotated[str, Form(min_length=1, max_length=5000)],
    csrf: Annotated[str, Form(max_length=200)],
    commitment: Annotated[bool, Form()] = False,
) -> Response:
    session = _signed_in(request, "subject")
    check_csrf(request, csrf)
    try:
        case = apply_repair(
            state.store,
            state.settings,
            session.principal.subject or "",
            record,
            evidence=evidence,
            commitment=commitment,
        )
    except (Unauthenticated, Forbidden):
        raise
    except SocialCreditError as error:
        return _refused(
            request,
            state,
            error,
            form="repair",
            record=record,
            text=evidence,
            commitment=commitment,
        )
    return _done("/me", f"repair application {case.id} made; the answer is due by {case.due}")


@router.post("/me/reviews")
def my_review(
    request: Request,
    state: AppState,
    reason: Annotated[str, Form(min_length=1, max_length=5000)],
    csrf: Annotated[str, Form(max_length=200)],
    scheme: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    session = _signed_in(request, "subject")
    check_csrf(request, csrf)
    try:
        found = request_review(
            state.store,
            state.settings,
            session.principal.subject or "",
            reason=reason,
            scheme_id=scheme or None,
        )
    except (Unauthenticated, Forbidden):
        raise
    except SocialCreditError as error:
        return _refused(request, state, error, form="review", scheme=scheme, text=reason)
    return _done("/me", f"review {found.id} requested; due by {found.due}")


def _refused(request: Request, state: State, error: SocialCreditError, **form: Any) -> HTMLResponse:
    """A subject's form the registry refused: the page again, with the reason beside the form
    (open) and what was typed kept in it, under the refusal's status (issue #15)."""
    who = _signed_in(request, "subject").principal
    assert who.subject is not None
    data = subject_page(
        state.store,
        state.settings,
        who.subject,
        reader=Reader(who.actor, "subject", "subject's own request"),
    )
    failed = {"message": str(error), **form}
    # beside its form; at the top of the page when the form names no record shown there
    failed["placed"] = form["form"] == "review" or form.get("record") in {
        r["record"] for r in data["records"]
    }
    return page(request, "me.html", status_code=error.status, data=data, failed=failed)


# -- the operator's pages ----------------------------------------------------------------------


@router.get("/operator", response_class=HTMLResponse)
def dashboard(request: Request, state: AppState) -> HTMLResponse:
    _signed_in(request, "operator")
    return page(request, "operator_dashboard.html", **dashboard_data(state))


def dashboard_data(state: State) -> dict[str, Any]:
    today = state.settings.today()
    since = dt.date(today.year - 2, today.month, 1)
    month = sa.func.substr(sa.cast(ledger.c.occurred_on, sa.Text), 1, 7)
    with state.store.reading() as connection:
        grade_rows = connection.execute(
            sa.select(standings.c.scheme_id, standings.c.grade, sa.func.count())
            .where(standings.c.grade.is_not(None))
            .group_by(standings.c.scheme_id, standings.c.grade)
        ).all()
        history = connection.execute(
            sa.select(snapshots.c.scheme_id, snapshots.c.as_of, snapshots.c.summary).order_by(
                snapshots.c.scheme_id, snapshots.c.as_of, snapshots.c.id
            )
        ).all()
        per_month = connection.execute(
            sa.select(ledger.c.furnisher, month.label("month"), sa.func.count())
            .where(ledger.c.entry == "record", ledger.c.occurred_on >= since)
            .group_by(ledger.c.furnisher, month)
            .order_by(ledger.c.furnisher, month)
        ).all()
        totals = {
            "records": connection.scalar(
                sa.select(sa.func.count()).select_from(ledger).where(ledger.c.entry == "record")
            ),
            "batches": connection.scalar(sa.select(sa.func.count()).select_from(batches)),
        }
    grades: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for sid, grade, count in grade_rows:
        grades[sid].append((grade, int(count)))
    grade_charts = {sid: bar_chart(sorted(rows)) for sid, rows in sorted(grades.items())}
    sizes: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for sid, as_of, summary in history:
        for list_id, size in json.loads(summary)["lists"].items():
            sizes[sid][list_id][as_of.isoformat()] = int(size)
    list_charts = {
        f"{sid}/{list_id}": line_chart(sorted(points.items()))
        for sid, per_list in sorted(sizes.items())
        for list_id, points in sorted(per_list.items())
    }
    furnished: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for furnisher, mon, count in per_month:
        furnished[furnisher].append((str(mon), int(count)))
    furnisher_charts = {f: column_chart(rows) for f, rows in sorted(furnished.items())}
    # counted, never shown: not a read of the subjects' data
    cases = queue(state.store, state.settings, "objection", reader=None)
    repairs = queue(state.store, state.settings, "repair", reader=None)
    reviews = list_reviews(state.store, state.settings, reader=None)
    with state.store.reading() as connection:
        erased = connection.execute(
            sa.select(sa.func.count(), sa.func.max(erasures.c.erased_on))
        ).one()
    return {
        "erased": {"records": int(erased[0]), "last": erased[1]},
        "grade_charts": grade_charts,
        "list_charts": list_charts,
        "furnisher_charts": furnisher_charts,
        "totals": totals,
        "open_cases": {"objections": len(cases), "repairs": len(repairs), "reviews": len(reviews)},
        "overdue_cases": {
            "objections": sum(c.overdue for c in cases),
            "repairs": sum(c.overdue for c in repairs),
            "reviews": sum(r.overdue for r in reviews),
        },
        "lapses": lapses_by_furnisher(state.store, state.settings),
    }


def bar_chart(rows: list[tuple[str, int]], width: int = 360) -> dict[str, Any]:
    """Horizontal bars as SVG coordinates (the template draws them): no script needed."""
    peak = max((n for _, n in rows), default=1) or 1
    total = sum(n for _, n in rows) or 1
    return {
        "height": 22 * len(rows) + 4,
        "width": width + 160,
        "bars": [
            {
                "label": label,
                "value": n,
                "share": f"{n / total:.1%}",
                "y": 22 * i + 2,
                "w": max(1, round(width * n / peak)),
            }
            for i, (label, n) in enumerate(rows)
        ],
    }


def column_chart(rows: list[tuple[str, int]], height: int = 80) -> dict[str, Any]:
    peak = max((n for _, n in rows), default=1) or 1
    step = 14
    return {
        "height": height + 20,
        "width": step * len(rows) + 10,
        "bars": [
            {
                "label": label,
                "value": n,
                "x": step * i + 5,
                "h": max(1, round(height * n / peak)),
                "y": height - max(1, round(height * n / peak)),
            }
            for i, (label, n) in enumerate(rows)
        ],
        "first": rows[0][0] if rows else "",
        "last": rows[-1][0] if rows else "",
        "peak": peak,
    }


def line_chart(points: list[tuple[str, int]], width: int = 360, height: int = 80) -> dict[str, Any]:
    peak = max((n for _, n in points), default=1) or 1
    count = max(1, len(points) - 1)
    coords = [
        (round(width * i / count) + 5, height - round(height * n / peak) + 5)
        for i, (_, n) in enumerate(points)
    ]
    return {
        "width": width + 10,
        "height": height + 10,
        "path": " ".join(f"{x},{y}" for x, y in coords),
        "dots": [
            {"x": x, "y": y, "label": label, "value": n}
            for (x, y), (label, n) in zip(coords, points, strict=True)
        ],
        "first": points[0][0] if points else "",
        "last": points[-1][0] if points else "",
        "latest": points[-1][1] if points else 0,
        "peak": peak,
    }


@router.get("/operator/queues", response_class=HTMLResponse)
def queues(request: Request, state: AppState) -> HTMLResponse:
    session = _signed_in(request, "operator")
    reader = Reader(session.principal.actor, "operator", "case queues: case work")
    return page(
        request,
        "operator_queues.html",
        objections=queue(state.store, state.settings, "objection", reader=reader),
        repairs=queue(state.store, state.settings, "repair", reader=reader),
        reviews=list_reviews(state.store, state.settings, reader=reader),
        corrections=list_corrections(state.store, state.settings, reader=reader),
    )


def _decide_objection(
    state: State, case_id: int, choice: str, reason: str, by: str, _record: str
) -> str:
    case = decide_objection(
        state.store, state.settings, case_id, uphold=choice == "uphold", reason=reason, by=by
    )
    return f"objection {case.id} {case.outcome}"


def _decide_repair(
    state: State, case_id: int, choice: str, reason: str, by: str, _record: str
) -> str:
    case = decide_repair(
        state.store, state.settings, case_id, grant=choice == "grant", reason=reason, by=by
    )
    return f"repair {case.id} {case.outcome}"


def _decide_review(
    state: State, case_id: int, choice: str, reason: str, by: str, record: str
) -> str:
    found = decide_review(
        state.store, state.settings, case_id, outcome=choice, reason=reason, by=by, record=record
    )
    if found.record:
        return f"review {found.id} corrected: {found.record} retracted, its furnisher asked"
    return f"review {found.id} {found.outcome}"


# The queues' decision forms: the choices each offers, and who decides.
Decider = Callable[[State, int, str, str, str, str], str]
DECISIONS: dict[str, tuple[tuple[str, str], Decider]] = {
    "objections": (("uphold", "reject"), _decide_objection),
    "repairs": (("grant", "deny"), _decide_repair),
    "reviews": (("confirmed", "corrected"), _decide_review),
}


@router.post("/operator/{kind}/{case_id}")
def decide(
    request: Request,
    state: AppState,
    kind: str,
    case_id: CaseId,
    decision: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(min_length=1, max_length=5000)],
    csrf: Annotated[str, Form(max_length=200)],
    record: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Decide one case from the queue, once, with a reason the subject reads (a review found
    wrong names the ``record`` to correct)."""
    session = _signed_in(request, "operator")
    check_csrf(request, csrf)
    if kind not in DECISIONS:
        raise NotFound(f"no queue {kind!r}")
    choices, decide_case = DECISIONS[kind]
    if decision not in choices:
        raise UsageError(f"decide with one of: {', '.join(choices)}")
    done = decide_case(state, case_id, decision, reason, session.principal.actor, record)
    return _done("/operator/queues", done)


@router.get("/operator/subjects/{subject_id}", response_class=HTMLResponse)
def operator_subject(request: Request, state: AppState, subject_id: str) -> HTMLResponse:
    """A subject's whole page as the subject sees it (the report's content, not issued and
    not counted), for case work: the read is audited with that purpose."""
    session = _signed_in(request, "operator")
    data = subject_page(
        state.store,
        state.settings,
        subject_id,
        reader=Reader(session.principal.actor, "operator", "case work"),
    )
    return HTMLResponse(render(data, "html").decode("utf-8"))


@router.post("/operator/repairs/{case_id}/complete")
def repair_file_complete(
    request: Request,
    state: AppState,
    case_id: CaseId,
    csrf: Annotated[str, Form(max_length=200)],
) -> Response:
    """The repair file is complete: the decision is due within the decision deadline."""
    session = _signed_in(request, "operator")
    check_csrf(request, csrf)
    case = complete_repair(state.store, state.settings, case_id, by=session.principal.actor)
    return _done(f"/operator/repairs/{case_id}", f"file complete; decide by {case.due}")


CASE_KINDS = {"objections": "objection", "repairs": "repair"}


@router.get("/operator/{kind}/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, state: AppState, kind: str, case_id: CaseId) -> HTMLResponse:
    """One case to decide from: the record under it, its effects (points, lists, measures by
    agency), its history, a link to the subject's whole page, and the decision form."""
    session = _signed_in(request, "operator")
    if kind not in CASE_KINDS:
        raise NotFound(f"no queue {kind!r}")
    view = case_view(
        state.store,
        state.settings,
        CASE_KINDS[kind],
        case_id,
        reader=Reader(session.principal.actor, "operator", "case work"),
    )
    choices = {
        "objections": (("uphold", "Uphold: retract the record"), ("reject", "Reject: it stands")),
        "repairs": (("grant", "Grant repair"), ("deny", "Deny")),
    }[kind]
    return page(request, "operator_case.html", kind=kind, choices=choices, **view)


@router.get("/operator/furnishers", response_class=HTMLResponse)
def furnishers(request: Request, state: AppState) -> HTMLResponse:
    _signed_in(request, "operator")
    with state.store.reading() as connection:
        found = list_furnishers(connection)
        recent = list_batches(connection, limit=200)
    by_furnisher: dict[str, list[Any]] = defaultdict(list)
    for b in recent:
        by_furnisher[b.furnisher].append(b)
    rates = {}
    for f in found:
        rows = sum(b.rows_read for b in by_furnisher[f.id])
        rejected = sum(b.rejected for b in by_furnisher[f.id])
        rates[f.id] = rejected / rows if rows else 0.0
    return page(
        request,
        "operator_furnishers.html",
        furnishers=found,
        batches=by_furnisher,
        rates=rates,
        iso=us_to_iso,
    )


@router.get("/operator/policies", response_class=HTMLResponse)
def policies(
    request: Request,
    state: AppState,
    a: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    b: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> HTMLResponse:
    _signed_in(request, "operator")
    with state.store.reading() as connection:
        versions = connection.execute(
            sa.select(
                policy_versions.c.id,
                policy_versions.c.kind,
                policy_versions.c.policy_id,
                policy_versions.c.version,
                policy_versions.c.effective_from,
                policy_versions.c.published_us,
                policy_versions.c.published_by,
                policy_versions.c.reason,
                policy_versions.c.changes,
                policy_versions.c.impact,
            ).order_by(policy_versions.c.policy_id, policy_versions.c.version)
        ).all()
        recorded = {
            v.id: (
                json.loads(v.changes) if v.changes else None,
                json.loads(v.impact) if v.impact else None,
            )
            for v in versions
        }
        texts = {}
        if a is not None and b is not None:
            for row in connection.execute(
                sa.select(
                    policy_versions.c.id,
                    policy_versions.c.policy_id,
                    policy_versions.c.version,
                    policy_versions.c.source,
                ).where(policy_versions.c.id.in_([a, b]))
            ):
                texts[row.id] = row
    diff = None
    if a is not None and b is not None:
        if a not in texts or b not in texts:
            raise NotFound("no such policy version")
        old, new = texts[a], texts[b]
        diff = list(
            difflib.unified_diff(
                old.source.splitlines(),
                new.source.splitlines(),
                f"{old.policy_id} v{old.version}",
                f"{new.policy_id} v{new.version}",
                lineterm="",
            )
        )
    return page(
        request,
        "operator_policies.html",
        versions=versions,
        recorded=recorded,
        diff=diff,
        a=a,
        b=b,
        iso=us_to_iso,
        now=now_us(),
    )
