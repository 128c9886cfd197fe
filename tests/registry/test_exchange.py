"""Information sharing between registries (issue #16 part 1), with three registries on one
machine: A (SQLite or PostgreSQL) furnishes and exports, B (SQLite) imports, B re-exports to
C. Signed delta files carry provenance; every tampering is refused as a whole with its
reason; persons' data leaves only under an agreement that names a legal basis for it."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner, Result

from socialcredit.cli import app
from socialcredit.errors import UsageError
from socialcredit.registry.audit import Reader
from socialcredit.registry.exchange import (
    Refused,
    add_agreement,
    add_peer,
    export_delta,
    import_delta,
    init_key,
)
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.ledger import verify
from socialcredit.registry.publication import public_view
from socialcredit.registry.verify import verify_all
from socialcredit.service.app import create_app
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import agreements, ledger, peers, subjects

from .conftest import ACME, ALICE, open_store, write_csv

HEADER = ("record_id", "subject_id", "code", "occurred_on", "amount", "subject_name")
CLERK = Reader("clerk", "operator", "exchange with the peer registries")
BASIS = "State Council Guiding Opinions on joint incentives and punishments (2016 No. 33) art. 22"


def _agreement(peer: str, *, send: list[str], receive: list[str], persons: bool = False) -> str:
    text = f"""
id: {peer}-sharing
peer: {peer}
legal_basis: "{BASIS}"
organisations:
  send: {json.dumps(send)}
  receive: {json.dumps(receive)}
"""
    if persons:
        text += f"""persons:
  legal_basis: "{BASIS}"
  send: {json.dumps(send)}
  receive: {json.dumps(receive)}
"""
    return text


class Registry:
    def __init__(self, name: str, settings: Settings, store: Store, key: Path) -> None:
        self.name, self.settings, self.store, self.key = name, settings, store, key

    @property
    def public(self) -> str:
        return Path(f"{self.key}.pub").read_text()


def _registry(name: str, url: str, tmp_path: Path) -> Registry:
    key = tmp_path / f"{name}.key"
    init_key(key)
    settings = Settings(database_url=url, registry_id=name, exchange_key_file=key)
    return Registry(name, settings, open_store(settings), key)


def _pair(a: Registry, b: Registry, codes: list[str], *, persons: bool = False) -> None:
    """A sends ``codes`` to B, which accepts them."""
    add_peer(a.store, b.name, name=f"registry {b.name}", public_key=b.public, url="", by="t")
    add_peer(b.store, a.name, name=f"registry {a.name}", public_key=a.public, url="", by="t")
    add_agreement(a.store, _agreement(b.name, send=codes, receive=[], persons=persons), by="t")
    add_agreement(b.store, _agreement(a.name, send=[], receive=codes, persons=persons), by="t")


@pytest.fixture
def three(settings: Settings, tmp_path: Path) -> list[Registry]:
    key = tmp_path / "a.key"
    init_key(key)
    a_settings = settings.model_copy(update={"registry_id": "a", "exchange_key_file": key})
    a = Registry("a", a_settings, open_store(a_settings), key)
    b = _registry("b", f"sqlite:///{tmp_path / 'b.db'}", tmp_path)
    c = _registry("c", f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    yield [a, b, c]
    for registry in (a, b, c):
        registry.store.engine.dispose()


def _furnish(a: Registry, tmp_path: Path, name: str, rows: list[tuple[object, ...]]) -> None:
    report = ingest_records(
        a.store, write_csv(tmp_path / name, HEADER, rows), settings=a.settings, furnisher_id="court"
    )
    assert report.accepted == len(rows), report.rejections


def _rewrite(path: Path, out: Path, **changes: bytes) -> Path:
    """The exchange file with some members' bytes replaced (what a tamperer does)."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.namelist():
            target.writestr(member, changes.get(member.replace(".", "_"), source.read(member)))
    return out


