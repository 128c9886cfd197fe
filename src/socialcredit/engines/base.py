"""What every engine takes and returns, and the parts of a run that do not depend on the engine."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from socialcredit.inputs import Input
from socialcredit.policy.model import Catalogue, Scheme
from socialcredit.semantics.fields import Rejection, reason_text
from socialcredit.semantics.reference import catalogue_kinds


@dataclass(frozen=True)
class Request:
    """One evaluation: the law, the facts, the two times, and where the standings go."""

    catalogue: Catalogue
    scheme: Scheme
    records: Input
    events: Input | None
    as_of: dt.date
    known_at_us: int
    out: Path | str  # a str: a URL (the Spark engine's Parquet output)
    explain: bool = False
    also: tuple[Scheme, ...] = ()  # schemes evaluated together with ``scheme`` (rule 14)

    @property
    def schemes(self) -> tuple[Scheme, ...]:
        """Every scheme of the request, by id."""
        return tuple(sorted((self.scheme, *self.also), key=lambda s: s.id))

    @property
    def local_out(self) -> Path:
        """``out`` as a local path (the engines that write JSON lines write only there)."""
        if isinstance(self.out, str):
            raise ValueError(f"{self.out}: not a local path")
        return self.out


@dataclass
class Report:
    """What a run did: counts for the summary and every rejected row."""

    records_read: int = 0
    records_accepted: int = 0
    records_noop: int = 0
    events_read: int = 0
    events_accepted: int = 0
    subjects: int = 0
    record_rejections: list[Rejection] = field(default_factory=list)
    event_rejections: list[Rejection] = field(default_factory=list)

    def rejected_by_reason(self) -> Counter[str]:
        return Counter(
            [f"records {r.label}" for r in self.record_rejections]
            + [f"events {r.label}" for r in self.event_rejections]
        )


class Engine(Protocol):
    """An evaluation engine: same inputs, byte-identical standings, same rejections."""

    name: str

    def run(self, request: Request) -> Report: ...


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that would start a formula (``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return) is prefixed with an apostrophe (OWASP's advice
    against CSV injection); a furnisher's file name or value is never run as a formula."""
    return f"'{text}" if text.startswith(FORMULA) else text


def write_rejects_csv(
    handle: TextIO,
    found: Iterable[tuple[str, Rejection]],
    kinds: Mapping[str, tuple[str, ...]],
) -> int:
    """Write (file name, rejection) pairs as ``file,row,field,reason``; returns how many."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["file", "row", "field", "reason"])
    count = 0
    for name, rejection in found:
        reason = reason_text(rejection, kind_subjects=kinds)
        writer.writerow([cell(name), rejection.row, cell(rejection.field), cell(reason)])
        count += 1
    return count


def write_rejects(path: Path, request: Request, report: Report) -> int:
    """Write every rejected row as ``file,row,field,reason``; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    found = [
        (source.name if source is not None else "", rejection)
        for source, rejections in (
            (request.records, report.record_rejections),
            (request.events, report.event_rejections),
        )
        for rejection in sorted(rejections, key=lambda r: r.row)
    ]
    with path.open("w", encoding="utf-8", newline="") as handle:
        return write_rejects_csv(handle, found, catalogue_kinds(request.catalogue))
