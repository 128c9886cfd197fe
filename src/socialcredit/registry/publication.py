"""What the public may see: the only way public pages get data.

- An organisation's records are public during their publication window: from the decision
  day (``occurred_on``) for the period of the code's severity — minor: not published (0 days
  by default; at most 3 months), general: 1 year by default (3 months to 1 year), serious: 3
  years by default (1 to 3 years) — ending early on the day of a repair, three working days
  after a fulfilment where a list of a scheme in force ends on it (SPC art. 10), or at once on
  retraction. Persons' records are never public.
- Members of a list marked ``public`` are published while they are listed: organisations with
  their identifier and name, persons masked (surname and the given name's first character;
  the identifier's first 6 and last 2 characters).
- A person's score or grade is never public; an organisation's score or grade is not published
  either unless a scheme says so (no shipped scheme does).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from socialcredit.errors import NotFound, SocialCreditError, UsageError
from socialcredit.identifiers import check
from socialcredit.policy.model import Scheme
from socialcredit.policy.repair import rules_on
from socialcredit.registry.calendar import WorkCalendar, load_calendar
from socialcredit.registry.policies import Applicable, catalogue_at, scheme_at, schemes_in_force
from socialcredit.registry.standings.freshness import (
    Stored,
    is_stale,
    pending_batches,
    pending_subjects,
    stale_rows,
)
from socialcredit.registry.standings.online import (
    evaluate_facts,
    load_subject,
    subject_key,
    under_objection,
)
from socialcredit.semantics.fields import Record
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import (
    ledger,
    policy_versions,
    standing_lists,
    standings,
    subjects,
)

# Compound surnames that take two characters (the common ones).
COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "端木",
        "独孤",
        "南宫",
    ]
)


def mask_identifier(identifier: str) -> str:
    """A person's identifier as published: the first 6 and the last 2 characters."""
    return identifier[:6] + "*" * (len(identifier) - 8) + identifier[-2:]


def mask_name(name: str | None) -> str | None:
    """A person's name as published: the surname and the given name's initial — Maria Schmidt
    → Schmidt M. A Chinese given name has no initial short of its characters (in 李四 the
    initial is the whole given name), so it is masked whole: 张三丰 → 张**, 欧阳娜娜 → 欧阳**."""
    if not name:
        return None
    name = name.strip()
    if any("\u4e00" <= ch <= "\u9fff" for ch in name):
        cut = 2 if name[:2] in COMPOUND_SURNAMES else 1
        surname, given = name[:cut], name[cut:]
        return surname + "*" * len(given)
    parts = name.split()
    if len(parts) == 1:
        return parts[0][:1] + "."
    return f"{parts[-1]} {parts[0][:1]}."


@dataclass(frozen=True)
class PublicRecord:
    furnisher: str
    record_id: str
    code: str
    title: str
    legal_basis: str
    occurred_on: str
    amount: str | None
    published_from: str
    published_until: str  # exclusive
    under_objection: bool = False


@dataclass(frozen=True)
class PublicListing:
    scheme: str
    list_id: str
    title: str
    kind: str
    legal_basis: str
    since: str | None
    until: str | None


@dataclass
class PublicView:
    """Everything public about one subject today."""

    identifier: str  # masked for persons
    kind: str
    name: str | None  # masked for persons
    on: str
    records: list[PublicRecord] = field(default_factory=list)
    listings: list[PublicListing] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "kind": self.kind,
            "name": self.name,
            "on": self.on,
            "records": [r.__dict__ for r in self.records],
            "lists": [item.__dict__ for item in self.listings],
        }


def publication_days(settings: Settings, severity: str) -> int:
    return {
        "minor": settings.publication_days_minor,
        "general": settings.publication_days_general,
        "serious": settings.publication_days_serious,
    }[severity]


def published_on(occurred_on: dt.date, decided_on: dt.date | None = None) -> dt.date:
    """The first day of a record's publication window: its decision day — ``decided_on`` when
    the furnisher gave it, else ``occurred_on`` (issue #15: the window starts at the decision,
    not at ingest, so an organisation's 2019 judgment ingested today is not public from today
    until 2029)."""
    return decided_on or occurred_on


