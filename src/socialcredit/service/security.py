"""Security headers and rate limits, as one plain ASGI middleware (no per-request task or body
copy: it sits in front of the point-of-service checks).

Rate limits are token buckets per client and class of endpoint, kept in each worker process
(with N workers a client may get up to N times the rate): the public pages and API by client
address, the checks by credential (or address when none is given). A refused request gets 429
with ``Retry-After`` and the JSON error body every error has.

Public requests also pass a gate: at most ``public_concurrency`` are worked on at once in a
worker, the others wait their turn without a thread (an awaiting request costs nothing), so
that the public, however many readers it sends, never takes the threads and the interpreter
from the agencies' checks and the subjects' pages.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The portal's own assets only; no inline script; forms post to this origin only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI and ReDoc start with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'"
)
BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]


@dataclass
class Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets: ``rate`` requests per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(who)
            if bucket is None:
                if len(self._buckets) > 100_000:  # forget idle clients rather than grow forever
                    self._buckets.clear()
                bucket = self._buckets[who] = Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate


# Routes that cost far more than a page: a report (a PDF takes seconds), a batch of checks
# (up to 10,000 subjects), a submission (a batch to validate and write). Limited per
# credential, so that one key cannot take every worker.
REPORTS = ("/v1/me/report", "/me/report.pdf")
SUBMISSIONS = ("/v1/records", "/v1/events")


def limited_class(path: str, method: str) -> str | None:
    if path in REPORTS:
        return "reports"
    if path == "/v1/checks" and method == "POST":
        return "batches"
    if path in SUBMISSIONS and method == "POST":
        return "submissions"
    if path.startswith(("/v1/checks", "/match/", "/reconcile")):  # per key (else per address)
        return "checks"
    if path.startswith(
        ("/v1/public", "/public", "/search", "/schemes", "/entities/", "/catalog", "/algorithms")
    ) or (path in ("/login", "/login/link") and method == "POST"):
        return "public"
    if path == "/login/link":
        return "public"
    return None


# The routes that stream their bodies to a file under their own limits (settings'
# max_batch_bytes, max_json_batch_bytes, max_policy_bytes); every other body is capped here.
STREAMED = ("/v1/records", "/v1/events", "/v1/policies")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _client(scope: Scope, by_key: bool) -> str:
    if by_key:
        for name, value in scope.get("headers", ()):
            if name in (b"authorization", b"x-api-key"):
                # the public part of a key is enough to tell clients apart
                return value.decode("latin-1").split("_")[1] if b"_" in value else "bad-key"
            if name == b"cookie" and b"sc_session=" in value:  # a portal session: its token
                token: bytes = value.split(b"sc_session=", 1)[1].split(b";", 1)[0]
                return "session:" + token[:16].decode("latin-1")
    client = scope.get("client")
    return client[0] if client else "unknown"


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        public: RateLimiter,
        checks: RateLimiter,
        expensive: dict[str, RateLimiter] | None = None,
        public_concurrency: int = 2,
        max_request_bytes: int = 2**20,
    ) -> None:
        self.app = app
        self.limiters = {"public": public, "checks": checks, **(expensive or {})}
        self.public_gate = asyncio.Semaphore(public_concurrency)
        self.max_request_bytes = max_request_bytes

    def _capped(self, scope: Scope, receive: Receive) -> Receive:
        """``receive`` that refuses (413) a body over ``max_request_bytes`` as soon as it
        passes the limit, so that no route buffers more (FastAPI reads a JSON body whole)."""
        limit = self.max_request_bytes
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _too_large_text(limit))
            return message

        return capped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limited = limited_class(path, scope["method"])
        if limited is not None and limited in self.limiters:
            wait = self.limiters[limited].take(_client(scope, limited != "public"))
            if wait > 0:
                await _too_many(send, wait)
                return
        repeated = _repeated_parameter(scope) if path.startswith("/v1/") else None
        if repeated is not None:
            await _refuse(
                send,
                400,
                "invalid",
                f"the query parameter {repeated[:40]!r} is given more than once: give it once",
            )
            return
        if scope["method"] in ("POST", "PUT", "PATCH") and not path.startswith(STREAMED):
            declared = _declared_length(scope)
            if declared is not None and declared > self.max_request_bytes:
                await _refuse(send, 413, "too_large", _too_large_text(self.max_request_bytes))
                return
            receive = self._capped(scope, receive)
        docs = path in ("/docs", "/redoc") or path.startswith("/static-offline-docs")
        csp = (DOCS_CSP if docs else CSP).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in BASE_HEADERS if h[0] not in present)
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        if limited == "public":
            async with self.public_gate:
                await self.app(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def _repeated_parameter(scope: Scope) -> str | None:
    """The first query parameter given more than once, if any: no API parameter is a list,
    and which of two purposes a read was for must not be the framework's choice."""
    query: bytes = scope.get("query_string", b"")
    if not query:
        return None
    seen: set[str] = set()
    for name, _value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return name
        seen.add(name)
    return None


def _too_large_text(limit: int) -> str:
    size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 2**10} KiB"
    return f"the body is larger than {size}, the most this route takes"


async def _too_many(send: Send, wait: float) -> None:
    seconds = max(1, math.ceil(wait))
    await _refuse(
        send,
        429,
        "rate_limited",
        f"too many requests: wait {seconds} s and try again",
        [(b"retry-after", str(seconds).encode())],
    )


async def _refuse(
    send: Send,
    status: int,
    code: str,
    message: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An error answered here, before the app: the JSON error body every error has."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        *(extra or []),
        (b"content-length", str(len(body)).encode()),
        *BASE_HEADERS,
        (b"content-security-policy", CSP.encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
