"""Information sharing between registries (issue #16 part 1): peers, agreements, and signed
delta files with provenance.

**Peers** (``socialcredit peer add``): another registry, its Ed25519 public key and address.
**Agreements** (``socialcredit agreement add FILE``): versioned YAML with a legal basis, saying
which catalogue codes this registry sends to the peer and accepts from it — separately for
organisations and for persons, and persons' data only where the agreement names a legal basis
for it (the platform keeps legal entities and individuals on separate channels). Both are
admin-logged: ``verify`` finds a swapped key or an edited agreement.

**Export** (``socialcredit exchange export --peer ID --out FILE [--since CURSOR]``): the ledger
entries after the cursor (by default the end of the last file made for the peer) that the
agreement in force lets this registry send — records whose code it names for the subject's
kind, and every event on such a record (not an ``erased`` one: each registry erases on its own
clock, from the same facts) — in one ZIP file:

- ``entries.jsonl``: one JSON object per entry (:func:`_entry_json`), with its provenance —
  the registry that first recorded it, its seq and recorded time there, and the furnisher
  there; an entry this registry imported keeps the provenance it came with;
- ``manifest.json``: format and version, from, to, the agreement (id, version, digest), the
  cursor range ``since``/``until`` (ledger seqs), the ledger's head hash, the entry count and
  the SHA-256 of ``entries.jsonl``;
- ``manifest.sig``: the Ed25519 signature of ``manifest.json``'s bytes (base64), made with the
  registry's exchange key (``socialcredit key exchange-init``).

**Import** (``socialcredit exchange import FILE``): the file is refused as a whole, with the
reason, unless it is addressed to this registry, comes from a known peer, its manifest is
signed by that peer's key, ``entries.jsonl`` has the digest and count the manifest says, it
follows on from the last file imported from the peer (a gap, an overlap or an old file is
named; the same file again is a no-op), and every entry is one the agreement lets the peer
send (code and subject kind; persons only under a persons' legal basis), with valid
identifiers, codes and dates, events on records in the file or already here. Then one batch
through the one ledger writer: each entry under the furnisher key ``REGISTRY:FURNISHER`` (the
registry that first recorded it; ``:`` is never in a local furnisher id), its provenance in
the chained v4 fields (origin registry, seq and recorded time, the peer that delivered it). A
record already held with the same content is a no-op, with other content the file is refused;
a record erased here is not brought back (counted); entries first recorded here are not taken
back. Standings update as for any batch.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from socialcredit.errors import Conflict, NotFound, SocialCreditError, UsageError
from socialcredit.identifiers import check
from socialcredit.registry import adminlog
from socialcredit.registry.audit import Reader, record_reads
from socialcredit.registry.ledger import (
    EVENT_ROW,
    RECORD_ROW,
    BatchMeta,
    BatchWriter,
    event_constants,
    head,
    key_digest,
    record_constants,
    rest_text,
)
from socialcredit.registry.policies import FURNISHER_ID, catalogue_at
from socialcredit.registry.standings.current import write_current
from socialcredit.registry.standings.upkeep import catch_up
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import (
    agreements,
    erasures,
    exchanges,
    furnishers,
    ledger,
    peers,
    subjects,
)

FORMAT = "socialcredit-exchange"
VERSION = 1
KINDS = ("organisation", "person")
SECTIONS = {"organisation": "organisations", "person": "persons"}


class Refused(Conflict):
    """An exchange file refused as a whole."""

    code = "refused"


class Unreachable(SocialCreditError):
    """A peer's feed could not be fetched: try again later."""

    status = 503
    code = "unavailable"


# -- the exchange key -----------------------------------------------------------------------------


def init_key(path: Path) -> Path:
    """Create the registry's Ed25519 exchange key at ``path`` (PEM, readable by its owner only)
    and its public key beside it (``PATH.pub``, to give to peers). Refuses to overwrite."""
    if path.exists():
        raise Conflict(f"{path} exists: the registry's exchange key is made once")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private)
    public = path.with_name(path.name + ".pub")
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public


def _private_key(settings: Settings) -> Ed25519PrivateKey:
    path = settings.exchange_key_file
    if path is None or not path.exists():
        raise UsageError(
            "no exchange key: run `socialcredit key exchange-init --out FILE` and set "
            "SOCIALCREDIT_EXCHANGE_KEY_FILE to it"
        )
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} is not an Ed25519 private key")
    return key


