"""Who may use the service: API keys, one-time sign-in links and portal sessions.

A credential is bound to one role and, by role, to what it may touch: a furnisher key to one
furnisher, an agency key to one relying agency (a measure's ``agency`` in a published scheme),
a subject key or sign-in link to one identifier. Operators see the queues and the whole
registry. The public needs no credential.

Secrets are shown once and never stored: the store keeps a SHA-256 of each (the secrets are 256
random bits, so a slow password hash would add nothing but latency), looked up by a public
prefix and compared in constant time. Keys are revoked, never deleted; a sign-in link works
once and expires; a portal session ends at sign-out or expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from socialcredit.errors import NotFound, UsageError
from socialcredit.identifiers import check
from socialcredit.registry import adminlog
from socialcredit.registry.notices import SIGN_IN, insert_rows
from socialcredit.registry.policies import get_furnisher, schemes_in_force
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import credentials, peers, sessions, subjects

ROLES = ("operator", "furnisher", "agency", "subject", "peer")
KEY_MARK = "sck"  # an API key: sck_PREFIX_SECRET
LINK_MARK = "scl"  # a one-time sign-in link's token: scl_PREFIX_SECRET
LOGIN_TTL_US = 24 * 3600 * 1_000_000
SESSION_TTL_US = 8 * 3600 * 1_000_000


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its role, what it is bound to, and the name the audit uses."""

    credential_id: int
    role: str
    actor: str
    furnisher_id: str | None = None
    agency: str | None = None
    subject: str | None = None
    peer: str | None = None


@dataclass(frozen=True)
class Credential:
    id: int
    kind: str
    prefix: str
    role: str
    label: str
    furnisher_id: str | None
    agency: str | None
    subject: str | None
    peer_id: str | None
    created_us: int
    created_by: str
    expires_us: int | None
    used_us: int | None
    revoked_us: int | None


@dataclass(frozen=True)
class Issued:
    """A new credential and its secret token: shown once, never stored."""

    credential: Credential
    token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(token: str, mark: str) -> tuple[str, str] | None:
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != mark or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _to_credential(row: sa.Row[tuple[object, ...]] | sa.RowMapping) -> Credential:
    m = row._mapping if isinstance(row, sa.Row) else row
    return Credential(
        id=int(m["id"]),
        kind=str(m["kind"]),
        prefix=str(m["prefix"]),
        role=str(m["role"]),
        label=str(m["label"]),
        furnisher_id=m["furnisher_id"],
        agency=m["agency"],
        subject=m["subject"],
        peer_id=m["peer_id"],
        created_us=int(m["created_us"]),
        created_by=str(m["created_by"]),
        expires_us=m["expires_us"],
        used_us=m["used_us"],
        revoked_us=m["revoked_us"],
    )


def agencies(store: Store, settings: Settings) -> list[str]:
    """Every relying agency named by a measure of a scheme in force today."""
    with store.reading() as connection:
        found = {
            measure.agency
            for applicable in schemes_in_force(
                connection, as_of=settings.today(), known_us=now_us()
            )
            for measure in applicable.scheme.measures
        }
    return sorted(found)


def _bindings(
    store: Store,
    settings: Settings,
    role: str,
    furnisher: str | None,
    agency: str | None,
    subject: str | None,
    peer: str | None = None,
) -> None:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    wanted = {"furnisher": furnisher, "agency": agency, "subject": subject, "peer": peer}
    for name, value in wanted.items():
        if name == role and not value:
            raise UsageError(f"a {role} key is bound to one {role}: give --{role}")
        if name != role and value:
            raise UsageError(f"--{name} binds a {name} key only, not a {role} key")
    if furnisher:
        with store.reading() as connection:
            if get_furnisher(connection, furnisher) is None:
                raise UsageError(
                    f"no furnisher {furnisher!r} is registered (socialcredit furnisher list)"
                )
    if agency and agency not in (known := agencies(store, settings)):
        raise UsageError(
            f"no scheme in force names the agency {agency!r}; the agencies are: " + "; ".join(known)
        )
    if peer:
        with store.reading() as connection:
            if connection.scalar(sa.select(peers.c.id).where(peers.c.id == peer)) is None:
                raise UsageError(f"no peer {peer!r} is registered (socialcredit peer list)")
    if subject:
        result = check(subject)
        if result.kind is None:
            raise UsageError(f"{subject!r} is not a valid identifier: {result.reason}")