# SPC Fa Shi [2017] No. 7 art. 10: a listing that ends on performance is deleted within three
# working days of it; the record's publication ends with it.
FULFILMENT_DELETION_WORKING_DAYS = 3


def ending_on_fulfilment(schemes: Iterable[Scheme], kind: str) -> frozenset[str]:
    """The codes on a code list that ends on fulfilment in any of ``schemes`` that evaluate
    subjects of ``kind``: their records' publication ends three working days after the
    fulfilment."""
    return frozenset(
        code
        for scheme in schemes
        if kind in scheme.subjects
        for lst in scheme.code_lists
        if lst.ends_on_fulfilment
        for code in lst.codes
    )


def publication_window(
    record: Record,
    severity: str,
    settings: Settings,
    repaired: dt.date | None,
    *,
    fulfilled: dt.date | None = None,
    calendar: WorkCalendar | None = None,
) -> tuple[dt.date, dt.date]:
    """When a record is (or would be, for an organisation) published, [start, end): from its
    decision day for the period of its code's severity — never longer than the tier of the
    repair rules in force on that day allows (3 months, 1 year, 3 years, in calendar months) —
    ending early on the day it is repaired and, when ``fulfilled`` is given (the record is on a
    list that ends on fulfilment), three working days after the fulfilment."""
    start = published_on(record.occurred_on, record.decided_on)
    end = min(
        start + dt.timedelta(days=publication_days(settings, severity)),
        rules_on(start).tiers[severity].publication.after(start),
    )
    if repaired is not None:
        end = min(end, repaired)
    if fulfilled is not None:
        working = calendar or load_calendar(settings.holidays_file)
        end = min(end, working.add_working_days(fulfilled, FULFILMENT_DELETION_WORKING_DAYS))
    return start, end


def public_view(store: Store, settings: Settings, identifier: str) -> PublicView:
    """What is public about a subject today (in the registry's time zone).

    A person is answered by :func:`_person_view`, with the same statements whether the
    registry holds the person or not (that it does is not public); an organisation, whose
    records are public, from its facts."""
    kind = check(identifier).kind
    if kind is None:
        raise UsageError(f"{identifier!r} is not a valid identifier")
    if kind == "person":
        return _person_view(store, settings, identifier)
    today, known = settings.today(), now_us()
    view = PublicView(identifier=identifier, kind=kind, name=None, on=today.isoformat())
    with store.reading() as connection:
        key = subject_key(connection, identifier)
        if key is None:
            return view
        facts = load_subject(connection, key)
        catalogue = catalogue_at(connection, known)
        schemes, among = _public_schemes(connection, settings, today, known, facts.kind)
        marks = under_objection(connection, key)
    view.name = facts.name
    view.records = [
        replace(r, under_objection=f"{r.furnisher}/{r.record_id}" in marks)
        for r in _public_records(
            facts,
            catalogue,
            settings,
            today,
            ending_on_fulfilment((a.scheme for a in among), facts.kind),
        )
    ]
    view.listings = _evaluated_listings(facts, schemes, among, settings, today, known)
    return view


def _public_schemes(
    connection: sa.Connection, settings: Settings, today: dt.date, known: int, kind: str
) -> tuple[list[Applicable], list[Applicable]]:
    """The schemes in force today that evaluate subjects of ``kind`` and have a public list,
    and every scheme in force (what they are evaluated with: rule 14)."""
    in_force = schemes_in_force(connection, as_of=today, known_us=known)
    public = [
        applicable
        for applicable in in_force
        if kind in applicable.scheme.subjects and any(lst.public for lst in applicable.scheme.lists)
    ]
    return public, in_force


# The person-public schemes per store, kept while the store's newest policy version and the day
# are as they were (policy versions are append-only; every scheme and catalogue read is of them).
_SCHEMES: weakref.WeakKeyDictionary[
    Store, tuple[tuple[Any, ...], tuple[list[Applicable], list[Applicable]]]
] = weakref.WeakKeyDictionary()
_SCHEMES_LOCK = threading.Lock()


