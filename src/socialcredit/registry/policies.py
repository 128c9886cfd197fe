"""Published policy versions and furnishers.

A published version is never overwritten: publishing the same text again is a no-op, and a
changed scheme must carry a higher ``version``. The catalogue has no version of its own in its
file; the registry numbers its published catalogues 1, 2, 3…

Which scheme version applies to an evaluation at T known at K: the latest version published by
K whose ``effective_from`` is on or before T (a version without ``effective_from`` is in effect
from the start). Schemes are parsed against the latest catalogue published by K.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from socialcredit.errors import Conflict, NotFound, SocialCreditError, UsageError
from socialcredit.policy.changes import compare, refusals
from socialcredit.policy.loader import parse_catalogue, parse_scheme
from socialcredit.policy.model import Catalogue, Scheme
from socialcredit.policy.shipped import shipped_catalogue_text, shipped_scheme_texts
from socialcredit.registry import adminlog
from socialcredit.store.db import Store, lock, now_us
from socialcredit.store.schema import STANDINGS_GENERATION, furnishers, policy_versions, standings

CATALOGUE_ID = "catalogue"
SHIPPED_REASON = "shipped with socialcredit (init)"
FURNISHER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


class RegistryError(SocialCreditError):
    """A registry operation was refused: the message says why and what to do instead."""


class HarsherChange(RegistryError):
    """A new scheme version is harsher than the one in force in a way the law forbids:
    back-dated, retroactive, or without the notice period (policy.changes)."""

    code = "harsher_change"


class NotInForce(RegistryError):
    """A scheme was asked for at a day before its first version takes effect."""


@dataclass(frozen=True)
class Published:
    kind: str  # catalogue | scheme
    policy_id: str
    version: int
    new: bool  # False: this exact text was already published


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=64)
def _parse_catalogue_cached(text: str, source: str) -> Catalogue:
    return parse_catalogue(text, source=source)


@lru_cache(maxsize=256)
def _parse_scheme_cached(text: str, source: str, catalogue_text: str) -> Scheme:
    catalogue = _parse_catalogue_cached(catalogue_text, "published catalogue")
    return parse_scheme(text, catalogue=catalogue, source=source)


def _latest(
    connection: sa.Connection, kind: str, policy_id: str, known_us: int | None = None
) -> Any:
    query = (
        sa.select(policy_versions.c.version, policy_versions.c.digest, policy_versions.c.source)
        .where(policy_versions.c.kind == kind, policy_versions.c.policy_id == policy_id)
        .order_by(policy_versions.c.version.desc())
        .limit(1)
    )
    if known_us is not None:
        query = query.where(policy_versions.c.published_us <= known_us)
    return connection.execute(query).first()


def catalogue_text(connection: sa.Connection, known_us: int | None = None) -> str:
    """The text of the latest catalogue published by ``known_us`` (default: ever)."""
    row = _latest(connection, "catalogue", CATALOGUE_ID, known_us)
    if row is None:
        raise RegistryError("no catalogue is published yet: run `socialcredit init`")
    return str(row.source)


def catalogue_at(connection: sa.Connection, known_us: int | None = None) -> Catalogue:
    return _parse_catalogue_cached(catalogue_text(connection, known_us), "published catalogue")


def publish_catalogue(
    connection: sa.Connection,
    text: str,
    *,
    source: str,
    by: str = "socialcredit",
    reason: str = SHIPPED_REASON,
) -> Published:
    catalogue = parse_catalogue(text, source=source)  # validates: guardrails, grounds
    latest = _latest(connection, "catalogue", CATALOGUE_ID)
    if latest is not None and latest.digest == _digest(text):
        return Published("catalogue", CATALOGUE_ID, latest.version, new=False)
    # Every published scheme must still hold under the new catalogue.
    for scheme_id in scheme_ids(connection):
        row = _latest(connection, "scheme", scheme_id)
        assert row is not None
        try:
            parse_scheme(
                row.source,
                catalogue=catalogue,
                source=f"published scheme {scheme_id}",
            )
        except SocialCreditError as error:
            raise RegistryError(
                f"{source}: published scheme {scheme_id} version {row.version} would no longer "
                f"be valid under this catalogue:\n{error}"
            ) from None
    version = 1 if latest is None else latest.version + 1
    _insert(connection, "catalogue", CATALOGUE_ID, version, None, text, by, reason)
    return Published("catalogue", CATALOGUE_ID, version, new=True)


def publish_scheme(
    connection: sa.Connection,
    text: str,
    *,
    source: str,
    by: str = "socialcredit",
    today: dt.date | None = None,
    notice_days: int = 30,
    reason: str = SHIPPED_REASON,
    impact: dict[str, Any] | None = None,
) -> Published:
    """Publish a scheme version (validated; the same text again is a no-op). ``today``: the
    registry's day of publication. A version after the first is compared with the latest
    published (:mod:`socialcredit.policy.changes`): back-dated harshness, harsher rules or
    lists reaching past conduct, and harsher bands, measures or populations with less than
    ``notice_days`` of notice are refused, each with its fix."""
    catalogue = catalogue_at(connection)
    scheme = parse_scheme(text, catalogue=catalogue, source=source)
    existing = connection.execute(
        sa.select(policy_versions.c.digest).where(
            policy_versions.c.kind == "scheme",
            policy_versions.c.policy_id == scheme.id,
            policy_versions.c.version == scheme.version,
        )
    ).first()
    if existing is not None:
        if existing.digest == _digest(text):
            return Published("scheme", scheme.id, scheme.version, new=False)
        latest = _latest(connection, "scheme", scheme.id)
        assert latest is not None
        raise Conflict(
            f"{source}: scheme {scheme.id} version {scheme.version} is already published with "
            f"different content; a published version is never changed: publish this text as "
            f"version {latest.version + 1}"
        )
    latest = _latest(connection, "scheme", scheme.id)
    if latest is not None and scheme.version < latest.version:
        raise Conflict(
            f"{source}: scheme {scheme.id} is already at version {latest.version}; a new "
            f"version must be higher (use {latest.version + 1})"
        )
    changed: list[str] | None = None
    previous = latest_scheme(connection, scheme.id)
    if previous is not None:
        day = today or dt.date.today()
        found = compare(previous, scheme)
        changed = [str(change) for change in found]
        refused = refusals(found, scheme, published_on=day, notice_days=notice_days)
        if refused:
            raise HarsherChange(
                f"{source}: scheme {scheme.id} version {scheme.version} is harsher than version "
                f"{previous.version} in ways that may not be published:\n"
                + "\n".join(f"  - {line}" for line in refused)
            )
    if scheme.bars:  # before the admin log's lock: the derived state's comes first
        _bring_forward(connection, scheme, today)
    _insert(
        connection,
        "scheme",
        scheme.id,
        scheme.version,
        scheme.effective_from,
        text,
        by,
        reason,
        changed,
        impact,
    )
    return Published("scheme", scheme.id, scheme.version, new=True)


def latest_scheme(connection: sa.Connection, scheme_id: str) -> Scheme | None:
    """The latest published version of a scheme (what a new version is compared with), None
    before its first."""
    latest = _latest(connection, "scheme", scheme_id)
    if latest is None:
        return None
    return _parse_scheme_cached(
        latest.source,
        f"published scheme {scheme_id} version {latest.version}",
        catalogue_text(connection),
    )


def _bring_forward(connection: sa.Connection, scheme: Scheme, today: dt.date | None) -> None:
    """Rule 14: from its effective day a new version of a scheme with a black list may change
    who is barred from the red lists and incentives of the schemes that reward; their stored
    current standings hold at most until that day (freshness then sends them online, and the
    upkeep rewrites them). Takes the derived state's lock: the caller's transaction must be
    free to (``store.writing("standings", "admin_log")``)."""
    day = scheme.effective_from or today or dt.date.today()
    catalogue = catalogue_text(connection)
    rewarding = []
    for sid in scheme_ids(connection):
        if sid == scheme.id:
            continue
        versions = connection.execute(
            sa.select(policy_versions.c.version, policy_versions.c.source).where(
                policy_versions.c.kind == "scheme", policy_versions.c.policy_id == sid
            )
        ).all()
        if any(
            _parse_scheme_cached(
                v.source, f"published scheme {sid} version {v.version}", catalogue
            ).rewards
            for v in versions
        ):
            rewarding.append(sid)
    if not rewarding:
        return
    lock(connection, "standings")
    connection.execute(
        standings.update()
        .where(
            standings.c.scheme_id.in_(rewarding),
            sa.or_(standings.c.holds_until.is_(None), standings.c.holds_until > day),
        )
        .values(holds_until=day)
    )
    Store.raise_generation(connection, STANDINGS_GENERATION)


def _insert(
    connection: sa.Connection,
    kind: str,
    policy_id: str,
    version: int,
    effective_from: dt.date | None,
    text: str,
    by: str,
    reason: str,
    changes: list[str] | None = None,
    impact: dict[str, Any] | None = None,
) -> None:
    """A new policy version — who published it, why, and what it changed — and its entry in
    the admin log (the same transaction)."""
    if not reason.strip():
        raise UsageError(
            "a reason is required to publish a policy version (why it is published)",
            field="reason",
        )
    inserted = connection.execute(
        policy_versions.insert().values(
            kind=kind,
            policy_id=policy_id,
            version=version,
            effective_from=effective_from,
            published_us=now_us(),
            digest=_digest(text),
            source=text,
            published_by=by,
            reason=reason.strip(),
            changes=None if changes is None else json.dumps(changes, ensure_ascii=False),
            impact=None if impact is None else json.dumps(impact, ensure_ascii=False),
        )
    ).inserted_primary_key
    assert inserted is not None
    adminlog.record(
        connection, actor=by, action=f"{kind}.published", kind="policy", key=inserted[0]
    )


def policy_kind(text: str, source: str) -> str:
    """'catalogue' or 'scheme', from the document's top-level keys."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsageError(f"{source}: not YAML: {error}") from None
    if isinstance(doc, dict) and "codes" in doc:
        return "catalogue"
    if isinstance(doc, dict) and "id" in doc:
        return "scheme"
    raise UsageError(
        f"{source}: neither a catalogue (top-level 'codes') nor a scheme (top-level 'id')"
    )


