"""The service's commands: `serve`, and `key create|list|revoke` for its credentials."""

from __future__ import annotations

import getpass
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from socialcredit.cli_common import Db, Json, err, out
from socialcredit.cli_registry import open_store, print_json
from socialcredit.registry.access import (
    ROLES,
    Credential,
    create_key,
    create_login_link,
    list_credentials,
    revoke,
    sign_in_url,
)
from socialcredit.registry.exchange import init_key
from socialcredit.settings import Settings
from socialcredit.store.db import us_to_iso


def register_service_commands(app: typer.Typer) -> None:
    key_app = typer.Typer(
        help="API keys for the service (shown once, stored hashed, revocable) and subjects' "
        "one-time sign-in links."
    )
    app.add_typer(key_app, name="key")

    @key_app.command("create")
    def key_create(
        role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
        furnisher: Annotated[
            str | None, typer.Option(help="Bind a furnisher key to this furnisher id.")
        ] = None,
        agency: Annotated[
            str | None,
            typer.Option(help="Bind an agency key to this agency, as a scheme's measure names it."),
        ] = None,
        subject: Annotated[
            str | None, typer.Option(help="Bind a subject key to this identifier.")
        ] = None,
        peer: Annotated[
            str | None,
            typer.Option(help="Bind a peer key to this peer registry: it pulls its exchange feed."),
        ] = None,
        label: Annotated[
            str | None, typer.Option(help="A name for the key; the audit shows it as the actor.")
        ] = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Create an API key. The key is printed once: store it now. For --role subject, also
        print a one-time sign-in link to the portal (valid 24 hours)."""
        store, settings = open_store(db)
        by = getpass.getuser()
        issued = create_key(
            store,
            settings,
            role=role,
            by=by,
            label=label,
            furnisher=furnisher,
            agency=agency,
            subject=subject,
            peer=peer,
        )
        link = None
        if role == "subject" and subject is not None:
            login = create_login_link(store, settings, subject=subject, by=by)
            link = sign_in_url(settings, login.token)
        if as_json:
            print_json(
                {"id": issued.credential.id, "role": role, "key": issued.token, "sign_in": link}
            )
            return
        out.print(f"key {issued.credential.id} ({role}: {issued.credential.label}):")
        out.print(issued.token, markup=False)
        if link:
            out.print("one-time sign-in link for the portal (24 hours):")
            out.print(link, markup=False)
        err.print("the key is shown once and stored only as a hash: keep it now")

    @key_app.command("link")
    def key_link(
        subject: Annotated[str, typer.Option(help="The subject's identifier.")],
        db: Db = None,
    ) -> None:
        """Issue a new one-time sign-in link for a subject (valid 24 hours)."""
        store, settings = open_store(db)
        login = create_login_link(store, settings, subject=subject, by=getpass.getuser())
        out.print(sign_in_url(settings, login.token), markup=False)

    def rows(found: list[Credential]) -> Table:
        table = Table("id", "kind", "role", "bound to", "label", "created", "state", title="keys")
        for c in found:
            state = (
                f"revoked {us_to_iso(c.revoked_us)[:19]}"
                if c.revoked_us
                else ("used" if c.used_us else "active")
            )
            bound = c.furnisher_id or c.agency or c.subject or ""
            table.add_row(
                str(c.id), c.kind, c.role, bound, c.label, us_to_iso(c.created_us)[:19], state
            )
        return table

    @key_app.command("list")
    def key_list(
        revoked: Annotated[
            bool, typer.Option("--revoked", help="Include revoked credentials.")
        ] = False,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """The credentials (never their secrets)."""
        store, _ = open_store(db)
        found = list_credentials(store, include_revoked=revoked)
        if as_json:
            print_json([asdict(c) for c in found])
            return
        out.print(rows(found))

    @key_app.command("revoke")
    def key_revoke(
        credential_id: Annotated[int, typer.Argument(metavar="ID")],
        db: Db = None,
    ) -> None:
        """Revoke a key or an unused sign-in link; its portal sessions end at once, and a
        running service stops accepting it within SOCIALCREDIT_KEY_CACHE_SECONDS."""
        store, _ = open_store(db)
        found = revoke(store, credential_id, by=getpass.getuser())
        out.print(f"credential {found.id} ({found.role}: {found.label}) revoked")

    @key_app.command("exchange-init")
    def key_exchange_init(
        key_file: Annotated[
            Path, typer.Option("--out", help="Where to write the private key (PEM, mode 0600).")
        ],
    ) -> None:
        """Create the registry's Ed25519 exchange key, which signs its exchange files, and its
        public key beside it (FILE.pub) to give to peers (`peer add --public-key`). Set
        SOCIALCREDIT_EXCHANGE_KEY_FILE to FILE. Refuses to overwrite a key."""
        public = init_key(key_file)
        out.print(f"exchange key written to {key_file}; its public key to {public}", markup=False)

    @app.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="The port.")] = 8000,
        workers: Annotated[
            int, typer.Option(help="Worker processes (each with its own connections).")
        ] = 1,
        db: Db = None,
        log_level: Annotated[
            str, typer.Option(help="uvicorn's log level: warning, info, debug.")
        ] = "info",
        access_log: Annotated[
            bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
        ] = True,
    ) -> None:
        """Serve the API (/v1, OpenAPI at /openapi.json, docs at /docs) and the portal (/)."""
        import uvicorn

        from socialcredit.service.logs import log_config

        if db:
            os.environ["SOCIALCREDIT_DATABASE_URL"] = db
        store, settings = open_store(db)  # refuse an uninitialised store before listening
        store.engine.dispose()
        err.print(
            f"serving {store.describe()} on http://{host}:{port} ({workers} worker(s)); "
            f"portal http://{host}:{port}/, API docs http://{host}:{port}/docs"
        )
        uvicorn.run(
            "socialcredit.service.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=access_log,
            log_config=log_config(settings),
            **proxy_options(settings),
        )


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy options: X-Forwarded-For believed from the trusted proxies only."""
    trusted = [a.strip() for a in settings.trusted_proxies.split(",") if a.strip()]
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def serve_demo(db_url: str, subject: str | None, *, port: int = 8000) -> None:
    """Demo credentials for every role, printed with the portal's address; then serve."""
    import sqlalchemy as sa

    from socialcredit.registry.access import agencies
    from socialcredit.registry.policies import list_furnishers
    from socialcredit.store.db import Store
    from socialcredit.store.schema import subjects

    url = f"http://127.0.0.1:{port}"
    os.environ["SOCIALCREDIT_DATABASE_URL"] = db_url
    os.environ["SOCIALCREDIT_PUBLIC_URL"] = url
    settings = Settings()
    store = Store(db_url)
    with store.reading() as connection:
        furnisher = next(
            (f for f in list_furnishers(connection) if "court.judgment_default" in f.codes),
            None,
        )
        organisation = connection.execute(
            sa.select(subjects.c.identifier, subjects.c.name)
            .where(subjects.c.kind == "organisation")
            .order_by(subjects.c.identifier)
            .limit(1)
        ).first()
    known = agencies(store, settings)
    agency = next((a for a in known if a.startswith("Civil Aviation")), known[0] if known else None)
    by = "demo"
    lines = [f"\nThe portal: {url}/   (API docs: {url}/docs)\n", "Demo credentials:"]
    operator = create_key(store, settings, role="operator", by=by, label="demo operator")
    lines.append(f"  operator  key {operator.token}")
    if furnisher is not None:
        issued = create_key(
            store, settings, role="furnisher", by=by, furnisher=furnisher.id, label="demo court"
        )
        lines.append(f"  furnisher key {issued.token}   ({furnisher.id})")
    if agency is not None:
        issued = create_key(
            store, settings, role="agency", by=by, agency=agency, label="demo check desk"
        )
        lines.append(f"  agency    key {issued.token}   ({agency})")
    if subject is not None:
        issued = create_key(
            store, settings, role="subject", by=by, subject=subject, label=f"subject {subject}"
        )
        login = create_login_link(store, settings, subject=subject, by=by)
        lines.append(f"  subject   key {issued.token}   ({subject}, on the defaulters list)")
        lines.append(f"  subject   sign-in link (once): {sign_in_url(settings, login.token)}")
    lines.append("  public    no credentials needed")
    if organisation is not None:
        lines.append(
            f"\nTry the public search with {organisation.name or organisation.identifier} "
            f"({organisation.identifier})."
        )
    lines.append(
        "Sign in at /login with a key; a subject's link signs in once "
        "(`socialcredit key link --subject ID` issues another). Ctrl-C stops the server.\n"
    )
    store.engine.dispose()
    for line in lines:
        out.print(line, markup=False)
    import uvicorn

    from socialcredit.service.logs import log_config

    uvicorn.run(
        "socialcredit.service.app:app_from_environment",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        log_config=log_config(settings),
        **proxy_options(settings),  # none trusted unless set: the demo believes no header
    )