def test_two_registries_exchange_signed_deltas_with_provenance_and_refuse_tampering(
    three: list[Registry], tmp_path: Path
) -> None:
    a, b, c = three
    recent = a.settings.today().isoformat()
    _furnish(
        a,
        tmp_path,
        "first.csv",
        [
            ("c1", ACME, "court.judgment_default", recent, "250000", "荣成某某海产有限公司"),
            ("c2", ALICE, "court.judgment_default", recent, "900", "张三丰"),  # a person
            ("c3", ACME, "court.arrears", recent, "5", ""),  # not in the agreement
        ],
    )
    _pair(a, b, ["court.judgment_default"])
    first = export_delta(a.store, a.settings, "b", tmp_path / "1.zip", reader=CLERK)
    assert (first.since, first.records, first.events) == (0, 1, 0)
    payload = zipfile.ZipFile(first.path).read("entries.jsonl").decode()
    assert ALICE not in payload and "张三丰" not in payload and "c3" not in payload

    # In transit: a byte flipped in the entries, the manifest edited, another key's signature.
    flipped = payload.replace("250000", "250001").encode()
    with pytest.raises(Refused, match="digest its signed manifest gives"):
        import_delta(
            b.store, b.settings, _rewrite(first.path, tmp_path / "x1.zip", entries_jsonl=flipped)
        )
    manifest = zipfile.ZipFile(first.path).read("manifest.json")
    edited = manifest.replace(b'"since": 0', b'"since": 1')
    with pytest.raises(Refused, match="not signed by peer a's key"):
        import_delta(
            b.store, b.settings, _rewrite(first.path, tmp_path / "x2.zip", manifest_json=edited)
        )
    other = serialization.load_pem_private_key(c.key.read_bytes(), password=None)
    resigned = base64.b64encode(other.sign(manifest))  # type: ignore[union-attr]
    with pytest.raises(Refused, match="not signed by peer a's key"):
        import_delta(
            b.store, b.settings, _rewrite(first.path, tmp_path / "x3.zip", manifest_sig=resigned)
        )
    with pytest.raises(Refused, match="addressed to 'b'"):
        import_delta(c.store, c.settings, first.path)
    with b.store.reading() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(ledger)) == 0

    done = import_delta(b.store, b.settings, first.path)
    assert (done.records, done.events, done.repeat) == (1, 0, False)
    # B's public view shows A's listing, with A as provenance.
    acme = public_view(b.store, b.settings, ACME)
    assert [r.furnisher for r in acme.records] == ["a:court"]
    assert ("spc-defaulters", "dishonest-judgment-defaulters") in {
        (x.scheme, x.list_id) for x in acme.listings
    }
    with b.store.reading() as connection:
        row = connection.execute(sa.select(ledger).where(ledger.c.record_id == "c1")).one()
        assert (row.origin_registry, row.origin_seq, row.via_peer) == ("a", 1, "a")
        assert (
            connection.scalar(sa.select(subjects.c.id).where(subjects.c.identifier == ALICE))
            is None
        )
    assert verify(b.store).problem is None
    assert verify_all(b.store, b.settings).intact

    # The same file again is a no-op; a gap and an old file are refused, naming them.
    assert import_delta(b.store, b.settings, first.path).repeat
    _furnish(a, tmp_path, "second.csv", [("c4", ACME, "court.judgment_default", recent, "7", "")])
    second = export_delta(a.store, a.settings, "b", tmp_path / "2.zip", reader=CLERK)
    _furnish(a, tmp_path, "third.csv", [("c5", ACME, "court.judgment_default", recent, "8", "")])
    third = export_delta(a.store, a.settings, "b", tmp_path / "3.zip", reader=CLERK)
    assert third.since == second.until
    with pytest.raises(Refused, match=f"a gap .* ended at its entry {first.until}"):
        import_delta(b.store, b.settings, third.path)
    assert import_delta(b.store, b.settings, second.path).records == 1
    assert import_delta(b.store, b.settings, third.path).records == 1
    again = export_delta(a.store, a.settings, "b", tmp_path / "4.zip", since=0, reader=CLERK)
    with pytest.raises(Refused, match="an old file"):
        import_delta(b.store, b.settings, again.path)

    # B passes A's records on to C: the original provenance is kept.
    _pair(b, c, ["court.judgment_default"])
    onward = export_delta(b.store, b.settings, "c", tmp_path / "5.zip", reader=CLERK)
    assert onward.records == 3
    assert import_delta(c.store, c.settings, onward.path).records == 3
    with c.store.reading() as connection:
        row = connection.execute(sa.select(ledger).where(ledger.c.record_id == "c1")).one()
        assert (row.furnisher, row.origin_registry, row.origin_seq, row.via_peer) == (
            "a:court",
            "a",
            1,
            "b",
        )
    assert verify(c.store).problem is None
    # The provenance is chained: an edit of it is found.
    with c.store.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE ledger SET origin_registry = 'z' WHERE record_id = 'c1'")
        )
    assert "does not match its hash" in (verify(c.store).problem or "")