def _person_schemes(
    store: Store, connection: sa.Connection, settings: Settings, today: dt.date, known: int
) -> tuple[list[Applicable], list[Applicable]]:
    """:func:`_public_schemes` for persons, from memory while no policy was published and the
    day is the same (one statement, whatever the subject)."""
    state = (
        connection.scalar(sa.select(sa.func.max(policy_versions.c.id))),
        today,
    )
    with _SCHEMES_LOCK:
        found = _SCHEMES.get(store)
    if found is not None and found[0] == state:
        return found[1]
    schemes = _public_schemes(connection, settings, today, known, "person")
    with _SCHEMES_LOCK:
        _SCHEMES[store] = (state, schemes)
    return schemes


def _person_view(store: Store, settings: Settings, identifier: str) -> PublicView:
    """What is public about a person today: the public lists the person is on (masked), from
    the stored current standings.

    Constant work: the same statements run, with the same plans, whether or not the registry
    holds the person — the newest policy version (the schemes in force are kept in memory
    while it and the day are unchanged), then by the identifier alone one read of the
    person's stored standings under those schemes, one primary-key probe of
    ``standing_lists`` per public list, and the pending batches (with a probe of the ledger
    by the identifier when there are any). The answers differ in what they return, not in the
    work. Only a held person whose stored standing freshness refuses (stale, or in a pending
    batch: a transient state the upkeep ends) is evaluated online, as every reader does."""
    today, known = settings.today(), now_us()
    nothing = PublicView(
        identifier=mask_identifier(identifier), kind="person", name=None, on=today.isoformat()
    )
    with store.reading() as connection:
        schemes, among = _person_schemes(store, connection, settings, today, known)
        if not schemes:
            return nothing
        by_id = {applicable.scheme.id: applicable for applicable in schemes}
        held = connection.execute(
            sa.select(
                subjects.c.id,
                subjects.c.name,
                standings.c.scheme_id,
                standings.c.scheme_version,
                standings.c.as_of,
                standings.c.holds_until,
            )
            .select_from(
                subjects.outerjoin(
                    standings,
                    sa.and_(
                        standings.c.subject_id == subjects.c.id,
                        standings.c.scheme_id.in_(sorted(by_id)),
                    ),
                )
            )
            .where(subjects.c.identifier == identifier)
        ).all()
        public = [
            (sid, lst.id)
            for sid, applicable in sorted(by_id.items())
            for lst in applicable.scheme.lists
            if lst.public
        ]
        listed = connection.execute(
            sa.select(
                standing_lists.c.scheme_id,
                standing_lists.c.list_id,
                standing_lists.c.since,
                standing_lists.c.until,
            ).where(
                sa.or_(
                    *(
                        sa.and_(
                            standing_lists.c.scheme_id == sid,
                            standing_lists.c.list_id == list_id,
                            standing_lists.c.identifier == identifier,
                        )
                        for sid, list_id in public
                    )
                )
            )
        ).all()
        ranges = pending_batches(connection)
        pending = bool(ranges) and _in_pending_batch(connection, identifier, ranges)
        if not held:
            return nothing
        key, name = int(held[0].id), held[0].name
        stored = {
            row.scheme_id: Stored(
                int(row.scheme_version),
                _day(row.as_of) or "",
                _day(row.holds_until),
            )
            for row in held
            if row.scheme_id is not None
        }
        day = today.isoformat()
        if any(
            is_stale(stored.get(sid), applicable, identifier, "person", day, pending=pending)
            for sid, applicable in by_id.items()
        ):
            facts = load_subject(connection, key)
            listings = _evaluated_listings(facts, schemes, among, settings, today, known)
        else:
            listings = []
            for row in sorted(listed, key=lambda r: public.index((r.scheme_id, r.list_id))):
                since, until = _day(row.since), _day(row.until)
                if not _published(since, settings, today):
                    continue
                lst = next(x for x in by_id[row.scheme_id].scheme.lists if x.id == row.list_id)
                listings.append(_listing(row.scheme_id, lst, since, until))
    if not listings:
        return nothing  # that the registry holds anything about a person is not public
    return replace(nothing, name=mask_name(name), listings=listings)


def _listing(scheme_id: str, lst: Any, since: str | None, until: str | None) -> PublicListing:
    """A public listing of a scheme's list, as the public sees it."""
    return PublicListing(
        scheme=scheme_id,
        list_id=lst.id,
        title=lst.title,
        kind=lst.kind,
        legal_basis=lst.legal_basis,
        since=since,
        until=until,
    )


def _day(value: Any) -> str | None:
    """A stored day (a date, or ISO text on some drivers) as ISO text."""
    return None if value is None else str(value)[:10]


