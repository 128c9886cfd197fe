"""What one worker process of the service holds: the store, the settings, the checker with its
schemes in force, the audit's group committer and a short-lived cache of API keys."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from socialcredit.errors import SocialCreditError
from socialcredit.registry.access import Credential, Principal, authenticate, principal_of
from socialcredit.registry.audit import GroupCommitter, ReadEntry, Reader
from socialcredit.registry.checks import Checker, CheckResult
from socialcredit.registry.publication import PublicPage, PublicPages
from socialcredit.registry.screening import Screening
from socialcredit.registry.standings.upkeep import catch_up, refresh
from socialcredit.settings import Settings
from socialcredit.store.db import Store

log = logging.getLogger("socialcredit.service")


def page_json(found: PublicPage) -> bytes:
    """A public list page as the API answers it (models.PublicPageOut)."""
    data = asdict(found)
    data["pages"] = found.pages
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def article(noun: str) -> str:
    """'an operator', 'a subject': a message's article for a role."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


class ApiError(SocialCreditError):
    """An error of the service alone, with its status and stable code given where it is
    raised (the CSRF check, an unreachable identity provider); the registry's own errors
    carry theirs in their class (socialcredit.errors)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class State:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.database_url)
        self.checker = Checker(self.store, settings, index=True)
        self.public_pages = PublicPages(self.store, settings, render=page_json)
        self.screening = Screening(self.store, settings)
        self.committer: GroupCommitter | None = None
        self._keys: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()
        self.oauth: Any = None  # the OpenID Connect client, made on first use
        self._upkeep: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        self.store.check_ready()
        self.committer = GroupCommitter(self.store)
        self.checker.start()
        if self.settings.upkeep_seconds > 0:
            self._upkeep = threading.Thread(target=self._keep_up, name="upkeep", daemon=True)
            self._upkeep.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._upkeep is not None:
            self._upkeep.join(timeout=60)
            self._upkeep = None
        if self.committer is not None:
            self.committer.close()
            self.committer = None
        self.checker.close()
        self.store.engine.dispose()

    def _keep_up(self) -> None:
        """The derived state's upkeep, at start and every ``upkeep_seconds``: pending batches
        caught up (a crash's too), standings whose day has come rewritten. Answers are right
        without it (freshness); it keeps them cheap. Errors are logged and tried again."""
        while not self._stopping.is_set():
            try:
                catch_up(self.store, self.settings)
                refresh(self.store, self.settings)
            except Exception:  # the next round tries again; answers stay right meanwhile
                log.exception("the upkeep of current standings failed; trying again later")
            self._stopping.wait(self.settings.upkeep_seconds)

    async def check(
        self, agency: str, identifiers: Sequence[str], reader: Reader, *, in_thread: bool = False
    ) -> list[CheckResult]:
        """Answer a check; returns once its audit entries are durable. The read is one short
        statement, run on the event loop (``in_thread`` for large batches); evaluating a
        stale or pending subject online runs in a thread. Nothing but the audit is written."""
        if in_thread:
            prepared = await run_in_threadpool(
                self.checker.prepare, agency, identifiers, reader=reader
            )
        else:
            prepared = self.checker.prepare(agency, identifiers, reader=reader, online=False)
        if prepared.unsure:
            prepared = await run_in_threadpool(
                self.checker.prepare, agency, identifiers, reader=reader
            )
        if prepared.entries:
            if self.committer is None:
                raise RuntimeError("the service is not started")
            await asyncio.wrap_future(self.committer.submit(prepared.entries))
        return prepared.results

    def audit(self, entries: list[ReadEntry]) -> list[int]:
        """Record reads durably (group commit); returns once they are committed."""
        if self.committer is None:
            raise RuntimeError("the service is not started")
        return self.committer.record(entries)

    def principal(self, token: str) -> Principal | None:
        """The key's principal; a lookup is trusted for ``key_cache_seconds``."""
        now = time.monotonic()
        cached = self._keys.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = authenticate(self.store, token)
        with self._lock:
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[token] = (found, now + self.settings.key_cache_seconds)
        return found

    @staticmethod
    def principal_of_credential(credential: Credential) -> Principal:
        return principal_of(credential)

    def forget_keys(self) -> None:
        with self._lock:
            self._keys.clear()


def state_of(request: Request) -> State:
    state: State = request.app.state.socialcredit
    return state


async def app_state(request: Request) -> State:
    """The dependency form of :func:`state_of` (async: no thread hop)."""
    return state_of(request)