def test_persons_data_flows_only_under_a_persons_legal_basis(
    three: list[Registry], tmp_path: Path
) -> None:
    a, b, _ = three
    recent = a.settings.today().isoformat()
    _furnish(a, tmp_path, "p.csv", [("p1", ALICE, "court.judgment_default", recent, "9", "张三丰")])
    with pytest.raises(UsageError, match=r"persons\.legal_basis is required"):
        add_peer(a.store, "b", name="registry b", public_key=b.public, url="", by="t")
        add_agreement(
            a.store,
            "id: x\npeer: b\nlegal_basis: law\npersons:\n  send: [court.judgment_default]\n",
            by="t",
        )
    _pair_persons = _agreement("b", send=["court.judgment_default"], receive=[], persons=True)
    add_agreement(a.store, _pair_persons, by="t")
    add_peer(b.store, "a", name="registry a", public_key=a.public, url="", by="t")
    # B accepts organisations only: A's person record is refused there, naming it.
    add_agreement(b.store, _agreement("a", send=[], receive=["court.judgment_default"]), by="t")
    sent = export_delta(a.store, a.settings, "b", tmp_path / "p.zip", reader=CLERK)
    assert sent.records == 1
    with pytest.raises(Refused, match=r"does not let a send court\.judgment_default about persons"):
        import_delta(b.store, b.settings, sent.path)
    add_agreement(
        b.store, _agreement("a", send=[], receive=["court.judgment_default"], persons=True), by="t"
    )
    assert import_delta(b.store, b.settings, sent.path).records == 1


