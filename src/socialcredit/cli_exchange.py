"""Exchange between registries: `peer add|list`, `agreement add`, `exchange export|import|pull`
(and `key exchange-init`, with the other keys in cli_service)."""

from __future__ import annotations

import getpass
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.table import Table

from socialcredit.cli_common import Db, Json, out
from socialcredit.cli_registry import Actor, Purpose, Role, open_store, print_json, reader, stage
from socialcredit.errors import UsageError
from socialcredit.registry.exchange import (
    Imported,
    add_agreement,
    add_peer,
    export_delta,
    import_delta,
    pull,
)
from socialcredit.store.schema import agreements, peers


def _print_imported(done: Imported) -> None:
    out.print(
        f"from {done.peer}: {done.records} records and {done.events} events appended "
        f"(entries {done.since + 1}-{done.until} there; {done.noop} already here, "
        f"{done.erased_here} erased here and not brought back); {done.standings}",
        markup=False,
    )


def register_exchange_commands(app: typer.Typer) -> None:
    peer_app = typer.Typer(
        help="Other registries this one exchanges records with (their Ed25519 public keys)."
    )
    app.add_typer(peer_app, name="peer")

    @peer_app.command("add")
    def peer_add(
        peer_id: Annotated[str, typer.Argument(help="The peer's registry id (its own).")],
        name: Annotated[str, typer.Option("--name", help="The peer registry's name.")],
        public_key: Annotated[
            Path,
            typer.Option(
                "--public-key", help="Its Ed25519 public key (PEM), from its exchange-init."
            ),
        ],
        url: Annotated[str, typer.Option("--url", help="Where the peer is reached.")] = "",
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Register a peer registry and its signing key (recorded in the admin log: `verify`
        finds a key swapped afterwards). Its files are then checked against that key."""
        store, _ = open_store(db)
        if not public_key.exists():
            raise UsageError(f"{public_key}: no such file", field="public_key")
        added = add_peer(
            store,
            peer_id,
            name=name,
            public_key=public_key.read_text(encoding="utf-8"),
            url=url,
            by=getpass.getuser(),
        )
        if as_json:
            print_json(asdict(added))
            return
        out.print(f"peer {added.id} ({added.name}) registered", markup=False)

    @peer_app.command("list")
    def peer_list(db: Db = None, as_json: Json = False) -> None:
        """The peer registries and the newest agreement with each."""
        store, _ = open_store(db)
        with store.reading() as connection:
            rows = connection.execute(sa.select(peers).order_by(peers.c.id)).all()
            newest = {
                r.peer: f"{r.agreement_id} v{r.version}"
                for r in connection.execute(
                    sa.select(agreements).order_by(agreements.c.published_us)
                )
            }
        found = [
            {"id": r.id, "name": r.name, "url": r.url, "agreement": newest.get(r.id)} for r in rows
        ]
        if as_json:
            print_json(found)
            return
        table = Table("peer", "name", "url", "agreement")
        for item in found:
            table.add_row(item["id"], item["name"], item["url"], item["agreement"] or "none")
        out.print(table)

    agreement_app = typer.Typer(
        help="Agreements with peers: which codes flow each way, for organisations and persons."
    )
    app.add_typer(agreement_app, name="agreement")

    @agreement_app.command("add")
    def agreement_add(
        path: Annotated[Path, typer.Argument(help="The agreement (YAML).")],
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Publish an agreement's next version: its id, the peer, a legal basis, and under
        `organisations` and `persons` the codes to `send` and to `receive`. Persons' codes
        need `persons.legal_basis`, the instrument that allows sharing them. The same text
        again is a no-op. Recorded in the admin log."""
        store, _ = open_store(db)
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        done = add_agreement(
            store, path.read_text(encoding="utf-8"), by=getpass.getuser(), source=path.name
        )
        if as_json:
            print_json(
                {
                    "id": done.id,
                    "version": done.version,
                    "peer": done.peer,
                    "send": {k: sorted(v) for k, v in done.send.items()},
                    "receive": {k: sorted(v) for k, v in done.receive.items()},
                }
            )
            return
        out.print(f"agreement {done.id} v{done.version} with peer {done.peer}", markup=False)

    exchange_app = typer.Typer(
        help="Signed delta files between registries: what an agreement lets flow, with "
        "provenance. See docs/exchange.md."
    )
    app.add_typer(exchange_app, name="exchange")

    @exchange_app.command("export")
    def exchange_export(
        peer: Annotated[str, typer.Option("--peer", help="The peer registry.")],
        out_file: Annotated[Path, typer.Option("--out", help="The file to write (ZIP).")],
        purpose: Purpose,
        since: Annotated[
            int | None,
            typer.Option(
                "--since",
                help="The ledger entry after which to start (default: where the last file for "
                "this peer ended).",
            ),
        ] = None,
        actor: Actor = None,
        role: Role = "system",
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Write what the agreement with the peer lets this registry send and the peer has
        not been sent: records and their events with their provenance, the cursor range, the
        ledger's head hash, signed with the registry's exchange key. Each person in it has a
        read in the access audit."""
        store, settings = open_store(db)
        who = reader(actor, role, purpose)
        with stage("exporting"):
            done = export_delta(store, settings, peer, out_file, reader=who, since=since)
        if as_json:
            print_json({**asdict(done), "path": str(done.path)})
            return
        out.print(
            f"{done.records} records and {done.events} events for {done.peer} (entries "
            f"{done.since + 1}-{done.until}) written to {done.path}",
            markup=False,
        )

    @exchange_app.command("import")
    def exchange_import(
        path: Annotated[Path, typer.Argument(help="The peer's exchange file.")],
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Check a peer's file — addressed here, signed by the peer's key, unchanged, the next
        after the last one imported, every entry one the agreement lets the peer send — and
        append its entries through the ledger's one writer with their provenance. A file that
        fails any check is refused whole, with the reason; the same file again is a no-op."""
        store, settings = open_store(db)
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        with stage("importing") as step:
            done = import_delta(store, settings, path, progress=step)
        result = {k: v for k, v in asdict(done).items() if k != "subjects"}
        result["subjects"] = len(done.subjects)
        if as_json:
            print_json(result)
            return
        if done.repeat:
            out.print(f"{path.name} was imported already: nothing to do", markup=False)
            return
        _print_imported(done)

    @exchange_app.command("pull")
    def exchange_pull(
        peer: Annotated[str, typer.Option("--peer", help="The peer registry to pull from.")],
        key_file: Annotated[
            Path,
            typer.Option(
                "--key-file",
                help="A file holding the peer key the peer issued to this registry "
                "(`socialcredit key create --role peer --peer THIS` on the peer).",
            ),
        ],
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Fetch the peer's feed (GET PEER_URL/v1/exchange/feed) after the last file imported
        from it, and import it with every check of `exchange import`. Nothing new: says so."""
        store, settings = open_store(db)
        if not key_file.exists():
            raise UsageError(f"{key_file}: no such file", field="key_file")
        token = key_file.read_text(encoding="utf-8").strip()
        if not token:
            raise UsageError(f"{key_file}: the file is empty", field="key_file")
        with stage(f"pulling from {peer}") as step:
            pulled = pull(store, settings, peer, token, progress=step)
        done = pulled.imported
        if as_json:
            result = {"peer": pulled.peer, "since": pulled.since, "until": pulled.until}
            if done is not None:
                result |= {k: v for k, v in asdict(done).items() if k != "subjects"}
                result["subjects"] = len(done.subjects)
            print_json(result)
            return
        if done is None:
            out.print(f"{pulled.peer} has nothing after its entry {pulled.since}", markup=False)
            return
        _print_imported(done)