def _in_pending_batch(
    connection: sa.Connection, identifier: str, ranges: list[tuple[int, int, int]]
) -> bool:
    """Whether a pending batch of ``ranges`` (:func:`pending_batches`) holds an entry about
    the subject with this identifier: the same probe whether or not the registry holds it."""
    within = sa.or_(*(ledger.c.seq.between(first, last) for _, first, last in ranges))
    who = sa.select(subjects.c.id).where(subjects.c.identifier == identifier).scalar_subquery()
    probe = sa.select(ledger.c.seq).where(within, ledger.c.subject_id == who).limit(1)
    return connection.execute(probe).first() is not None


def _evaluated_listings(
    facts: Any,
    schemes: list[Applicable],
    among: list[Applicable],
    settings: Settings,
    today: dt.date,
    known: int,
) -> list[PublicListing]:
    """The public lists a subject is on today, evaluated online from its facts (each scheme
    of ``schemes`` with every scheme in force, ``among``: rule 14)."""
    found = []
    for applicable in schemes:
        scheme = applicable.scheme
        evaluated = evaluate_facts(
            facts, applicable, as_of=today, known_at_us=known, explain=True, among=among
        )
        standing = evaluated.standing
        if standing is None or standing.explanation is None:
            continue
        dates = standing.explanation["lists"]
        for lst in scheme.lists:
            since = dates.get(lst.id, {}).get("since")
            if lst.public and lst.id in standing.lists and _published(since, settings, today):
                found.append(_listing(scheme.id, lst, since, dates[lst.id].get("until")))
    return found


def _published(since: str | None, settings: Settings, today: dt.date) -> bool:
    """Whether a listing since ``since`` is published today: after the registry's notice
    period (``SOCIALCREDIT_PUBLICATION_NOTICE_DAYS``, default 0). A grade list has no since."""
    if since is None or settings.publication_notice_days == 0:
        return True
    start = dt.date.fromisoformat(since) + dt.timedelta(days=settings.publication_notice_days)
    return start <= today


def _public_records(
    facts: Any, catalogue: Any, settings: Settings, today: dt.date, ending: frozenset[str]
) -> list[PublicRecord]:
    """An organisation's records inside their publication window today (``ending``: the codes
    whose publication ends three working days after fulfilment)."""
    retracted: set[tuple[str, str]] = set()
    dated: dict[tuple[str, str, str], dt.date] = {}
    for event in facts.events:
        key = (event.furnisher, event.record_id)
        if event.event == "retracted":
            retracted.add(key)
        elif event.event in ("repaired", "fulfilled") and event.date is not None:
            slot = (*key, event.event)
            dated[slot] = min(event.date, dated.get(slot, event.date))
    # the holiday calendar is read only when a fulfilment can end a window (a public read)
    fulfilled = any(slot[2] == "fulfilled" for slot in dated)
    calendar = load_calendar(settings.holidays_file) if fulfilled and ending else None
    found = []
    for record in facts.records:
        key = (record.furnisher, record.record_id)
        code = catalogue.codes.get(record.code)
        if code is None or key in retracted:
            continue
        start, end = publication_window(
            record,
            code.severity,
            settings,
            dated.get((*key, "repaired")),
            fulfilled=dated.get((*key, "fulfilled")) if record.code in ending else None,
            calendar=calendar,
        )
        if start <= today < end:
            found.append(
                PublicRecord(
                    furnisher=record.furnisher,
                    record_id=record.record_id,
                    code=record.code,
                    title=code.title,
                    legal_basis=code.legal_basis,
                    occurred_on=record.occurred_on.isoformat(),
                    amount=None if record.amount == Decimal(0) else str(record.amount),
                    published_from=start.isoformat(),
                    published_until=end.isoformat(),
                )
            )
    return found


@dataclass(frozen=True)
class PublicMember:
    identifier: str  # masked for persons
    kind: str
    name: str | None  # masked for persons
    since: str | None
    until: str | None


@dataclass(frozen=True)
class PublicPage:
    """One page of a public list today: its members in identifier order, and how many there
    are in all."""

    scheme: str
    list_id: str
    title: str
    kind: str
    legal_basis: str
    on: str
    total: int
    page: int
    per_page: int
    members: list[PublicMember]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