def _insert(
    store: Store,
    *,
    kind: str,
    mark: str,
    role: str,
    label: str,
    by: str,
    furnisher: str | None = None,
    agency: str | None = None,
    subject: str | None = None,
    peer: str | None = None,
    expires_us: int | None = None,
    used_us: int | None = None,
) -> Issued:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    values = {
        "kind": kind,
        "prefix": prefix,
        "secret_hash": _digest(secret),
        "role": role,
        "furnisher_id": furnisher,
        "agency": agency,
        "subject": subject,
        "peer_id": peer,
        "label": label,
        "created_us": now_us(),
        "created_by": by,
        "expires_us": expires_us,
        "used_us": used_us,
        "revoked_us": None,
    }
    with store.writing("admin_log") as connection:
        new_id = connection.execute(credentials.insert().values(**values)).inserted_primary_key
        assert new_id is not None
        adminlog.record(
            connection, actor=by, action="credential.created", kind="credential", key=new_id[0]
        )
        row = connection.execute(sa.select(credentials).where(credentials.c.id == new_id[0])).one()
    return Issued(_to_credential(row), f"{mark}_{prefix}_{secret}")


def create_key(
    store: Store,
    settings: Settings,
    *,
    role: str,
    by: str,
    label: str | None = None,
    furnisher: str | None = None,
    agency: str | None = None,
    subject: str | None = None,
    peer: str | None = None,
) -> Issued:
    """A new API key for a role, bound as the role requires (a peer key to a registered
    peer: it pulls that peer's exchange feed). The token is returned once."""
    _bindings(store, settings, role, furnisher, agency, subject, peer)
    name = label or f"{role} key for {furnisher or agency or subject or peer or 'the registry'}"
    return _insert(
        store,
        kind="key",
        mark=KEY_MARK,
        role=role,
        label=name,
        by=by,
        furnisher=furnisher,
        agency=agency,
        subject=subject,
        peer=peer,
    )


def create_login_link(
    store: Store, settings: Settings, *, subject: str, by: str, ttl_us: int = LOGIN_TTL_US
) -> Issued:
    """A one-time sign-in for a subject's portal pages (24 hours by default)."""
    _bindings(store, settings, "subject", None, None, subject)
    return _insert(
        store,
        kind="login",
        mark=LINK_MARK,
        role="subject",
        label=f"sign-in link for {subject}",
        by=by,
        subject=subject,
        expires_us=now_us() + ttl_us,
    )


def sign_in_url(settings: Settings, token: str) -> str:
    """The portal address that signs in with a one-time link's token. The token rides in the
    fragment, which browsers never send: it reaches no log."""
    return f"{settings.public_url.rstrip('/')}/login/link#token={token}"


BY_REQUEST = "the subject, on request"  # who issued a link the subject asked for again
LINK_REQUESTS_A_DAY = 3


def request_login_link(store: Store, settings: Settings, identifier: str) -> bool:
    """A subject asks for a new sign-in link (issue #15: it can be requested again). It is
    sent only through the subject's notice channel — a ``sign_in`` notice in the outbox, which
    ``socialcredit notices send`` hands on; pages, reports and the API never show its text —
    never to the asker. At most ``LINK_REQUESTS_A_DAY`` in 24 hours. Returns whether one was
    sent; the asker is told the same either way, so the answer does not say whom the registry
    holds data on."""
    found = check(identifier)
    if found.kind is None:
        raise UsageError(f"{identifier!r} is not a valid identifier: {found.reason}")
    since = now_us() - LOGIN_TTL_US
    with store.reading() as connection:
        key = connection.scalar(sa.select(subjects.c.id).where(subjects.c.identifier == identifier))
        recent = connection.scalar(
            sa.select(sa.func.count()).where(
                credentials.c.kind == "login",
                credentials.c.subject == identifier,
                credentials.c.created_by == BY_REQUEST,
                credentials.c.created_us > since,
            )
        )
    if key is None or int(recent or 0) >= LINK_REQUESTS_A_DAY:
        return False
    login = create_login_link(store, settings, subject=identifier, by=BY_REQUEST)
    with store.writing("notices") as connection:
        insert_rows(
            store,
            connection,
            [
                (
                    int(key),
                    now_us(),
                    SIGN_IN,
                    None,
                    None,
                    "You asked for a sign-in link to your registry pages. It works once, within "
                    f"24 hours: {sign_in_url(settings, login.token)} — if you did not ask for "
                    "it, ignore this notice.",
                )
            ],
        )
    return True


def external_sign_in(store: Store, *, subject: str, provider: str) -> Issued:
    """A spent credential standing for a sign-in through an external identity provider (OpenID
    Connect): it exists so that the session and the audit name where the identity came from."""
    return _insert(
        store,
        kind="oidc",
        mark=LINK_MARK,
        role="subject",
        label=f"{subject} via {provider}",
        by=provider,
        subject=subject,
        used_us=now_us(),
    )


def principal_of(row: Credential) -> Principal:
    return Principal(
        credential_id=row.id,
        role=row.role,
        actor=row.label,
        furnisher_id=row.furnisher_id,
        agency=row.agency,
        subject=row.subject,
        peer=row.peer_id,
    )


def _lookup(connection: sa.Connection, token: str, mark: str) -> Credential | None:
    parts = _split(token, mark)
    if parts is None:
        return None
    prefix, secret = parts
    row = connection.execute(sa.select(credentials).where(credentials.c.prefix == prefix)).first()
    if row is None or not hmac.compare_digest(str(row.secret_hash), _digest(secret)):
        return None
    return _to_credential(row)


