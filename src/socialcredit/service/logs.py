"""The access log without what belongs in the audit only.

uvicorn logs each request as ``client - "METHOD PATH HTTP/x" status``. The path of a check
names the person checked, and a query string may carry a purpose; kept as they are, the access
log would be a copy of the audit outside the audit, readable by whoever reads logs. So by
default :class:`PrivateAccess` drops every query string and masks every 18-character
identifier in a path as the public lists publish a person's (the first 6 and the last 2
characters: ``110105**********2X``). ``SOCIALCREDIT_ACCESS_LOG_QUERIES`` and
``SOCIALCREDIT_ACCESS_LOG_IDENTIFIERS`` keep them, for a registry whose logs are guarded as the
audit is. Sign-in tokens never reach a path: a sign-in link carries its token in the URL's
fragment, which browsers never send.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from socialcredit.settings import Settings

# An identifier-shaped path segment: 18 digits and capital letters (both kinds of identifier).
IDENTIFIER = re.compile(r"(?<![0-9A-Za-z])([0-9A-Z]{6})[0-9A-Z]{10}([0-9A-Z]{2})(?![0-9A-Za-z])")


def private_path(path: str, *, queries: bool = False, identifiers: bool = False) -> str:
    """The path as the access log writes it."""
    if not queries:
        path = path.split("?", 1)[0]
    if not identifiers:
        path = IDENTIFIER.sub(r"\1**********\2", path)
    return path


class PrivateAccess(logging.Filter):
    """Rewrites uvicorn's access records (their third argument is the path and query)."""

    def __init__(self, queries: bool = False, identifiers: bool = False) -> None:
        super().__init__()
        self.queries = queries
        self.identifiers = identifiers

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = private_path(args[2], queries=self.queries, identifiers=self.identifiers)
            record.args = (args[0], args[1], path, args[3], args[4])
        return True


def log_config(settings: Settings, *, access_file: str | None = None) -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`PrivateAccess` on the access log
    (written to stdout, or to ``access_file``)."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "private": {
            "()": "socialcredit.service.logs.PrivateAccess",
            "queries": settings.access_log_queries,
            "identifiers": settings.access_log_identifiers,
        }
    }
    access = config["handlers"]["access"]
    access["filters"] = ["private"]
    if access_file is not None:
        access.pop("stream")
        access["class"] = "logging.FileHandler"
        access["filename"] = access_file
    return config