def publish_file(
    connection: sa.Connection,
    path: Path,
    *,
    by: str = "socialcredit",
    today: dt.date | None = None,
    notice_days: int = 30,
    reason: str = SHIPPED_REASON,
    impact: dict[str, Any] | None = None,
) -> Published:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    source = str(path)
    if policy_kind(text, source) == "catalogue":
        return publish_catalogue(connection, text, source=source, by=by, reason=reason)
    return publish_scheme(
        connection,
        text,
        source=source,
        by=by,
        today=today,
        notice_days=notice_days,
        reason=reason,
        impact=impact,
    )


def publish_shipped(connection: sa.Connection, today: dt.date | None = None) -> list[Published]:
    """The shipped catalogue and schemes, for `init`; already published texts are no-ops."""
    results = [
        publish_catalogue(
            connection,
            shipped_catalogue_text(),
            source="shipped:catalogue.yaml",
        )
    ]
    for scheme_id, text in shipped_scheme_texts().items():
        results.append(
            publish_scheme(
                connection,
                text,
                source=f"shipped:{scheme_id}.yaml",
                today=today,
            )
        )
    return results


def scheme_ids(connection: sa.Connection, known_us: int | None = None) -> list[str]:
    query = (
        sa.select(policy_versions.c.policy_id).distinct().where(policy_versions.c.kind == "scheme")
    )
    if known_us is not None:
        query = query.where(policy_versions.c.published_us <= known_us)
    return sorted(connection.scalars(query))