def authenticate(store: Store, token: str) -> Principal | None:
    """The principal of an API key, or None if the key is unknown or revoked."""
    with store.reading() as connection:
        found = _lookup(connection, token, KEY_MARK)
    if found is None or found.kind != "key" or found.revoked_us is not None:
        return None
    return principal_of(found)


def redeem_login(store: Store, token: str) -> Principal:
    """Spend a one-time sign-in link; refuses one that is unknown, used, expired or revoked."""
    now = now_us()
    with store.writing("admin_log") as connection:
        found = _lookup(connection, token, LINK_MARK)
        if found is None or found.kind != "login":
            raise UsageError("this sign-in link is not valid: ask the registry for a new one")
        if found.revoked_us is not None or (found.expires_us or 0) <= now:
            raise UsageError("this sign-in link has expired: ask the registry for a new one")
        spent = connection.execute(
            credentials.update()
            .where(credentials.c.id == found.id, credentials.c.used_us.is_(None))
            .values(used_us=now)
        )
        if spent.rowcount != 1:
            raise UsageError("this sign-in link was used already: ask the registry for a new one")
        adminlog.record(
            connection, actor=found.label, action="credential.used", kind="credential", key=found.id
        )
    return principal_of(found)


def revoke(store: Store, credential_id: int, *, by: str = "operator") -> Credential:
    """Revoke a key or an unused link, and end its sessions. Revoking twice is refused."""
    now = now_us()
    with store.writing("admin_log") as connection:
        row = connection.execute(
            sa.select(credentials).where(credentials.c.id == credential_id)
        ).first()
        if row is None:
            raise NotFound(f"no credential {credential_id} (socialcredit key list)")
        if row.revoked_us is not None:
            raise UsageError(f"credential {credential_id} was revoked already")
        connection.execute(
            credentials.update().where(credentials.c.id == credential_id).values(revoked_us=now)
        )
        adminlog.record(
            connection, actor=by, action="credential.revoked", kind="credential", key=credential_id
        )
        ended = list(
            connection.scalars(
                sa.select(sessions.c.token_hash).where(
                    sessions.c.credential_id == credential_id, sessions.c.ended_us.is_(None)
                )
            )
        )
        connection.execute(
            sessions.update().where(sessions.c.token_hash.in_(ended)).values(ended_us=now)
        )
        for token_hash in ended:
            adminlog.record(
                connection, actor=by, action="session.ended", kind="session", key=token_hash
            )
        row = connection.execute(
            sa.select(credentials).where(credentials.c.id == credential_id)
        ).one()
    return _to_credential(row)


def list_credentials(store: Store, *, include_revoked: bool = False) -> list[Credential]:
    query = sa.select(credentials).order_by(credentials.c.id)
    if not include_revoked:
        query = query.where(credentials.c.revoked_us.is_(None))
    with store.reading() as connection:
        return [_to_credential(row) for row in connection.execute(query)]


# -- portal sessions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    token: str  # the cookie's value: shown to the browser only
    csrf: str
    principal: Principal


def start_session(store: Store, principal: Principal, ttl_us: int = SESSION_TTL_US) -> Session:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = now_us()
    with store.writing("admin_log") as connection:
        connection.execute(
            sessions.insert().values(
                token_hash=_digest(token),
                credential_id=principal.credential_id,
                csrf=csrf,
                created_us=now,
                expires_us=now + ttl_us,
                ended_us=None,
            )
        )
        adminlog.record(
            connection,
            actor=principal.actor,
            action="session.started",
            kind="session",
            key=_digest(token),
        )
    return Session(token, csrf, principal)


def session_of(store: Store, token: str) -> Session | None:
    """The live session of a cookie, or None (unknown, ended, expired, or its key revoked)."""
    with store.reading() as connection:
        row = connection.execute(
            sa.select(sessions.c.csrf, sessions.c.expires_us, sessions.c.ended_us, credentials)
            .join(credentials, credentials.c.id == sessions.c.credential_id)
            .where(sessions.c.token_hash == _digest(token))
        ).first()
    if row is None or row.ended_us is not None or row.expires_us <= now_us():
        return None
    found = _to_credential(row._mapping)
    if found.revoked_us is not None:
        return None
    return Session(token, str(row.csrf), principal_of(found))


def end_session(store: Store, token: str) -> None:
    with store.writing("admin_log") as connection:
        ended = connection.execute(
            sessions.update()
            .where(sessions.c.token_hash == _digest(token), sessions.c.ended_us.is_(None))
            .values(ended_us=now_us())
        )
        if ended.rowcount == 1:
            adminlog.record(
                connection,
                actor="the session's owner",
                action="session.ended",
                kind="session",
                key=_digest(token),
            )
