"""The subject report: everything the registry holds and does about one subject, in one document.

`issue_report` gathers, for one subject on one day: identity; the standing under every published
scheme that applies, with each point and listing explained; every record with its status
(counting, not yet in effect, expired, fulfilled, repaired, retracted, suspended; and whether it
is under objection), its legal basis and its publication window; the history of objections,
repair applications and human reviews; every notice; and who read the subject's data. It renders
that as JSON, HTML or a PDF (WeasyPrint; Chinese text needs a CJK font: Debian's
``fonts-noto-cjk``, which ``scripts/system-packages.sh`` installs with HarfBuzz's subsetter).

Each issue is recorded (table ``reports``, with the requester's role); the subject's own
requests are counted against its free reports for the calendar year
(``SOCIALCREDIT_FREE_REPORTS_PER_YEAR``, at least 2), and a report an operator issues is free
and counts against nothing; the report says which. Issuing is a read of the subject's data,
audited before the file is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from jinja2 import Environment, PackageLoader, select_autoescape

from socialcredit.errors import NotFound, UsageError
from socialcredit.identifiers import check
from socialcredit.policy.model import Catalogue
from socialcredit.policy.repair import rules_on
from socialcredit.registry.audit import Reader, record_read
from socialcredit.registry.calendar import WorkCalendar, load_calendar
from socialcredit.registry.due_process import case_of
from socialcredit.registry.notices import shown_text
from socialcredit.registry.policies import catalogue_at, schemes_in_force
from socialcredit.registry.publication import (
    ending_on_fulfilment,
    publication_window,
    published_on,
)
from socialcredit.registry.retention import erasure_day
from socialcredit.registry.standings.online import (
    Evaluated,
    SubjectFacts,
    evaluate_facts,
    load_subject,
    subject_key,
)
from socialcredit.semantics.fields import Record
from socialcredit.semantics.reference import _Dates, visible_dates
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us, us_to_iso
from socialcredit.store.schema import (
    audit_log,
    furnishers,
    ledger,
    notices,
    objections,
    repairs,
    reports,
    reviews,
)

FORMATS = ("html", "pdf", "json")


@dataclass(frozen=True)
class Issued:
    """One issued report."""

    id: int
    subject: str
    format: str
    path: Path
    free: bool
    number_this_year: int


def issue_report(
    store: Store,
    settings: Settings,
    identifier: str,
    *,
    fmt: str,
    out: Path,
    reader: Reader,
) -> Issued:
    """Issue a report about ``identifier`` as ``fmt`` into ``out`` (written whole or not at all)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")
    if check(identifier).kind is None:
        raise UsageError(f"{identifier!r} is not a valid identifier: {check(identifier).reason}")
    issued_us = now_us()
    zone = ZoneInfo(settings.timezone)
    year = (dt.datetime.fromtimestamp(issued_us / 1e6, dt.UTC).astimezone(zone)).year
    with store.writing("reports") as connection:
        key = subject_key(connection, identifier)
        if key is None:
            raise NotFound(f"the registry holds no records about {identifier}")
        own = reader.role == "subject"
        before = int(
            connection.scalar(
                sa.select(sa.func.count())
                .select_from(reports)
                .where(
                    reports.c.subject_id == key,
                    reports.c.year == year,
                    sa.or_(reports.c.role.is_(None), reports.c.role == "subject"),
                )
            )
            or 0
        )
        # A report an operator issues costs the subject nothing and uses none of its free ones.
        free = not own or before < settings.free_reports_per_year
        report_id = int(
            connection.execute(
                reports.insert().values(
                    subject_id=key,
                    issued_us=issued_us,
                    year=year,
                    format=fmt,
                    actor=reader.actor,
                    free=free,
                    role=reader.role,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
    # The read is audited before anything is handed over (and so appears in the report itself).
    record_read(store, reader, key, identifier, f"report:{fmt} #{report_id}")
    issue = {
        "number": report_id,
        "issued_at": us_to_iso(issued_us),
        "format": fmt,
        "free": free,
        "number_this_year": before + 1 if own else before,
        "requested_as": reader.role,
        "free_per_year": settings.free_reports_per_year,
        "requested_by": reader.actor,
        "purpose": reader.purpose,
    }
    data = report_data(store, settings, key, issue)
    _write(out, render(data, fmt))
    return Issued(report_id, identifier, fmt, out, free, before + 1 if own else before)


def subject_page(
    store: Store, settings: Settings, identifier: str, *, reader: Reader
) -> dict[str, Any]:
    """What the subject's own portal page shows: the report's content (standings explained,
    records and their status, cases, notices, who read the data), without issuing a report.
    The read is audited first."""
    if check(identifier).kind is None:
        raise UsageError(f"{identifier!r} is not a valid identifier: {check(identifier).reason}")
    with store.reading() as connection:
        key = subject_key(connection, identifier)
    if key is None:
        raise NotFound(f"the registry holds no records about {identifier}")
    record_read(store, reader, key, identifier, "portal page")
    return report_data(store, settings, key, None)


def case_view(
    store: Store, settings: Settings, kind: str, case_id: int, *, reader: Reader
) -> dict[str, Any]:
    """What an official decides a case from (issue #15: queues an official can decide from):
    the case, its record as the subject's report shows it (code, amount, status, publication,
    repair, history) and the record's effects in each standing — points, the lists it holds,
    the measures those lists trigger with the agency that enforces each. The read of the
    subject's data is audited first."""
    key, case = case_of(store, settings, kind, case_id)
    record_read(store, reader, key, case.subject, f"{kind} {case_id}")
    data = report_data(store, settings, key, None)
    record = next(r for r in data["records"] if r["record"] == case.record)
    return {
        "case": case,
        "subject": data["subject"],
        "record": record,
        "effects": record_effects(data, case.record),
    }


def record_effects(data: dict[str, Any], ref: str) -> list[dict[str, Any]]:
    """One record's effects in each standing of a subject's report data, today."""
    effects = []
    for standing in data["standings"]:
        mine = [p for p in standing["points"] if p["record"] == ref]
        if not mine:
            continue
        held = sorted({list_id for p in mine for list_id in p["lists"]})
        titles = {lst["id"]: lst["title"] for lst in standing["lists"]}
        effects.append(
            {
                "scheme": standing["scheme"],
                "title": standing["title"],
                "points": sum(p["points"] or 0 for p in mine),
                "lists": [{"id": i, "title": titles.get(i, i)} for i in held],
                "measures": [
                    {"title": m["title"], "agency": m["agency"], "kind": m["kind"]}
                    for m in standing["measures"]
                    if set(m["because"]) & set(held)
                ],
            }
        )
    return effects


def subject_cases(
    store: Store, identifier: str, *, reader: Reader
) -> dict[str, list[dict[str, Any]]]:
    """A subject's objections, repair applications and review requests, oldest first (an
    audited read)."""
    with store.reading() as connection:
        key = subject_key(connection, identifier)
        if key is None:
            raise NotFound(f"the registry holds no records about {identifier}")
        found = _cases(connection, key)
    record_read(store, reader, int(key), identifier, "cases")
    return found


def _write(out: Path, content: bytes) -> None:
    """Write under a temporary name beside ``out`` and rename it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def render(data: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    html = _environment().get_template("report.html").render(report=data, pdf=fmt == "pdf")
    if fmt == "html":
        return html.encode("utf-8")
    from weasyprint import HTML  # type: ignore[import-untyped]  # loads Pango: import on use

    pdf = HTML(string=html).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("socialcredit", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


# -- the content -------------------------------------------------------------------------------


def report_data(
    store: Store, settings: Settings, key: int, issue: dict[str, Any] | None
) -> dict[str, Any]:
    """The report as plain data (the JSON format, and what the templates render)."""
    today, known = settings.today(), now_us()
    with store.reading() as connection:
        facts = load_subject(connection, key)
        catalogue = catalogue_at(connection, known)
        results: dict[str, Evaluated] = {}
        in_force = schemes_in_force(connection, as_of=today, known_us=known)
        for applicable in in_force:
            if facts.kind in applicable.scheme.subjects:
                results[applicable.scheme.id] = evaluate_facts(
                    facts, applicable, as_of=today, known_at_us=known, explain=True, among=in_force
                )
        names = dict(connection.execute(sa.select(furnishers.c.id, furnishers.c.name)).all())
        cases = _cases(connection, key)
        sent = connection.execute(
            sa.select(notices).where(notices.c.subject_id == key).order_by(notices.c.id)
        ).all()
        reads = connection.execute(
            sa.select(audit_log).where(audit_log.c.subject_id == key).order_by(audit_log.c.seq)
        ).all()
    open_objections = {
        case["record"]: case["id"] for case in cases["objections"] if case["outcome"] is None
    }
    standings = [_standing(sid, evaluated, catalogue) for sid, evaluated in results.items()]
    records = _records(facts, results, catalogue, names, open_objections, settings, today, known)
    _ways_out(standings, results, records)
    data: dict[str, Any] = {
        "registry": settings.registry_name,
        "report": issue,
        "on": today.isoformat(),
        "subject": {
            "identifier": facts.identifier,
            "kind": facts.kind,
            "name": facts.name,
            "region": facts.region,
        },
        "summary": [],
        "standings": standings,
        "records": records,
        **cases,
        "notices": [
            {
                "at": us_to_iso(int(n.created_us)),
                "kind": n.kind,
                "about": n.ref,
                "text": shown_text(n.kind, n.text),
                "sent": None if n.sent_us is None else us_to_iso(int(n.sent_us)),
            }
            for n in sent
        ],
        # Records erased after their retention period: only the notice that says when and
        # under which rule is left (registry.retention)
        "erased": [shown_text(n.kind, n.text) for n in sent if n.kind == "erased"],
        "access": [
            {
                "at": us_to_iso(int(r.at_us)),
                "actor": r.actor,
                "role": r.role,
                "purpose": r.purpose,
                "what": r.what,
            }
            for r in reads
        ],
    }
    data["access_summary"] = _access_summary(data["access"])
    data["summary"] = _summary(data)
    return data


def _access_summary(reads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reads grouped by who, role, why and what, with how often and when first and last:
    a subject checked at a ticket counter every week reads one line, not hundreds."""
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for read in reads:
        key = (read["actor"], read["role"], read["purpose"], read["what"])
        group = groups.get(key)
        if group is None:
            groups[key] = {**read, "count": 1, "first": read["at"], "last": read["at"]}
        else:
            group["count"] += 1
            group["last"] = read["at"]
    return sorted(groups.values(), key=lambda g: g["last"], reverse=True)


def _standing(sid: str, evaluated: Evaluated, catalogue: Catalogue) -> dict[str, Any]:
    scheme, standing = evaluated.scheme, evaluated.standing
    entry: dict[str, Any] = {
        "scheme": sid,
        "version": scheme.version,
        "title": scheme.title,
        "evaluated": standing is not None,
        "in_population": evaluated.in_population,
        "outside": evaluated.outside,
        "score": None,
        "grade": None,
        "lists": [],
        "measures": [],
        "points": [],
        "holds_until": None if evaluated.holds_until is None else str(evaluated.holds_until),
        "barred_by": evaluated.barred_json(),
    }
    if standing is None or standing.explanation is None:
        return entry
    explanation = standing.explanation
    lists = {lst.id: lst for lst in scheme.lists}
    measures = {m.id: m for m in scheme.measures}
    entry.update(
        score=standing.score,
        grade=standing.grade,
        lists=[
            {
                "id": list_id,
                "title": lists[list_id].title,
                "kind": lists[list_id].kind,
                "public": lists[list_id].public,
                "legal_basis": lists[list_id].legal_basis,
                "since": dates["since"],
                "until": dates["until"],
            }
            for list_id, dates in explanation["lists"].items()
        ],
        measures=[
            {
                "id": measure_id,
                "title": measures[measure_id].title,
                "agency": measures[measure_id].agency,
                "kind": measures[measure_id].kind,
                "legal_basis": measures[measure_id].legal_basis,
                "because": triggers,
            }
            for measure_id, triggers in explanation["measures"].items()
        ],
        points=[
            {
                "record": f"{item['furnisher']}/{item['record_id']}",
                "code": item["code"],
                "title": catalogue.codes[item["code"]].title
                if item["code"] in catalogue.codes
                else item["code"],
                "points": item["points"],
                "legal_basis": item["legal_basis"],
                "ends": item["ends"],
                "lists": item["lists"],
            }
            for item in explanation["records"]
        ],
    )
    return entry


def _ways_out(
    standings: list[dict[str, Any]], results: dict[str, Evaluated], records: list[dict[str, Any]]
) -> None:
    """Say, on each listing, how it ends (issue #15, a way out on every listing): its last day,
    the event that ends it earlier — the furnisher's report of performance, for a list that
    ends on fulfilment — and the earliest day credit repair of a record holding it may be
    applied for, with the rules that say so. Before any form."""
    by_ref = {r["record"]: r for r in records}
    for entry in standings:
        if entry["scheme"] not in results:
            continue
        lists = {lst.id: lst for lst in results[entry["scheme"]].scheme.code_lists}
        for listing in entry["lists"]:
            lst = lists.get(listing["id"])
            holders = [by_ref[p["record"]] for p in entry["points"] if listing["id"] in p["lists"]]
            repairs = [r["repair"] for r in holders if r.get("repair")]
            first = min(repairs, key=lambda r: r["from"]) if repairs else None
            performed_by = sorted({r["furnisher_name"] for r in holders})
            listing["way_out"] = {
                "last_day": (
                    None
                    if listing["until"] is None
                    else (
                        dt.date.fromisoformat(listing["until"]) - dt.timedelta(days=1)
                    ).isoformat()
                ),
                "ends_on_performance": bool(lst is not None and lst.ends_on_fulfilment),
                "performance_reported_by": performed_by
                if lst is not None and lst.ends_on_fulfilment
                else [],
                "repair_from": None if first is None else first["from"],
                "repair_basis": None if first is None else first["basis"],
            }


def _records(
    facts: SubjectFacts,
    results: dict[str, Evaluated],
    catalogue: Catalogue,
    names: dict[str, str],
    open_objections: dict[str, int],
    settings: Settings,
    today: dt.date,
    known: int,
) -> list[dict[str, Any]]:
    dates = visible_dates(facts.events, known)
    ending = ending_on_fulfilment((ev.scheme for ev in results.values()), facts.kind)
    calendar = load_calendar(settings.holidays_file)
    counting: set[str] = set()
    used: set[str] = set()
    suspending = False
    for evaluated in results.values():
        used |= evaluated.scheme.codes_used()
        suspending |= evaluated.scheme.objection_suspends_effect
        if evaluated.standing is not None and evaluated.standing.explanation is not None:
            counting |= {
                f"{item['furnisher']}/{item['record_id']}"
                for item in evaluated.standing.explanation["records"]
            }
    events_of: dict[str, list[dict[str, Any]]] = {}
    for event in facts.events:
        if not _shown(event, dates.get((event.furnisher, event.record_id)), today):
            continue
        events_of.setdefault(f"{event.furnisher}/{event.record_id}", []).append(
            {
                "event": event.event,
                "date": None if event.date is None else event.date.isoformat(),
                "recorded_at": us_to_iso(event.recorded_us),
            }
        )
    found = []
    for record in sorted(facts.records, key=lambda r: (r.occurred_on, r.furnisher, r.record_id)):
        ref = f"{record.furnisher}/{record.record_id}"
        ds = dates.get((record.furnisher, record.record_id))
        code = catalogue.codes.get(record.code)
        status, detail = _status(
            record.occurred_on,
            ds,
            counting=ref in counting,
            used=record.code in used,
            suspended=suspending and ref in open_objections,
            lapsed=_lapsed(ds, today) if ref in open_objections else None,
            today=today,
        )
        retracted = ds is not None and ds.retracted
        window = (
            None
            if retracted or code is None
            else publication_window(
                record,
                code.severity,
                settings,
                ds.repaired if ds is not None else None,
                fulfilled=ds.fulfilled if ds is not None and record.code in ending else None,
                calendar=calendar,
            )
        )
        found.append(
            {
                "record": ref,
                "furnisher": record.furnisher,
                "furnisher_name": names.get(record.furnisher, record.furnisher),
                "record_id": record.record_id,
                "code": record.code,
                "title": code.title if code else record.code,
                "severity": code.severity if code else None,
                "legal_basis": code.legal_basis if code else None,
                "occurred_on": record.occurred_on.isoformat(),
                "decided_on": record.decided_on.isoformat() if record.decided_on else None,
                "recorded_at": us_to_iso(record.recorded_us),
                "amount": None if record.amount == Decimal(0) else str(record.amount),
                "status": status,
                "status_detail": detail,
                "under_objection": open_objections.get(ref),
                "publication": _publication(window, facts.kind, today),
                "repair": _repair(record, code, ds, today),
                "events": events_of.get(ref, []),
                "erasure": _erasure(record, ds, facts, results, catalogue, settings, calendar),
            }
        )
    return found


def _erasure(
    record: Record,
    ds: Any,
    facts: SubjectFacts,
    results: dict[str, Evaluated],
    catalogue: Catalogue,
    settings: Settings,
    calendar: WorkCalendar,
) -> dict[str, str]:
    """When the record's personal content is erased, and under which rule (registry.retention:
    an open case holds it until decided)."""
    retracted = min(
        (
            e.recorded_us
            for e in facts.events
            if e.event == "retracted"
            and (e.furnisher, e.record_id) == (record.furnisher, record.record_id)
        ),
        default=None,
    )
    day, basis, _ = erasure_day(
        record,
        ds or _Dates(),
        retracted,
        [ev.scheme for ev in results.values()],
        catalogue,
        settings,
        calendar,
    )
    return {"on": day.isoformat(), "basis": basis}


def _status(
    occurred_on: dt.date,
    ds: Any,
    *,
    counting: bool,
    used: bool,
    suspended: bool,
    lapsed: dt.date | None,
    today: dt.date,
) -> tuple[str, str]:
    """A record's status today, and one sentence saying why."""
    if ds is not None and ds.retracted:
        return "retracted", "withdrawn or found wrong: it has no effect at all"
    if counting:
        return "counting", "it counts toward a standing today (see the points and lists above)"
    if lapsed is not None:
        return "suspended", (
            f"the objection to it was not decided in time: from {lapsed.isoformat()} it has no "
            "effect in any scheme until the objection is decided"
        )
    if suspended:
        return "suspended", "under an undecided objection, the scheme suspends its effect"
    if ds is not None and ds.repaired is not None and ds.repaired <= today:
        return "repaired", f"credit repair granted on {ds.repaired.isoformat()}"
    if ds is not None and ds.fulfilled is not None and ds.fulfilled <= today:
        return "fulfilled", f"the obligation was fulfilled on {ds.fulfilled.isoformat()}"
    if occurred_on > today:
        return "not yet in effect", f"it takes effect on {occurred_on.isoformat()}"
    if not used:
        return "no effect", "no published scheme gives this kind of record an effect"
    return "expired", "its period of effect has ended"


def _lapsed(ds: Any, today: dt.date, *, now: bool = True) -> dt.date | None:
    """The day the record's objection lapsed, if it has by today and no rejection came first;
    with ``now``, only while the lapse suspends the record today (no rejection yet: the
    suspension of semantics.reference._Dates, in every scheme)."""
    if ds is None or ds.objection_lapsed is None or today < ds.objection_lapsed:
        return None
    rejected = ds.objection_rejected
    if rejected is not None and (rejected <= (today if now else ds.objection_lapsed)):
        return None
    return ds.objection_lapsed  # type: ignore[no-any-return]


def _shown(event: Any, ds: Any, today: dt.date) -> bool:
    """An event the report lists: every one, except a lapse that has not (or never) come to
    pass — written with the objection, it is void once the objection is decided in time."""
    return bool(event.event != "objection_lapsed" or _lapsed(ds, today, now=False) == event.date)


def _repair(record: Any, code: Any, ds: Any, today: dt.date) -> dict[str, Any] | None:
    """When credit repair of the record may be applied for, and under which rules (those in
    force today); None when it may not be at all (retracted, repaired, not repairable)."""
    if code is None or not code.repairable or (ds is not None and (ds.retracted or ds.repaired)):
        return None
    rules = rules_on(today)
    tier = rules.tiers[code.severity]
    return {
        "from": tier.repair_from(published_on(record.occurred_on)).isoformat(),
        "after": None if tier.repair_after is None else str(tier.repair_after),
        "basis": rules.cite(),
    }


def _publication(
    window: tuple[dt.date, dt.date] | None, kind: str, today: dt.date
) -> dict[str, Any]:
    if window is None:
        return {"public": False, "from": None, "until": None, "note": "never published"}
    start, end = window
    if kind == "person":
        note = (
            "records about persons are never published; only membership of a public list is, "
            "with the name and identifier masked"
        )
        return {"public": False, "from": None, "until": None, "note": note}
    if end <= start:
        note = "not published (minor records are not published)"
    elif today < start:
        note = f"to be published from {start.isoformat()}"
    elif today < end:
        note = f"published until {(end - dt.timedelta(days=1)).isoformat()}"
    else:
        note = f"was published until {(end - dt.timedelta(days=1)).isoformat()}"
    return {
        "public": start <= today < end,
        "from": start.isoformat(),
        "until": end.isoformat(),
        "note": note,
        "basis": rules_on(start).cite(),
    }


def _cases(connection: sa.Connection, key: int) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for label, table, text, filed in (
        ("objections", objections, "reason", "filed_us"),
        ("repairs", repairs, "evidence", "applied_us"),
    ):
        rows = connection.execute(
            sa.select(table, ledger.c.furnisher, ledger.c.record_id)
            .join(ledger, ledger.c.seq == table.c.record_seq)
            .where(table.c.subject_id == key)
            .order_by(table.c.id)
        ).all()
        found[label] = [
            {
                "id": int(r.id),
                "record": f"{r.furnisher}/{r.record_id}",
                "text": getattr(r, text),
                "filed": us_to_iso(int(getattr(r, filed))),
                "due": r.due.isoformat(),
                "outcome": r.outcome,
                "reason": r.decision_reason,
                "decided_by": r.decided_by,
                "decided": None if r.decided_us is None else us_to_iso(int(r.decided_us)),
            }
            for r in rows
        ]
    found["reviews"] = [
        {
            "id": int(r.id),
            "record": r.scheme_id or "all schemes",
            "text": r.reason,
            "filed": us_to_iso(int(r.requested_us)),
            "due": r.due.isoformat(),
            "outcome": r.outcome,
            "reason": r.decision_reason,
            "decided_by": r.decided_by,
            "decided": None if r.decided_us is None else us_to_iso(int(r.decided_us)),
        }
        for r in connection.execute(
            sa.select(reviews).where(reviews.c.subject_id == key).order_by(reviews.c.id)
        ).all()
    ]
    return found


def _summary(data: dict[str, Any]) -> list[str]:
    """The plain-language first page: where the subject stands and what they can do."""
    records = data["records"]
    lines = [
        f"On {data['on']} {data['registry']} holds {len(records)} record(s) about you, "
        f"furnished by {len({r['furnisher'] for r in records})} institution(s); "
        f"{sum(r['status'] == 'counting' for r in records)} of them count toward your standing "
        "today."
    ]
    listed = [(s, lst) for s in data["standings"] for lst in s["lists"]]
    for standing, lst in listed:
        until = f" until {lst['until']}" if lst["until"] else ""
        since = f" since {lst['since']}" if lst["since"] else ""
        lines.append(
            f"You are on the {lst['kind']} list “{lst['title']}” of {standing['title']}"
            f"{since}{until}."
        )
    if not listed:
        lines.append("You are on no list of any published scheme.")
    for standing in data["standings"]:
        if standing["score"] is not None:
            lines.append(
                f"Under {standing['title']} your score is {standing['score']}, grade "
                f"{standing['grade']}."
            )
    measures = [m for s in data["standings"] for m in s["measures"]]
    if measures:
        lines.append(
            "Measures that apply to you: "
            + "; ".join(f"{m['title']} ({m['agency']})" for m in measures)
            + "."
        )
    if data["erased"]:
        lines.extend(data["erased"])
    objected = [r for r in records if r["under_objection"] is not None]
    if objected:
        lines.append(f"{len(objected)} record(s) are under objection and await a decision.")
    lines.append(
        "You may object to any record you think wrong, apply for credit repair once its "
        "conditions are met, and ask that a person review your standing; the registry must "
        "answer within fixed deadlines, and an objection it has not decided by its due date "
        "lapses: from the next day the record has no effect in any scheme until it is "
        "decided."
    )
    issue = data["report"]
    if issue is None:  # a page, not an issued report
        return lines
    if issue.get("requested_as", "subject") != "subject":
        lines.append(
            f"This report was issued by the registry's {issue['requested_as']} "
            f"{issue['requested_by']}; it is free of charge and does not count against your "
            f"{issue['free_per_year']} free reports a year."
        )
        return lines
    lines.append(
        f"This is report {issue['number_this_year']} issued about you this year; "
        + (
            "it is free of charge."
            if issue["free"]
            else f"the first {issue['free_per_year']} each year are free of charge."
        )
    )
    return lines