@dataclass(frozen=True)
class Applicable:
    """The scheme version in force at T known at K, and when a later version takes over."""

    scheme: Scheme
    next_effective: dt.date | None


def companions(applicable: Applicable, among: Iterable[Applicable]) -> list[Applicable]:
    """Rule 14 in the registry: the other schemes in force (of ``among``) whose black lists
    bar a subject from this scheme's red lists and incentives — none when it has neither. A
    standing under the scheme holds only until the first change under any of them, too."""
    if not applicable.scheme.rewards:
        return []
    mine = applicable.scheme.id
    return sorted(
        (a for a in among if a.scheme.id != mine and a.scheme.bars), key=lambda a: a.scheme.id
    )


def scheme_at(
    connection: sa.Connection,
    scheme_id: str,
    *,
    as_of: dt.date,
    known_us: int,
) -> Applicable:
    rows = connection.execute(
        sa.select(
            policy_versions.c.version, policy_versions.c.effective_from, policy_versions.c.source
        )
        .where(
            policy_versions.c.kind == "scheme",
            policy_versions.c.policy_id == scheme_id,
            policy_versions.c.published_us <= known_us,
        )
        .order_by(policy_versions.c.version.desc())
    ).all()
    if not rows:
        known = ", ".join(scheme_ids(connection)) or "none"
        raise NotFound(f"no scheme {scheme_id!r} was published by then; published schemes: {known}")
    in_force = [r for r in rows if r.effective_from is None or r.effective_from <= as_of]
    if not in_force:
        raise NotInForce(
            f"scheme {scheme_id!r} has no version in effect on {as_of.isoformat()}; the earliest "
            f"takes effect on {min(r.effective_from for r in rows).isoformat()}"
        )
    chosen = in_force[0]
    later = [
        r.effective_from
        for r in rows
        if r.version > chosen.version and r.effective_from is not None
    ]
    scheme = _parse_scheme_cached(
        chosen.source,
        f"published scheme {scheme_id} version {chosen.version}",
        catalogue_text(connection, known_us),
    )
    return Applicable(scheme, min(later) if later else None)