MAX_PER_PAGE = 500


class Updating(SocialCreditError):
    """The derived state is catching up after a large batch: too many subjects to evaluate
    online for one answer. The service answers 503 with Retry-After."""

    status = 503
    code = "updating"
    retry_after = 30


def _member(identifier: str, kind: str, name: str | None, since: Any, until: Any) -> PublicMember:
    person = kind == "person"
    return PublicMember(
        identifier=mask_identifier(identifier) if person else identifier,
        kind=kind,
        name=mask_name(name) if person else name,
        since=None if since is None else str(since)[:10],
        until=None if until is None else str(until)[:10],
    )


def public_list(
    store: Store,
    settings: Settings,
    scheme_id: str,
    list_id: str,
    *,
    page: int = 1,
    per_page: int = 100,
) -> PublicPage:
    """One page of the members of a public list today (:func:`public_list_keyed`)."""
    return public_list_keyed(store, settings, scheme_id, list_id, page=page, per_page=per_page)[0]


def public_list_keyed(
    store: Store,
    settings: Settings,
    scheme_id: str,
    list_id: str,
    *,
    page: int = 1,
    per_page: int = 100,
) -> tuple[PublicPage, list[int]]:
    """One page of the members of a public list today, persons masked. Read-only: one query
    over the stored current standings (``standing_lists``, in identifier order) — except for
    the subjects whose stored standing is stale or pending (freshness), which are evaluated
    online in the same read and merged in; when there are more of those than
    ``online_update_limit`` (a large batch is being caught up), :class:`Updating`. With the
    page, the members' subject keys in its order (the registry's own: never shown, for the
    exports that need a stable name for a person that is not the identifier)."""
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise UsageError(f"page is 1 or more, per_page 1 to {MAX_PER_PAGE}")
    today, known = settings.today(), now_us()
    with store.reading() as connection:
        applicable = scheme_at(connection, scheme_id, as_of=today, known_us=known)
        lst = next((item for item in applicable.scheme.lists if item.id == list_id), None)
        if lst is None:
            raise NotFound(f"scheme {scheme_id} has no list {list_id!r}")
        if not lst.public:
            raise UsageError(f"list {list_id} of scheme {scheme_id} is not public")
        unsure = set(
            connection.scalars(
                sa.select(standings.c.subject_id).where(stale_rows(applicable, today))
            )
        ) | pending_subjects(connection)
        if len(unsure) > settings.online_update_limit:
            raise Updating(
                f"the list {scheme_id}/{list_id} is being brought up to date after a large batch "
                f"({len(unsure):,} subjects); try again shortly"
            )
        among = schemes_in_force(connection, as_of=today, known_us=known)
        extra = _evaluated_members(
            connection, applicable, among, lst.id, unsure, settings, today, known
        )
        base = (
            sa.select(
                subjects.c.identifier,
                subjects.c.kind,
                subjects.c.name,
                standing_lists.c.since,
                standing_lists.c.until,
                standing_lists.c.subject_id,
            )
            .join(subjects, subjects.c.id == standing_lists.c.subject_id)
            .where(standing_lists.c.scheme_id == scheme_id, standing_lists.c.list_id == list_id)
        )
        if settings.publication_notice_days:
            cutoff = today - dt.timedelta(days=settings.publication_notice_days)
            base = base.where(
                sa.or_(standing_lists.c.since.is_(None), standing_lists.c.since <= cutoff)
            )
        stored = int(
            connection.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
        )
        skip = _stored_among(connection, base, unsure)
        offset = (page - 1) * per_page
        ordered = base.order_by(standing_lists.c.identifier)
        if unsure:  # merge the online answers in: the first offset + per_page of both
            ordered = ordered.limit(offset + per_page + len(skip))
        else:
            ordered = ordered.limit(per_page).offset(offset)
        rows = connection.execute(ordered).all()
    if unsure:
        merged = sorted(
            [
                (r.identifier, int(r.subject_id), _member(*r[:5]))
                for r in rows
                if r.identifier not in skip
            ]
            + extra,
            key=lambda item: item[0],
        )
        chosen = [(key, m) for _, key, m in merged[offset : offset + per_page]]
    else:
        chosen = [(int(r.subject_id), _member(*r[:5])) for r in rows]
    members = [m for _, m in chosen]
    found = PublicPage(
        scheme=scheme_id,
        list_id=list_id,
        title=lst.title,
        kind=lst.kind,
        legal_basis=lst.legal_basis,
        on=today.isoformat(),
        total=stored - len(skip) + len(extra),
        page=page,
        per_page=per_page,
        members=members,
    )
    return found, [key for key, _ in chosen]


