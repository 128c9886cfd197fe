"""The reference engine: reads rows one by one and evaluates subject by subject in Python."""

from __future__ import annotations

from socialcredit.engines.base import Report, Request
from socialcredit.semantics.reference import (
    accept_events,
    accept_records,
    evaluate_together,
    extendable_codes,
)


class ReferenceEngine:
    """Plain Python, per subject; the semantics every other engine is tested against."""

    name = "reference"

    def run(self, request: Request) -> Report:
        accepted = accept_records(request.records.iter_rows(), request.catalogue)
        codes = {(r.furnisher, r.record_id): r.code for r in accepted.records}
        extendable = extendable_codes(*request.schemes)
        events, event_rejections = (
            accept_events(request.events.iter_rows(), codes, extendable)
            if request.events
            else ([], [])
        )
        # One scheme is the set of one (rule 14 within it); lines name the scheme only when
        # several are evaluated together.
        lines = evaluate_together(
            accepted.records,
            events,
            request.schemes,
            as_of=request.as_of,
            known_at_us=request.known_at_us,
            explain=request.explain,
        )
        standings = [standing for _, standing in lines]
        request.local_out.parent.mkdir(parents=True, exist_ok=True)
        with request.local_out.open("w", encoding="utf-8", newline="\n") as handle:
            for scheme_id, standing in lines:
                handle.write(standing.to_json(scheme_id if request.also else None))
                handle.write("\n")
        return Report(
            records_read=request.records.rows,
            records_accepted=len(accepted.records),
            records_noop=accepted.noops,
            events_read=request.events.rows if request.events else 0,
            events_accepted=len(events),
            subjects=len(standings),
            record_rejections=accepted.rejections,
            event_rejections=event_rejections,
        )