# -- furnishers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Furnisher:
    id: str
    name: str
    codes: tuple[str, ...]


def schemes_in_force(
    connection: sa.Connection, *, as_of: dt.date, known_us: int
) -> list[Applicable]:
    """Every published scheme with a version in force at T as known at K, in that version, by
    id (a scheme whose first version takes effect after T is not in force yet)."""
    found = []
    for sid in scheme_ids(connection, known_us):
        try:
            found.append(scheme_at(connection, sid, as_of=as_of, known_us=known_us))
        except NotInForce:
            continue
    return found


def add_furnisher(
    connection: sa.Connection,
    furnisher_id: str,
    name: str,
    codes: list[str],
    *,
    update: bool,
    by: str = "socialcredit",
) -> tuple[Furnisher, str]:
    """Register a furnisher with the codes it may furnish; (furnisher, 'added'|'unchanged'|
    'updated')."""
    if not FURNISHER_ID.match(furnisher_id):
        raise UsageError(
            f"furnisher id {furnisher_id!r}: use lower-case letters, digits, '.', '_' or '-' "
            "(at most 100), starting with a letter or digit"
        )
    if not name.strip():
        raise UsageError("name must not be empty", field="name")
    catalogue = catalogue_at(connection)
    wanted = sorted({c.strip() for c in codes if c.strip()})
    if not wanted:
        raise UsageError("codes must name at least one catalogue code", field="codes")
    unknown = [c for c in wanted if c not in catalogue.codes]
    if unknown:
        raise UsageError(
            f"not in the published catalogue: {', '.join(unknown)} "
            "(see `socialcredit policy list` for the codes)"
        )
    furnisher = Furnisher(furnisher_id, name.strip(), tuple(wanted))
    existing = get_furnisher(connection, furnisher_id)
    values = {"name": furnisher.name, "codes": json.dumps(wanted)}
    if existing is None:
        connection.execute(furnishers.insert().values(id=furnisher_id, added_us=now_us(), **values))
        adminlog.record(
            connection, actor=by, action="furnisher.added", kind="furnisher", key=furnisher_id
        )
        return furnisher, "added"
    if existing == furnisher:
        return furnisher, "unchanged"
    if not update:
        raise Conflict(
            f"furnisher {furnisher_id} is registered as {existing.name!r} with codes "
            f"{', '.join(existing.codes)}; pass --update to change it"
        )
    connection.execute(furnishers.update().where(furnishers.c.id == furnisher_id).values(**values))
    adminlog.record(
        connection, actor=by, action="furnisher.updated", kind="furnisher", key=furnisher_id
    )
    return furnisher, "updated"


def get_furnisher(connection: sa.Connection, furnisher_id: str) -> Furnisher | None:
    row = connection.execute(
        sa.select(furnishers.c.name, furnishers.c.codes).where(furnishers.c.id == furnisher_id)
    ).first()
    if row is None:
        return None
    return Furnisher(furnisher_id, row.name, tuple(json.loads(row.codes)))


def require_furnisher(connection: sa.Connection, furnisher_id: str) -> Furnisher:
    furnisher = get_furnisher(connection, furnisher_id)
    if furnisher is None:
        raise NotFound(
            f"furnisher {furnisher_id!r} is not registered: add it with "
            f"`socialcredit furnisher add {furnisher_id} --name NAME --codes CODE,...`"
        )
    return furnisher


def list_furnishers(connection: sa.Connection) -> list[Furnisher]:
    rows = connection.execute(sa.select(furnishers).order_by(furnishers.c.id)).all()
    return [Furnisher(r.id, r.name, tuple(json.loads(r.codes))) for r in rows]


@dataclass(frozen=True)
class BatchSummary:
    id: int
    furnisher: str
    kind: str
    file: str
    received_us: int
    rows_read: int
    accepted: int
    noop: int
    rejected: int

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.rows_read if self.rows_read else 0.0


def list_batches(
    connection: sa.Connection, *, furnisher_id: str | None = None, limit: int = 50
) -> list[BatchSummary]:
    """The latest batches, newest first, optionally of one furnisher."""
    from socialcredit.store.schema import batches

    query = sa.select(batches).order_by(batches.c.id.desc()).limit(limit)
    if furnisher_id is not None:
        query = query.where(batches.c.furnisher == furnisher_id)
    return [
        BatchSummary(
            int(r.id),
            r.furnisher,
            r.kind,
            r.file_name,
            int(r.received_us),
            int(r.rows_read),
            int(r.accepted),
            int(r.noop),
            int(r.rejected),
        )
        for r in connection.execute(query)
    ]
