"""The point-of-service check's hot path as plain ASGI.

``GET /v1/checks/{subject_id}`` is the one route a relying agency calls at every counter, so it
is answered here without FastAPI's routing, dependency solving and validation layers (which
cost more than the check itself). Only the well-formed case is served here — an agency key, a
valid identifier, a short purpose — and it gives the same answer, audited the same way, as the
documented FastAPI route (:func:`socialcredit.service.api.check_one`). Anything else (no key,
another role, a bad identifier, an error) falls through to that route, which answers with the
usual JSON error. The rate limits and security headers sit in front of both.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from socialcredit.registry.audit import Reader
from socialcredit.registry.checks import result_text
from socialcredit.service.security import ASGIApp, Receive, Scope, Send
from socialcredit.service.state import State

PREFIX = "/v1/checks/"


class CheckFastPath:
    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PREFIX) and "/" not in path[len(PREFIX) :]:
                body = await self._answer(scope, path[len(PREFIX) :])
                if body is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, subject_id: str) -> bytes | None:
        token = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                token = value.decode("latin-1")
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                token = value[7:].decode("latin-1")
        if token is None:
            return None
        who = self.state.principal(token)
        if who is None or who.role != "agency" or who.agency is None:
            return None
        purpose = None
        if scope.get("query_string"):
            values = parse_qs(scope["query_string"].decode("latin-1")).get("purpose")
            purpose = values[-1] if values else None
            if purpose is not None and len(purpose) > 500:
                return None
        if len(subject_id) != 18:
            return None
        reader = Reader(
            who.actor,
            who.role,
            (purpose or "").strip() or f"point-of-service check at {who.agency}",
        )
        try:
            results = await self.state.check(who.agency, [subject_id], reader)
        except Exception:  # the documented route answers errors
            return None
        if results[0].error is not None:  # not a valid identifier: nothing was read
            return None
        return result_text(results[0]).encode()