def test_the_commands_from_key_to_import(tmp_path: Path) -> None:
    """The README's way: each registry makes its key, registers the other and an agreement;
    A exports, B imports; the same file again is a no-op; a tampered file exits 1 naming it.
    Then A serves its API, issues B a peer key, and B pulls what A furnished since."""
    dbs = {name: f"sqlite:///{tmp_path / f'{name}.db'}" for name in ("a", "b")}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    url = f"http://127.0.0.1:{port}"

    def sc(name: str, *args: str, db: bool = True) -> Result:
        settings = {
            "SOCIALCREDIT_REGISTRY_ID": name,
            "SOCIALCREDIT_EXCHANGE_KEY_FILE": str(tmp_path / f"{name}.key"),
        }
        where = ("--db", dbs[name]) if db else ()
        return CliRunner().invoke(app, [*args, *where], env=settings)  # in-process

    for name in ("a", "b"):
        made = sc(name, "key", "exchange-init", "--out", str(tmp_path / f"{name}.key"), db=False)
        assert made.exit_code == 0 and ".pub" in made.output, made.output
        assert sc(name, "init").exit_code == 0
    assert sc("a", "key", "exchange-init", "--out", str(tmp_path / "a.key"), db=False).exit_code
    added = sc("a", "furnisher", "add", "court", "--name", "荣成市人民法院", "--codes",
               "court.judgment_default")  # fmt: skip
    assert added.exit_code == 0, added.output
    records = write_csv(
        tmp_path / "r.csv",
        HEADER,
        [("c1", ACME, "court.judgment_default", "2026-11-02", "100", "荣成某某海产有限公司")],
    )
    assert sc("a", "ingest", "records", str(records), "--furnisher", "court").exit_code == 0
    for here, there, send, receive in (("a", "b", "[court.judgment_default]", "[]"),
                                       ("b", "a", "[]", "[court.judgment_default]")):  # fmt: skip
        peer = sc(here, "peer", "add", there, "--name", f"registry {there}", "--public-key",
                  str(tmp_path / f"{there}.key.pub"), "--url", url)  # fmt: skip
        assert peer.exit_code == 0, peer.output
        text = f"id: {here}-{there}\npeer: {there}\nlegal_basis: law\norganisations:\n" \
               f"  send: {send}\n  receive: {receive}\n"  # fmt: skip
        (tmp_path / f"{here}.yaml").write_text(text)
        agreed = sc(here, "agreement", "add", str(tmp_path / f"{here}.yaml"))
        assert agreed.exit_code == 0 and "v1" in agreed.output, agreed.output
    listed = sc("a", "peer", "list", "--json")
    assert json.loads(listed.output)[0]["agreement"] == "a-b v1"
    out = tmp_path / "a-to-b.zip"
    exported = sc("a", "exchange", "export", "--peer", "b", "--out", str(out), "--purpose", "t")
    assert exported.exit_code == 0 and "1 records" in exported.output, exported.output
    imported = sc("b", "exchange", "import", str(out), "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["records"] == 1
    assert "imported already" in sc("b", "exchange", "import", str(out)).output
    shown = sc("b", "public", "subject", ACME, "--json")
    assert "a:court" in shown.output, shown.output
    bad = _rewrite(out, tmp_path / "bad.zip", manifest_sig=base64.b64encode(b"x" * 64))
    refused = sc("b", "exchange", "import", str(bad))
    assert "not signed by peer a's key" in str(refused.exception)

    # Over HTTP: A serves, B pulls with the peer key A issued it.
    issued = sc("a", "key", "create", "--role", "peer", "--peer", "b", "--json")
    assert issued.exit_code == 0, issued.output
    (tmp_path / "feed.key").write_text(json.loads(issued.output)["key"])
    more = write_csv(
        tmp_path / "r2.csv",
        HEADER,
        [("c2", ACME, "court.judgment_default", "2026-11-03", "200", "荣成某某海产有限公司")],
    )
    assert sc("a", "ingest", "records", str(more), "--furnisher", "court").exit_code == 0
    served = Settings(database_url=dbs["a"], registry_id="a", exchange_key_file=tmp_path / "a.key")
    server = uvicorn.Server(
        uvicorn.Config(create_app(served), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        key = ("--key-file", str(tmp_path / "feed.key"))
        pulled = sc("b", "exchange", "pull", "--peer", "a", *key)
        assert pulled.exit_code == 0 and "from a: 1 records" in pulled.output, pulled.output
        nothing = sc("b", "exchange", "pull", "--peer", "a", *key)
        assert "has nothing after" in nothing.output, nothing.output
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_peer_key_or_an_agreement_changed_in_the_database_is_named_by_verify(
    three: list[Registry],
) -> None:
    a, b, c = three
    _pair(a, b, ["court.judgment_default"])
    assert verify_all(b.store, b.settings).intact
    with b.store.engine.begin() as connection:
        connection.execute(
            sa.update(peers).where(peers.c.id == "a").values(public_key=c.public)
        )  # an insider who wants B to take C's files as A's
        connection.execute(sa.update(agreements).values(source=agreements.c.source + "\n# widened"))
    problems = verify_all(b.store, b.settings).admin
    assert any(p.startswith("peer registry a differs") and "public_key" in p for p in problems)
    assert any(p.startswith("exchange agreement") and "source_sha256" in p for p in problems)


def test_a_peer_pulls_the_feed_over_http_with_its_own_key(
    three: list[Registry], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from socialcredit.registry.access import create_key
    from socialcredit.registry.exchange import last_imported, pull
    from socialcredit.service.app import create_app

    a, b, c = three
    recent = a.settings.today().isoformat()
    _furnish(a, tmp_path, "one.csv", [("p1", ACME, "court.judgment_default", recent, "7", "")])
    add_peer(a.store, "b", name="registry b", public_key=b.public, url="", by="t")
    add_peer(b.store, "a", name="registry a", public_key=a.public, url="http://testserver", by="t")
    add_peer(a.store, "c", name="registry c", public_key=c.public, url="", by="t")
    codes = ["court.judgment_default"]
    add_agreement(a.store, _agreement("b", send=codes, receive=[]), by="t")
    add_agreement(b.store, _agreement("a", send=[], receive=codes), by="t")
    token = create_key(a.store, a.settings, role="peer", by="t", peer="b").token
    for_c = create_key(a.store, a.settings, role="peer", by="t", peer="c").token
    with pytest.raises(UsageError, match="no peer 'z'"):
        create_key(a.store, a.settings, role="peer", by="t", peer="z")
    with TestClient(create_app(a.settings)) as client:
        assert client.get("/v1/exchange/feed").status_code == 401
        other = create_key(a.store, a.settings, role="operator", by="t").token
        refused = client.get("/v1/exchange/feed", headers={"X-API-Key": other})
        assert refused.status_code == 403, refused.text
        # c has a key but no agreement: nothing flows to it
        no_agreement = client.get("/v1/exchange/feed", headers={"X-API-Key": for_c})
        assert no_agreement.status_code in (404, 409), no_agreement.text

        first = pull(b.store, b.settings, "a", token, get=client.get)
        assert first.imported is not None and first.imported.records == 1
        assert public_view(b.store, b.settings, ACME).listings
        again = pull(b.store, b.settings, "a", token, get=client.get)
        assert again.imported is None and again.since == first.until

        _furnish(a, tmp_path, "two.csv", [("p2", ACME, "court.judgment_default", recent, "8", "")])
        second = pull(b.store, b.settings, "a", token, get=client.get)
        assert second.imported is not None and second.imported.records == 1
        assert second.since == first.until and last_imported(b.store, "a") == second.until
        with pytest.raises(Refused, match=r"refused the feed \(401\)"):
            pull(b.store, b.settings, "a", "sck_nope_nope", get=client.get)
    assert verify_all(b.store, b.settings).intact
    assert verify_all(a.store, a.settings).intact  # the peer keys are in its admin log