def _public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as error:
        raise UsageError(f"not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError("the peer's public key must be an Ed25519 key")
    return key


def _registry_id(settings: Settings) -> str:
    if not settings.registry_id:
        raise UsageError(
            "this registry has no id for exchanges: set SOCIALCREDIT_REGISTRY_ID (lower-case "
            "letters, digits, '.', '_' or '-')"
        )
    return settings.registry_id


# -- peers and agreements ------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    id: str
    name: str
    url: str
    public_key: str


def add_peer(store: Store, peer_id: str, *, name: str, public_key: str, url: str, by: str) -> Peer:
    """Register another registry. Its id is the one it uses for itself (its
    SOCIALCREDIT_REGISTRY_ID); a furnisher row ``peer:ID`` is made for its batches."""
    if not FURNISHER_ID.match(peer_id):
        raise UsageError(
            f"peer id {peer_id!r}: use lower-case letters, digits, '.', '_' or '-' (at most 100)"
        )
    if not name.strip():
        raise UsageError("name must not be empty", field="name")
    _public_key(public_key)
    with store.writing("ledger") as connection:
        if connection.scalar(sa.select(peers.c.id).where(peers.c.id == peer_id)) is not None:
            raise Conflict(f"peer {peer_id} is registered already")
        at = now_us()
        connection.execute(
            peers.insert().values(
                id=peer_id, name=name.strip(), public_key=public_key, url=url, added_us=at
            )
        )
        adminlog.record(connection, actor=by, action="peer.added", kind="peer", key=peer_id)
        _ensure_furnisher(connection, f"peer:{peer_id}", f"{name.strip()} (peer registry)", by)
    return Peer(peer_id, name.strip(), url, public_key)


def _ensure_furnisher(connection: sa.Connection, key: str, name: str, by: str) -> None:
    """A furnisher row for entries that come from elsewhere (it may furnish nothing here)."""
    if connection.scalar(sa.select(furnishers.c.id).where(furnishers.c.id == key)) is None:
        connection.execute(
            furnishers.insert().values(id=key, name=name, codes="[]", added_us=now_us())
        )
        adminlog.record(connection, actor=by, action="furnisher.added", kind="furnisher", key=key)


def _peer(connection: sa.Connection, peer_id: str) -> Peer:
    row = connection.execute(sa.select(peers).where(peers.c.id == peer_id)).first()
    if row is None:
        raise NotFound(f"no peer {peer_id!r}: register it with `socialcredit peer add`")
    return Peer(row.id, row.name, row.url, row.public_key)


@dataclass(frozen=True)
class Agreement:
    id: str
    version: int
    peer: str
    legal_basis: str
    persons_basis: str | None
    send: dict[str, frozenset[str]]  # kind -> codes
    receive: dict[str, frozenset[str]]
    digest: str


def parse_agreement(text: str, codes: dict[str, Any], *, source: str = "<agreement>") -> Agreement:
    """Read an agreement; every problem is named. ``codes``: the catalogue's codes (each code
    must be in it and apply to the kind it is listed under)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsageError(f"{source}: not YAML: {error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}: an agreement is a mapping")
    problems: list[str] = []
    known = {"id", "peer", "legal_basis", "organisations", "persons", "description"}
    problems += [f"unknown field {k!r}" for k in sorted(set(data) - known)]
    for name in ("id", "peer", "legal_basis"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            problems.append(f"{name} is required (text)")
    send: dict[str, frozenset[str]] = {}
    receive: dict[str, frozenset[str]] = {}
    persons_basis = None
    for kind in KINDS:
        section = data.get(SECTIONS[kind]) or {}
        if not isinstance(section, dict):
            problems.append(f"{SECTIONS[kind]} is a mapping (send, receive)")
            section = {}
        allowed = {"send", "receive"} | ({"legal_basis"} if kind == "person" else set())
        problems += [
            f"{SECTIONS[kind]}: unknown field {k!r}" for k in sorted(set(section) - allowed)
        ]
        for direction, into in (("send", send), ("receive", receive)):
            listed = section.get(direction) or []
            if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
                problems.append(f"{SECTIONS[kind]}.{direction} is a list of codes")
                listed = []
            for code in listed:
                found = codes.get(code)
                if found is None:
                    problems.append(
                        f"{SECTIONS[kind]}.{direction}: {code!r} is not in the catalogue"
                    )
                elif kind not in found.subjects:
                    problems.append(
                        f"{SECTIONS[kind]}.{direction}: {code} does not apply to {kind}s"
                    )
            into[kind] = frozenset(listed)
        if kind == "person" and (send["person"] or receive["person"]):
            persons_basis = section.get("legal_basis")
            if not isinstance(persons_basis, str) or not persons_basis.strip():
                problems.append(
                    "persons.legal_basis is required to share persons' data: the instrument "
                    "that allows it"
                )
    if problems:
        raise UsageError(f"{source}: " + "; ".join(problems))
    return Agreement(
        id=data["id"].strip(),
        version=0,
        peer=data["peer"].strip(),
        legal_basis=data["legal_basis"].strip(),
        persons_basis=persons_basis.strip() if persons_basis else None,
        send=send,
        receive=receive,
        digest=hashlib.sha256(text.encode()).hexdigest(),
    )


def add_agreement(store: Store, text: str, *, by: str, source: str = "<agreement>") -> Agreement:
    """Publish an agreement's next version (the same text again is a no-op)."""
    with store.writing("ledger") as connection:
        parsed = parse_agreement(text, catalogue_at(connection).codes, source=source)
        _peer(connection, parsed.peer)
        latest = connection.execute(
            sa.select(agreements.c.id, agreements.c.version, agreements.c.digest)
            .where(agreements.c.agreement_id == parsed.id)
            .order_by(agreements.c.version.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.digest == parsed.digest:
            return _as_version(parsed, int(latest.version))
        version = 1 if latest is None else int(latest.version) + 1
        row = connection.execute(
            agreements.insert().values(
                agreement_id=parsed.id,
                version=version,
                peer=parsed.peer,
                published_us=now_us(),
                published_by=by,
                digest=parsed.digest,
                source=text,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        adminlog.record(connection, actor=by, action="agreement.added", kind="agreement", key=row)
    return _as_version(parsed, version)


def _as_version(parsed: Agreement, version: int) -> Agreement:
    return dataclasses.replace(parsed, version=version)


def agreement_with(connection: sa.Connection, peer_id: str) -> Agreement:
    """The newest version of the newest agreement with a peer."""
    row = connection.execute(
        sa.select(agreements)
        .where(agreements.c.peer == peer_id)
        .order_by(agreements.c.published_us.desc(), agreements.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound(f"no agreement with peer {peer_id}: publish one with `agreement add`")
    parsed = parse_agreement(row.source, catalogue_at(connection).codes, source=row.agreement_id)
    return _as_version(parsed, int(row.version))


# -- export --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    path: Path
    peer: str
    since: int
    until: int
    records: int
    events: int
    digest: str


def _origin_key(furnisher: str) -> tuple[str | None, str]:
    """A ledger furnisher key as (origin registry, furnisher there): local ids have none."""
    if ":" in furnisher:
        registry, name = furnisher.split(":", 1)
        return registry, name
    return None, furnisher


def _entry_json(row: Any, own: str, record_kinds: dict[int, str]) -> dict[str, Any]:
    registry, furnisher = _origin_key(str(row.furnisher))
    origin = {
        "registry": row.origin_registry or own,
        "seq": int(row.origin_seq if row.origin_seq is not None else row.seq),
        "recorded_us": int(
            row.origin_recorded_us if row.origin_recorded_us is not None else row.recorded_us
        ),
    }
    return {
        "seq": int(row.seq),
        "entry": row.entry,
        "record_registry": registry or own,
        "furnisher": furnisher,
        "furnisher_name": row.furnisher_name,
        "record_id": row.record_id,
        "subject": row.identifier,
        "subject_kind": record_kinds.get(_record_of(row)),
        "subject_name": row.name,
        "subject_region": row.region,
        "code": row.code,
        "occurred_on": _day(row.occurred_on),
        "decided_on": _day(row.decided_on),
        "amount": row.amount,
        "event": row.event,
        "event_date": _day(row.event_date),
        "origin": origin,
    }


def _record_of(row: Any) -> int:
    return int(row.seq if row.entry == "record" else row.record_seq)


def _day(value: Any) -> str | None:
    return None if value is None else str(value)[:10]


def export_delta(
    store: Store,
    settings: Settings,
    peer_id: str,
    out: Path,
    *,
    reader: Reader,
    since: int | None = None,
) -> Exported:
    """Write the signed delta for a peer (see the module's doc). Each person whose data it
    holds has a read in the access audit ("exchange to PEER"), committed before the file is
    written."""
    by = reader.actor
    own = _registry_id(settings)
    key = _private_key(settings)
    with store.reading() as connection:
        peer = _peer(connection, peer_id)
        agreement = agreement_with(connection, peer.id)
        if since is None:
            since = int(
                connection.scalar(
                    sa.select(sa.func.coalesce(sa.func.max(exchanges.c.until), 0)).where(
                        exchanges.c.peer == peer.id, exchanges.c.direction == "out"
                    )
                )
                or 0
            )
        until, head_hash, _ = head(connection)
        if since < 0 or since > until:
            raise UsageError(f"--since {since}: the ledger has entries 1 to {until}")
        shared = sa.or_(
            *(
                sa.and_(subjects.c.kind == kind, ledger.c.code.in_(sorted(codes)))
                for kind, codes in agreement.send.items()
                if codes
            ),
            sa.false(),
        )
        records = (
            sa.select(ledger.c.seq, subjects.c.kind)
            .join(subjects, subjects.c.id == ledger.c.subject_id)
            .where(ledger.c.entry == "record", ledger.c.subject_id != 0, shared)
        )
        record_kinds = {int(s): str(k) for s, k in connection.execute(records)}
        wanted = sorted(record_kinds)
        columns = (
            ledger.c.seq,
            ledger.c.entry,
            ledger.c.furnisher,
            furnishers.c.name.label("furnisher_name"),
            ledger.c.record_id,
            subjects.c.identifier,
            subjects.c.name,
            subjects.c.region,
            ledger.c.code,
            ledger.c.occurred_on,
            ledger.c.decided_on,
            ledger.c.amount,
            ledger.c.event,
            ledger.c.event_date,
            ledger.c.record_seq,
            ledger.c.recorded_us,
            ledger.c.origin_registry,
            ledger.c.origin_seq,
            ledger.c.origin_recorded_us,
            ledger.c.subject_id,
        )
        rows: list[Any] = []
        for start in range(0, len(wanted), 5000) or [0]:
            chunk = wanted[start : start + 5000]
            rows += connection.execute(
                sa.select(*columns)
                .join(subjects, subjects.c.id == ledger.c.subject_id)
                .outerjoin(furnishers, furnishers.c.id == ledger.c.furnisher)
                .where(
                    ledger.c.seq > since,
                    ledger.c.seq <= until,
                    ledger.c.subject_id != 0,
                    sa.or_(
                        sa.and_(ledger.c.entry == "record", ledger.c.seq.in_(chunk)),
                        sa.and_(
                            ledger.c.entry == "event",
                            ledger.c.event != "erased",
                            ledger.c.record_seq.in_(chunk),
                        ),
                    ),
                )
            ).all()
    rows.sort(key=lambda r: int(r.seq))
    # Entries that came from the peer itself are not sent back to it.
    chosen = [
        (r, entry)
        for r in rows
        for entry in [_entry_json(r, own, record_kinds)]
        if entry["origin"]["registry"] != peer.id
    ]
    lines = [json.dumps(entry, ensure_ascii=False, sort_keys=True) for _, entry in chosen]
    persons = [
        (int(r.subject_id), str(r.identifier))
        for r, _ in chosen
        if record_kinds.get(_record_of(r)) == "person"
    ]
    record_reads(store, reader, persons, f"exchange to {peer.id}")
    payload = ("\n".join(lines) + "\n").encode() if lines else b""
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "from": own,
        "to": peer.id,
        "agreement": {"id": agreement.id, "version": agreement.version, "digest": agreement.digest},
        "since": since,
        "until": until,
        "head": {"seq": until, "hash": head_hash},
        "entries": len(lines),
        "payload": {"name": "entries.jsonl", "sha256": hashlib.sha256(payload).hexdigest()},
        "created_us": now_us(),
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, indent=1).encode()
    signature = base64.b64encode(key.sign(manifest_bytes))
    partial = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", manifest_bytes)
        archive.writestr("manifest.sig", signature)
        archive.writestr("entries.jsonl", payload)
    os.replace(partial, out)
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    with store.writing("ledger") as connection:
        connection.execute(
            exchanges.insert().values(
                peer=peer.id,
                direction="out",
                since=since,
                until=until,
                entries=len(lines),
                digest=digest,
                at_us=now_us(),
                by=by,
            )
        )
    kinds = [entry["entry"] for _, entry in chosen]
    return Exported(out, peer.id, since, until, kinds.count("record"), kinds.count("event"), digest)


# -- import --------------------------------------------------------------------------------------


@dataclass
class Imported:
    peer: str
    since: int
    until: int
    records: int = 0
    events: int = 0
    noop: int = 0
    erased_here: int = 0  # records erased here: not brought back
    own: int = 0  # entries this registry recorded first: not taken back
    repeat: bool = False  # the same file was imported before
    batch_id: int | None = None
    standings: str = ""
    subjects: set[int] = field(default_factory=set)


def _read(path: Path) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {"manifest.json", "manifest.sig", "entries.jsonl"} - names
            if missing:
                raise Refused(
                    f"{path.name}: not an exchange file (no {', '.join(sorted(missing))})"
                )
            manifest_bytes = archive.read("manifest.json")
            signature = archive.read("manifest.sig")
            payload = archive.read("entries.jsonl")
    except (zipfile.BadZipFile, OSError) as error:
        raise Refused(f"{path.name}: not an exchange file ({error})") from None
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError:
        raise Refused(f"{path.name}: its manifest is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise Refused(f"{path.name}: not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise Refused(
            f"{path.name}: format version {manifest.get('version')!r}; this registry reads "
            f"version {VERSION}"
        )
    return manifest, manifest_bytes, signature, payload


def _entries(manifest: dict[str, Any], payload: bytes, name: str) -> list[dict[str, Any]]:
    if hashlib.sha256(payload).hexdigest() != manifest.get("payload", {}).get("sha256"):
        raise Refused(
            f"{name}: entries.jsonl does not have the digest its signed manifest gives: the "
            "file was changed after it was signed"
        )
    try:
        lines = [json.loads(line) for line in payload.decode().splitlines() if line.strip()]
    except ValueError:
        raise Refused(f"{name}: entries.jsonl is not JSON lines") from None
    if len(lines) != manifest.get("entries"):
        raise Refused(f"{name}: {len(lines)} entries, the manifest says {manifest.get('entries')}")
    return lines


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: Any, where: str) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DAY.match(value):
        raise Refused(f"{where}: {value!r} is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Refused(f"{where}: {value!r} is not a date") from None


def import_delta(
    store: Store,
    settings: Settings,
    path: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> Imported:
    """Check an exchange file and append its entries (see the module's doc)."""
    step = progress or (lambda _s: None)
    own = _registry_id(settings)
    manifest, manifest_bytes, signature, payload = _read(path)
    name = path.name
    if manifest.get("to") != own:
        raise Refused(f"{name}: addressed to {manifest.get('to')!r}, this registry is {own!r}")
    sender = str(manifest.get("from"))
    step("checking the signature")
    with store.reading() as connection:
        peer = _peer(connection, sender)
        agreement = agreement_with(connection, peer.id)
        catalogue = catalogue_at(connection)
        last = int(
            connection.scalar(
                sa.select(sa.func.coalesce(sa.func.max(exchanges.c.until), 0)).where(
                    exchanges.c.peer == peer.id, exchanges.c.direction == "in"
                )
            )
            or 0
        )
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    try:
        _public_key(peer.public_key).verify(
            base64.b64decode(signature, validate=True), manifest_bytes
        )
    except (InvalidSignature, ValueError):
        raise Refused(
            f"{name}: its manifest is not signed by peer {peer.id}'s key (changed in transit, "
            "or signed by another key)"
        ) from None
    lines = _entries(manifest, payload, name)
    since, until = int(manifest["since"]), int(manifest["until"])
    done = Imported(peer.id, since, until)
    with store.reading() as connection:
        seen = connection.scalar(
            sa.select(exchanges.c.id).where(
                exchanges.c.peer == peer.id,
                exchanges.c.direction == "in",
                exchanges.c.digest == digest,
            )
        )
    if seen is not None:
        done.repeat = True
        return done
    if until <= last:
        raise Refused(
            f"{name}: an old file — it covers {peer.id}'s entries {since + 1}-{until}, and "
            f"entries up to {last} were imported already (a replay)"
        )
    if since != last:
        what = "a gap" if since > last else "an overlap"
        raise Refused(
            f"{name}: {what} — the last file from {peer.id} ended at its entry {last}, this one "
            f"starts after entry {since}; ask {peer.id} for `exchange export --since {last}`"
        )
    step("checking the entries against the agreement")
    checked = _check_entries(lines, agreement, catalogue.codes, name, own)
    step("appending")
    _append(store, settings, peer, checked, done, digest, name)
    if done.subjects and not done.standings:
        step("updating standings")
        done.standings = str(catch_up(store, settings))
    return done


def _check_entries(
    lines: list[dict[str, Any]],
    agreement: Agreement,
    codes: dict[str, Any],
    name: str,
    own: str,
) -> list[dict[str, Any]]:
    """Every entry well formed and one the agreement lets the peer send; the file is refused
    naming the first that is not."""
    for number, item in enumerate(lines, start=1):
        where = f"{name} entry {number}"
        if not isinstance(item, dict) or item.get("entry") not in ("record", "event"):
            raise Refused(f"{where}: not a record or an event")
        origin = item.get("origin") or {}
        registry, furnisher = item.get("record_registry"), item.get("furnisher")
        for label, value in (
            ("origin.registry", origin.get("registry")),
            ("record_registry", registry),
            ("furnisher", furnisher),
        ):
            if not isinstance(value, str) or not FURNISHER_ID.match(value):
                raise Refused(f"{where}: {label} {value!r} is not a registry or furnisher id")
        if item["entry"] == "record" and registry != origin["registry"]:
            raise Refused(f"{where}: a record is keyed where it was first recorded")
        if not isinstance(origin.get("seq"), int) or not isinstance(origin.get("recorded_us"), int):
            raise Refused(f"{where}: its origin has no seq and recorded_us")
        record_id = item.get("record_id")
        if not isinstance(record_id, str) or not record_id or record_id.startswith("~"):
            raise Refused(f"{where}: record_id {record_id!r} is not a record id")
        identifier = item.get("subject")
        kind = check(identifier).kind if isinstance(identifier, str) else None
        if kind is None:
            raise Refused(f"{where}: subject {identifier!r} is not a valid identifier")
        # a record first recorded here is under its local key
        ref = (furnisher if registry == own else f"{registry}:{furnisher}", record_id)
        if item["entry"] == "record":
            code = item.get("code")
            if code not in codes:
                raise Refused(f"{where}: code {code!r} is not in this registry's catalogue")
            if code not in agreement.receive[kind]:
                raise Refused(
                    f"{where}: agreement {agreement.id} v{agreement.version} does not let "
                    f"{agreement.peer} send {code} about {kind}s"
                )
            if kind not in codes[code].subjects:
                raise Refused(f"{where}: {code} does not apply to {kind}s")
            item["_occurred"] = _date(item.get("occurred_on"), f"{where} occurred_on")
            if item["_occurred"] is None:
                raise Refused(f"{where}: a record needs occurred_on")
            item["_decided"] = _date(item.get("decided_on"), f"{where} decided_on")
        else:
            if not isinstance(item.get("event"), str) or item["event"] == "erased":
                raise Refused(f"{where}: event {item.get('event')!r} is not an event to share")
            item["_date"] = _date(item.get("event_date"), f"{where} event_date")
        item["_kind"], item["_ref"] = kind, ref
    return lines


PROVENANCE = ("origin_registry", "origin_seq", "origin_recorded_us", "via_peer")


def _held(connection: sa.Connection, refs: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The records already here under these keys."""
    found: dict[tuple[str, str], Any] = {}
    by_furnisher: dict[str, list[str]] = {}
    for furnisher, record_id in refs:
        by_furnisher.setdefault(furnisher, []).append(record_id)
    for furnisher, ids in by_furnisher.items():
        for start in range(0, len(ids), 1000):
            for row in connection.execute(
                sa.select(
                    ledger.c.seq,
                    ledger.c.record_id,
                    ledger.c.code,
                    ledger.c.occurred_on,
                    ledger.c.amount,
                    ledger.c.subject_id,
                ).where(
                    ledger.c.entry == "record",
                    ledger.c.furnisher == furnisher,
                    ledger.c.record_id.in_(ids[start : start + 1000]),
                )
            ):
                found[(furnisher, str(row.record_id))] = row
    return found


def _append(
    store: Store,
    settings: Settings,
    peer: Peer,
    lines: list[dict[str, Any]],
    done: Imported,
    digest: str,
    name: str,
) -> None:
    """One transaction: the file's new entries through the one writer — records first, then
    events, each run under one furnisher key — and the standings they change."""
    own = _registry_id(settings)
    # (the standings' lock before the admin log's, which a new furnisher key takes)
    with store.writing("ledger", "standings") as connection:
        # Entries first recorded here, and a peer's events on records first recorded here (its
        # own decisions on them do not change this registry's records), are not taken.
        def ours(item: dict[str, Any]) -> bool:
            return bool(item["origin"]["registry"] == own or item["record_registry"] == own)

        done.own = sum(1 for item in lines if ours(item))
        lines = [item for item in lines if not ours(item)]
        for key in sorted({item["_ref"][0] for item in lines if ":" in item["_ref"][0]}):
            registry, furnisher = key.split(":", 1)
            named = next(i.get("furnisher_name") for i in lines if i["_ref"][0] == key)
            label = named or furnisher
            if not label.endswith(f"(registry {registry})"):
                label = f"{label} (registry {registry})"
            _ensure_furnisher(connection, key, label, f"peer:{peer.id}")
        keys = _subjects(connection, lines)
        held = _held(connection, {item["_ref"] for item in lines})
        erased = set(
            connection.scalars(
                sa.select(erasures.c.key_digest).where(
                    erasures.c.key_digest.in_(sorted({key_digest(*i["_ref"]) for i in lines}))
                )
            )
        )
        writer = BatchWriter(
            store,
            connection,
            BatchMeta(
                furnisher=f"peer:{peer.id}",
                kind="exchange",
                file_name=name,
                digest=digest,
                rows_read=len(lines),
                accepted=len(lines),
                noop=0,
                rejected=0,
            ),
        )
        seq = writer.last_seq
        new: dict[tuple[str, str], int] = {}
        runs: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        # The order the entries are appended in, which gives them their seqs: records, then
        # events, each in runs under one furnisher key (the order keys first appear).
        first = {k: n for n, k in reversed(list(enumerate(i["_ref"][0] for i in lines)))}
        ordered = sorted(
            lines, key=lambda i: (i["entry"] != "record", first[i["_ref"][0]])
        )  # stable: file order within a run
        for item in ordered:
            entry = item["entry"]
            ref, key = item["_ref"], keys[item["subject"]]
            origin = item["origin"]
            tail = (origin["registry"], origin["seq"], origin["recorded_us"], peer.id)
            if key_digest(*ref) in erased:
                done.erased_here += 1
                continue
            values: dict[str, Any] = {
                "furnisher": ref[0],
                "record_id": ref[1],
                "subject": item["subject"],
                "subject_name": item.get("subject_name"),
                "subject_region": item.get("subject_region"),
            }
            if entry == "record":
                existing = held.get(ref)
                if existing is not None or ref in new:
                    if existing is None or not (
                        existing.code == item["code"]
                        and str(existing.occurred_on)[:10] == item["occurred_on"]
                        and existing.amount == item.get("amount")
                        and int(existing.subject_id) == key
                    ):
                        raise Refused(
                            f"{name}: record {ref[0]}/{ref[1]} is held here with other "
                            "content (or twice in the file)"
                        )
                    done.noop += 1
                    continue
                salt, personal, rest = rest_text(
                    provenance=tail,
                    entry="record",
                    code=item["code"],
                    occurred_on=item["occurred_on"],
                    amount=item.get("amount"),
                    decided_on=item.get("decided_on"),
                    **values,
                )
                seq += 1
                new[ref] = seq
                row: tuple[Any, ...] = (
                    ref[1],
                    key,
                    item["code"],
                    item["_occurred"],
                    item.get("amount"),
                    item["_decided"],
                    salt,
                    personal,
                    *tail,
                    rest,
                )
                done.records += 1
            else:
                record_seq = new.get(ref) or (int(held[ref].seq) if ref in held else None)
                if record_seq is None:
                    raise Refused(
                        f"{name}: an event on record {ref[0]}/{ref[1]}, which is neither "
                        "in the file nor held here"
                    )
                day = item["_date"]
                if ref not in new and connection.scalar(
                    sa.select(ledger.c.seq).where(
                        ledger.c.entry == "event",
                        ledger.c.record_seq == record_seq,
                        ledger.c.event == item["event"],
                        ledger.c.event_date.is_(None)
                        if day is None
                        else ledger.c.event_date == day,
                    )
                ):
                    done.noop += 1
                    continue
                salt, personal, rest = rest_text(
                    provenance=tail,
                    entry="event",
                    event=item["event"],
                    event_date=item.get("event_date"),
                    record_seq=record_seq,
                    **values,
                )
                seq += 1
                row = (ref[1], key, item["event"], day, record_seq, salt, personal, *tail, rest)
                done.events += 1
            runs.setdefault((entry, ref[0]), []).append(row)
            done.subjects.add(key)
        # Appended in the order the seqs were given: records, then events, by furnisher key
        # in the order each first appeared.
        for (entry, furnisher), rows in runs.items():
            if entry == "record":
                writer.append((*RECORD_ROW, *PROVENANCE), record_constants(furnisher), [rows], "v4")
            else:
                writer.append((*EVENT_ROW, *PROVENANCE), event_constants(furnisher), [rows], "v4")
        online = bool(done.subjects) and len(done.subjects) <= settings.online_update_limit
        if online:
            write_current(store, connection, settings, sorted(done.subjects))
            done.standings = f"{len(done.subjects)} subjects' standings updated in the batch"
        appended = writer.close(standings_done=online or not done.subjects)
        done.batch_id = appended.batch_id
        # In the same transaction: the file is imported with its entries, or not at all.
        connection.execute(
            exchanges.insert().values(
                peer=peer.id,
                direction="in",
                since=done.since,
                until=done.until,
                entries=len(lines),
                digest=digest,
                at_us=now_us(),
                by=f"peer:{peer.id}",
                batch_id=done.batch_id,
            )
        )


def _subjects(connection: sa.Connection, lines: list[dict[str, Any]]) -> dict[str, int]:
    """The subject key of every identifier in the file, registering new subjects (with the
    first name and region the file gives)."""
    identifiers = sorted({item["subject"] for item in lines})
    keys: dict[str, int] = {}
    for start in range(0, len(identifiers), 1000):
        chunk = identifiers[start : start + 1000]
        keys.update(
            connection.execute(
                sa.select(subjects.c.identifier, subjects.c.id).where(
                    subjects.c.identifier.in_(chunk)
                )
            ).all()
        )
    fresh = [i for i in identifiers if i not in keys]
    if fresh:
        start = int(
            connection.scalar(sa.select(sa.func.coalesce(sa.func.max(subjects.c.id), 0))) or 0
        )
        first: dict[str, dict[str, Any]] = {}
        for item in lines:
            first.setdefault(item["subject"], item)
        rows = []
        for offset, identifier in enumerate(fresh, start=1):
            item = first[identifier]
            keys[identifier] = start + offset
            rows.append(
                {
                    "id": start + offset,
                    "identifier": identifier,
                    "kind": item["_kind"],
                    "name": item.get("subject_name"),
                    "region": item.get("subject_region"),
                    "first_recorded_us": now_us(),
                }
            )
        connection.execute(subjects.insert(), rows)
    return keys


# -- over HTTP: a peer pulls ---------------------------------------------------------------------


def delta_bytes(
    store: Store, settings: Settings, peer_id: str, *, reader: Reader, since: int | None
) -> tuple[Exported, bytes]:
    """:func:`export_delta` for the feed (``GET /v1/exchange/feed``): the same signed file,
    as bytes."""
    with tempfile.TemporaryDirectory(prefix="socialcredit-feed-") as folder:
        path = Path(folder) / "delta.zip"
        done = export_delta(store, settings, peer_id, path, reader=reader, since=since)
        return done, path.read_bytes()


@dataclass
class Pulled:
    peer: str
    since: int
    until: int
    imported: Imported | None  # None: the peer had nothing after the cursor


def last_imported(store: Store, peer_id: str) -> int:
    """The end of the last file imported from the peer: where the next one must start."""
    with store.reading() as connection:
        peer = _peer(connection, peer_id)
        return int(
            connection.scalar(
                sa.select(sa.func.coalesce(sa.func.max(exchanges.c.until), 0)).where(
                    exchanges.c.peer == peer.id, exchanges.c.direction == "in"
                )
            )
            or 0
        )


def pull(
    store: Store,
    settings: Settings,
    peer_id: str,
    token: str,
    *,
    get: Callable[..., Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Pulled:
    """Fetch the peer's feed after the last file imported from it, with a peer key the peer
    issued to this registry, and import it (every check of :func:`import_delta`). ``get`` is
    an HTTP GET like ``httpx.get`` (tests pass an in-process client's)."""
    with store.reading() as connection:
        peer = _peer(connection, peer_id)
    since = last_imported(store, peer.id)
    url = f"{peer.url.rstrip('/')}/v1/exchange/feed"
    fetch = get or functools.partial(httpx.get, timeout=600)
    try:
        response = fetch(url, params={"since": since}, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as error:
        raise Unreachable(f"peer {peer.id} at {url} could not be reached: {error}") from None
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        raise Refused(f"peer {peer.id} refused the feed ({response.status_code}): {message}")
    until = int(response.headers.get("x-exchange-until", "-1"))
    if until == since:
        return Pulled(peer.id, since, until, None)
    with tempfile.TemporaryDirectory(prefix="socialcredit-pull-") as folder:
        path = Path(folder) / f"{peer.id}-{since}.zip"
        path.write_bytes(response.content)
        done = import_delta(store, settings, path, progress=progress)
    return Pulled(peer.id, done.since, done.until, done)