def _stored_among(connection: sa.Connection, base: Any, keys: set[int]) -> set[str]:
    """The identifiers of stored members among ``keys`` (they are answered online)."""
    found: set[str] = set()
    wanted = sorted(keys)
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        found.update(
            r.identifier
            for r in connection.execute(base.where(standing_lists.c.subject_id.in_(chunk)))
        )
    return found


def _evaluated_members(
    connection: sa.Connection,
    applicable: Any,
    among: list[Applicable],
    list_id: str,
    keys: set[int],
    settings: Settings,
    today: dt.date,
    known: int,
) -> list[tuple[str, int, PublicMember]]:
    """The members among ``keys``, evaluated online (read-only), as (identifier, key,
    member)."""
    found = []
    for key in sorted(keys):
        facts = load_subject(connection, key)
        if facts.kind not in applicable.scheme.subjects:
            continue
        evaluated = evaluate_facts(
            facts, applicable, as_of=today, known_at_us=known, explain=True, among=among
        )
        standing = evaluated.standing
        if standing is None or standing.explanation is None or list_id not in standing.lists:
            continue
        dates = standing.explanation["lists"][list_id]
        if not _published(dates["since"], settings, today):
            continue
        found.append(
            (
                facts.identifier,
                key,
                _member(facts.identifier, facts.kind, facts.name, dates["since"], dates["until"]),
            )
        )
    return found


class PublicPages:
    """Pages of public lists kept in memory by a process (the service's worker): a page stays
    valid while the registry's two change counters, its newest policy version and the day are
    unchanged — the same state it was made from — so that one statement (those counters) is all
    a repeated public read costs, and its JSON is made once. Thread-safe; the least recently
    used page goes first."""

    _STATE = (
        "SELECT (SELECT value FROM generation WHERE id = 1), (SELECT value FROM generation WHERE "
        "id = 2), (SELECT max(id) FROM policy_versions)"
    )

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        size: int = 256,
        render: Callable[[PublicPage], bytes] | None = None,
    ) -> None:
        self.store, self.settings, self.size = store, settings, size
        self.render = render or (lambda found: json.dumps(asdict(found)).encode())
        self._pages: OrderedDict[tuple[Any, ...], tuple[PublicPage, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def _key(self, scheme_id: str, list_id: str, page: int, per_page: int) -> tuple[Any, ...]:
        with self.store.reading() as connection:
            ledger_gen, standings_gen, policy = connection.exec_driver_sql(self._STATE).one()
        today = self.settings.today()
        return (ledger_gen, standings_gen, policy, today, scheme_id, list_id, page, per_page)

    def cached(
        self, scheme_id: str, list_id: str, *, page: int = 1, per_page: int = 100
    ) -> tuple[PublicPage, bytes] | None:
        """The page and its JSON if the registry is as it was when it was made (one statement),
        else None."""
        key = self._key(scheme_id, list_id, page, per_page)
        with self._lock:
            found = self._pages.get(key)
            if found is not None:
                self._pages.move_to_end(key)
                self.hits += 1
            return found

    def get(
        self,
        scheme_id: str,
        list_id: str,
        *,
        page: int = 1,
        per_page: int = 100,
        first: Callable[[], None] | None = None,
    ) -> tuple[PublicPage, bytes]:
        """The page and its JSON, from memory when the registry is as it was; else
        :func:`public_list` (after ``first``, the caller's own checks, which a page from memory
        passed already)."""
        key = self._key(scheme_id, list_id, page, per_page)
        with self._lock:
            found = self._pages.get(key)
            if found is not None:
                self._pages.move_to_end(key)
                self.hits += 1
                return found
        if first is not None:
            first()
        made = public_list(
            self.store, self.settings, scheme_id, list_id, page=page, per_page=per_page
        )
        entry = (made, self.render(made))
        with self._lock:
            self._pages[key] = entry
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return entry
