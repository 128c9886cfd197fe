"""The HTTP service: the JSON API under ``/v1``, the portal, health checks and the docs.

``create_app(settings)`` builds one ASGI app; ``socialcredit serve`` runs it under uvicorn
(``--workers N`` processes, each with its own :class:`State`). Errors are JSON with a stable
code and a message a person can act on — on the portal's pages, an HTML page saying the same.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from socialcredit import __version__
from socialcredit.errors import PolicyError, SocialCreditError
from socialcredit.service import models as m
from socialcredit.service.api import document_statuses
from socialcredit.service.api import router as api_router
from socialcredit.service.fastpath import CheckFastPath
from socialcredit.service.portal import CSRF_MESSAGE, render_error
from socialcredit.service.portal import router as portal_router
from socialcredit.service.screening import SCREENING
from socialcredit.service.screening import router as screening_router
from socialcredit.service.security import RateLimiter, Receive, Scope, SecurityMiddleware, Send
from socialcredit.service.state import State
from socialcredit.settings import Settings
from socialcredit.store.db import StoreError

log = logging.getLogger("socialcredit.service")

DESCRIPTION = """\
A rule-of-law social credit registry. **Furnishers** submit records and events; **relying
agencies** check which joint measures apply to a subject at their agency; **subjects** read their
standing and report, object, apply for credit repair and ask for human review; **operators** run
the queues and publish policies; **the public** reads what the law makes public.

Authenticate with an API key (`socialcredit key create --role ...`) in `X-API-Key` or
`Authorization: Bearer`. Every read of a person's data is recorded in the access audit.
Errors are `{"error": {"code": ..., "message": ...}}`.
"""

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


FASTAPI_PARSE_ERROR = "There was an error parsing the body"


def _where(loc: Any) -> str:
    """A validation error's place as a caller names it: ``body.subjects.3``, ``query.page``."""
    return ".".join(str(part) for part in loc) or "request"


def _wants_html(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(
        ("/v1", "/healthz", "/readyz", "/openapi", "/docs", "/redoc", *SCREENING)
    )


def _error(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> Response:
    if _wants_html(request):
        return render_error(request, status, message)
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    if request.url.path.startswith(SCREENING):  # yente's clients read the message as detail
        return JSONResponse({"error": body, "detail": message}, status_code=status)
    return JSONResponse({"error": body}, status_code=status)


def create_app(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    state = State(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPIOffline(
        title="socialcredit",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "checks", "description": "Relying agencies: point-of-service checks."},
            {"name": "furnishers", "description": "Furnishers: records and events."},
            {"name": "subjects", "description": "Subjects: their own data and rights."},
            {"name": "operators", "description": "Operators: queues, policies, furnishers."},
            {"name": "public", "description": "Anyone: what the law makes public."},
            {"name": "exchange", "description": "Peer registries: the exchange feed."},
            {"name": "health", "description": "Liveness and readiness."},
            {
                "name": "screening",
                "description": "Screening tools: yente's matching API and W3C Reconciliation "
                "over the public lists, and an agency's own dataset for its key.",
            },
        ],
    )
    app.state.socialcredit = state

    @app.exception_handler(SocialCreditError)
    async def domain_error(request: Request, error: SocialCreditError) -> Response:
        """Every error the registry raises on purpose: its class says the status and code."""
        details = None
        message = str(error)
        if isinstance(error, PolicyError):
            details = [
                {"source": p.source, "where": p.where, "message": p.message} for p in error.problems
            ]
            message = message.splitlines()[0]
        if isinstance(error, StoreError):
            log.error("store unavailable: %s", error)
        response = _error(request, error.status, error.code, message, details)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        found = error.errors()
        if any(e.get("type") == "json_invalid" for e in found):
            where = next(e for e in found if e.get("type") == "json_invalid")
            position = (where.get("ctx") or {}).get("error", "malformed")
            return _error(request, 400, "invalid_json", f"the body is not JSON: {position}")
        if _wants_html(request) and any(tuple(e.get("loc", ())) == ("body", "csrf") for e in found):
            return _error(request, 403, "csrf", CSRF_MESSAGE)
        details = [{"where": _where(e.get("loc", ())), "message": str(e.get("msg"))} for e in found]
        first = details[0] if details else {"where": "request", "message": "malformed"}
        return _error(
            request, 422, "invalid_request", f"{first['where']}: {first['message']}", details
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 400 and error.detail == FASTAPI_PARSE_ERROR:
            # FastAPI's answer when its JSON parser itself fails (e.g. nested too deeply)
            return _error(request, 400, "invalid_json", "the body is not JSON, or nests too deeply")
        code = _STATUS_CODES.get(error.status_code, "error")
        return _error(request, error.status_code, code, str(error.detail))

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(
            request,
            500,
            "internal_error",
            "the registry could not answer: the error is logged; try again later",
        )

    @app.get("/healthz", tags=["health"], response_model=m.Health)
    async def healthz() -> m.Health:
        """The process is up."""
        return m.Health(status="ok")

    @app.get(
        "/readyz", tags=["health"], response_model=m.Health, responses={503: {"model": m.Error}}
    )
    def readyz() -> m.Health:
        """The store is reachable and at this version's schema."""
        state.store.check_ready()
        return m.Health(status="ready", store=state.store.dialect)

    document_statuses(api_router.routes)
    document_statuses(screening_router.routes)
    app.include_router(api_router)
    app.include_router(screening_router)
    app.include_router(portal_router)
    app.mount(
        "/static",
        StaticFiles(directory=str(resources.files("socialcredit") / "static")),
        name="static",
    )
    if settings.oidc_issuer:  # Authlib keeps the OpenID Connect state in a signed cookie
        from starlette.middleware.sessions import SessionMiddleware

        app.add_middleware(
            SessionMiddleware,
            secret_key=settings.oidc_state_secret or secrets.token_urlsafe(32),
            same_site="lax",
            https_only=settings.secure_cookies,
        )
    return Service(app, settings)


class Service:
    """The ASGI app that is served: the security layer (rate limits, headers) around the
    checks' hot path around the FastAPI app. (Outside FastAPI's own middleware stack, so that
    a check pays for no layer it does not need.) ``state`` and ``fastapi`` reach inside."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.fastapi = app
        self.state = app.state
        self._asgi = SecurityMiddleware(
            CheckFastPath(app, app.state.socialcredit),
            public=RateLimiter(settings.rate_public_per_second, settings.rate_public_burst),
            checks=RateLimiter(settings.rate_checks_per_second, settings.rate_checks_burst),
            expensive={
                "reports": RateLimiter(
                    settings.rate_reports_per_second, settings.rate_reports_burst
                ),
                "batches": RateLimiter(
                    settings.rate_batches_per_second, settings.rate_batches_burst
                ),
                "submissions": RateLimiter(
                    settings.rate_submissions_per_second, settings.rate_submissions_burst
                ),
            },
            public_concurrency=settings.public_concurrency,
            max_request_bytes=settings.max_request_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)


def app_from_environment() -> Service:
    """The factory uvicorn's workers call (``socialcredit serve``): settings from the
    environment."""
    return create_app(Settings())
