"""The public lists as FollowTheMoney entities (issue #16 part 2): what screening tools —
OpenSanctions' yente, nomenklatura, Aleph — read.

``socialcredit export ftm --out FILE [--scheme ID]`` writes, for every public black list of
the schemes in force today (or of one scheme), one JSON object per line (FtM's own
serialisation, ``EntityProxy.to_dict``):

- each listed **organisation** once, as a ``Company`` (a Unified Social Credit Code issued by
  the market regulator, registration department ``9``) or an ``Organization`` (the other
  registration departments): ``name``, ``registrationNumber`` (always: the code as the
  registry holds it), ``uscCode`` (when FtM's own check accepts it: FtM drops a code it deems
  invalid, and the export counts those), ``country``/``jurisdiction`` ``cn``, ``topics``
  ``reg.action``, and ``sourceUrl``, its public page;
- each listed **person** once, as a ``Person`` with only what the public list shows of them:
  the masked name, no identifier at all (not even masked). Its id is the registry's internal
  subject number (``sc-person-N``), never derived from the identifier, stable across exports;
  it links a person's entries on this registry's public lists to each other;
- one ``Sanction`` per listing: ``entity``; ``program`` (the list's title) and ``programId``
  (``SCHEME/LIST``), ``programUrl`` (the list's public page); ``provisions``, the measures the
  listing triggers, each with its agency; ``summary``, the list's legal basis; ``startDate``
  and ``listingDate``, the day the listing began; ``endDate``, the last day it holds (FtM dates
  are inclusive: the registry's exclusive end less one day); ``country`` ``cn``. For an
  organisation also the published records behind it: ``reason`` (each record's title and
  legal basis), ``authority`` (the furnishers that decided them) and ``authorityId`` (the
  records' ids); for a person none of them (they are not public).

Red lists are left out: FtM has no schema for an honour, and a ``Sanction`` would say the
opposite of what a red list means.

Every value is added through FtM, which cleans values and silently drops those it cannot
read; the writer checks each value it added is there afterwards and stops, naming the entity,
property and value, when one is not (only ``uscCode`` may be dropped, and is counted). Ids are
stable: ``sc-org-CODE``, ``sc-person-N``, and ``ENTITY.SCHEME.LIST`` for a sanction.

The lists are read a page at a time (registry.publication.public_list_keyed: stored current
standings, stale or pending subjects evaluated online). If the ledger or the standings change
while the file is written, it is written again from the start (three times at most) so that
it shows one state of the registry. The file appears complete or not at all (written beside
it, then renamed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from followthemoney import model
from followthemoney.proxy import EntityProxy

from socialcredit.errors import Conflict, NotFound
from socialcredit.policy.model import CodeList, Scheme
from socialcredit.registry.policies import schemes_in_force
from socialcredit.registry.publication import (
    MAX_PER_PAGE,
    PublicRecord,
    public_list_keyed,
    public_view,
)
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import furnishers

TOPIC = "reg.action"  # FtM: "Regulatory action"
ATTEMPTS = 3


@dataclass(frozen=True)
class FtmExport:
    path: Path
    on: str
    lists: int
    organisations: int
    persons: int
    sanctions: int
    usc_dropped: int  # organisations whose code FtM's check refused (kept in registrationNumber)


class Dropped(Exception):
    """FtM dropped a value the registry meant to write."""


def _put(entity: EntityProxy, prop: str, value: str | None, *, may_drop: bool = False) -> bool:
    """Add a value and make sure FtM kept it (its cleaned form). False: dropped, where that is
    allowed; else :class:`Dropped`."""
    if value is None or value == "":
        return True
    if entity.unsafe_add(entity.schema.properties[prop], value) is not None:
        return True
    if may_drop:
        return False
    raise Dropped(f"FtM dropped {entity.schema.name} {entity.id} {prop}={value!r}")


def _exclusive_to_last(day: str | None) -> str | None:
    if day is None:
        return None
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


def _organisation(identifier: str, name: str | None, url: str) -> tuple[EntityProxy, bool]:
    schema = "Company" if identifier.startswith("9") else "Organization"
    entity = model.make_entity(schema)
    entity.id = f"sc-org-{identifier}"
    _put(entity, "name", name)
    _put(entity, "registrationNumber", identifier)
    kept = _put(entity, "uscCode", identifier, may_drop=True)
    _put(entity, "country", "cn")
    _put(entity, "jurisdiction", "cn")
    _put(entity, "topics", TOPIC)
    _put(entity, "sourceUrl", url)
    return entity, kept


def _person(key: int, masked_name: str | None) -> EntityProxy:
    entity = model.make_entity("Person")
    entity.id = f"sc-person-{key}"
    _put(entity, "name", masked_name)
    _put(entity, "country", "cn")
    _put(entity, "topics", TOPIC)
    return entity


def _sanction(
    entity: EntityProxy,
    scheme: Scheme,
    lst: Any,
    listing: tuple[str | None, str | None, str],
    records: list[PublicRecord],
    furnisher_names: dict[str, str],
) -> EntityProxy:
    since, until, list_url = listing
    sanction = model.make_entity("Sanction")
    sanction.id = f"{entity.id}.{scheme.id}.{lst.id}"
    _put(sanction, "entity", entity.id)
    _put(sanction, "program", lst.title)
    _put(sanction, "programId", f"{scheme.id}/{lst.id}")
    _put(sanction, "programUrl", list_url)
    _put(sanction, "summary", f"Legal basis: {lst.legal_basis}")
    for measure in scheme.measures:
        if lst.id in measure.lists:
            _put(sanction, "provisions", f"{measure.title} ({measure.agency})")
    _put(sanction, "startDate", since)
    _put(sanction, "listingDate", since)
    _put(sanction, "endDate", _exclusive_to_last(until))
    _put(sanction, "country", "cn")
    for record in records:
        _put(sanction, "reason", f"{record.title} ({record.legal_basis})")
        _put(sanction, "authority", furnisher_names.get(record.furnisher, record.furnisher))
        _put(sanction, "authorityId", record.record_id)
    return sanction


def registry_state(store: Store) -> tuple[Any, ...]:
    with store.reading() as connection:
        return tuple(
            connection.exec_driver_sql(
                "SELECT (SELECT value FROM generation WHERE id = 1), "
                "(SELECT value FROM generation WHERE id = 2), (SELECT max(id) FROM policy_versions)"
            ).one()
        )


def black_lists(
    store: Store, settings: Settings, scheme_id: str | None
) -> list[tuple[Scheme, Any]]:
    with store.reading() as connection:
        in_force = schemes_in_force(connection, as_of=settings.today(), known_us=now_us())
    chosen = [a.scheme for a in in_force if scheme_id is None or a.scheme.id == scheme_id]
    if scheme_id is not None and not chosen:
        raise NotFound(f"no scheme {scheme_id!r} is in force")
    return [(s, lst) for s in chosen for lst in s.lists if lst.public and lst.kind == "black"]


def _members(
    store: Store, settings: Settings, scheme: Scheme, lst: Any
) -> Iterator[tuple[int, Any]]:
    page = 1
    while True:
        found, keys = public_list_keyed(
            store, settings, scheme.id, lst.id, page=page, per_page=MAX_PER_PAGE
        )
        yield from zip(keys, found.members, strict=True)
        if page >= found.pages:
            return
        page += 1


@dataclass(frozen=True)
class Emitted:
    """One entity of the public lists, in the order the export writes them: a subject the
    first time it appears, then each of its listings' ``Sanction``."""

    entity: EntityProxy
    kind: str  # "organisation", "person" or "sanction"
    subject_key: int  # the listed subject's number in the store (a person's audit key)
    identifier: str | None = None  # an organisation's code (persons: never)
    agencies: frozenset[str] = frozenset()  # a sanction's: the agencies of its measures
    usc_dropped: bool = False  # an organisation whose code FtM's check refused


def public_entities(
    store: Store,
    settings: Settings,
    lists: list[tuple[Scheme, Any]],
    progress: Callable[[str], None] | None = None,
) -> Iterator[Emitted]:
    """The public black lists as FtM entities (see the module's doc): what ``export ftm``
    writes and what the screening API (registry.screening) matches against."""
    base = settings.public_url.rstrip("/")
    with store.reading() as connection:
        names = dict(connection.execute(sa.select(furnishers.c.id, furnishers.c.name)).all())
    written: set[str] = set()
    views: dict[str, Any] = {}
    for scheme, lst in lists:
        if progress is not None:
            progress(f"{scheme.id}/{lst.id}")
        list_url = f"{base}/public/lists/{scheme.id}/{lst.id}"
        agencies = frozenset(m.agency for m in scheme.measures if lst.id in m.lists)
        for key, member in _members(store, settings, scheme, lst):
            records: list[PublicRecord] = []
            if member.kind == "person":
                entity = _person(key, member.name)
                emitted = Emitted(entity, "person", key)
            else:
                if member.identifier not in views:
                    views[member.identifier] = public_view(store, settings, member.identifier)
                view = views[member.identifier]
                url = f"{base}/public/subjects/{member.identifier}"
                entity, kept = _organisation(member.identifier, member.name, url)
                emitted = Emitted(
                    entity, "organisation", key, member.identifier, usc_dropped=not kept
                )
                codes = set(lst.codes) if isinstance(lst, CodeList) else set()
                records = [r for r in view.records if r.code in codes]
            if entity.id not in written:
                written.add(str(entity.id))
                yield emitted
            listing = (member.since, member.until, list_url)
            sanction = _sanction(entity, scheme, lst, listing, records, names)
            yield Emitted(sanction, "sanction", key, emitted.identifier, agencies)


def _write(
    store: Store,
    settings: Settings,
    lists: list[tuple[Scheme, Any]],
    handle: Any,
    progress: Callable[[str], None] | None,
) -> FtmExport:
    counts = {"organisation": 0, "person": 0, "sanction": 0, "usc_dropped": 0}
    for emitted in public_entities(store, settings, lists, progress):
        data = emitted.entity.to_dict()
        handle.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
        counts[emitted.kind] += 1
        counts["usc_dropped"] += emitted.usc_dropped
    return FtmExport(
        path=Path(handle.name),
        on=settings.today().isoformat(),
        lists=len(lists),
        organisations=counts["organisation"],
        persons=counts["person"],
        sanctions=counts["sanction"],
        usc_dropped=counts["usc_dropped"],
    )


def export_ftm(
    store: Store,
    settings: Settings,
    out: Path,
    *,
    scheme_id: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> FtmExport:
    """Write the public black lists to ``out`` as FtM entities (see the module's doc)."""
    lists = black_lists(store, settings, scheme_id)
    partial = out.with_name(f".{out.name}.partial")
    for _ in range(ATTEMPTS):
        before = registry_state(store)
        with partial.open("w", encoding="utf-8") as handle:
            done = _write(store, settings, lists, handle, progress)
        if registry_state(store) == before:
            os.replace(partial, out)
            return dataclasses.replace(done, path=out)
    partial.unlink(missing_ok=True)
    raise Conflict(
        f"the registry changed while the lists were written, {ATTEMPTS} times: run the export "
        "again when it is quieter"
    )
