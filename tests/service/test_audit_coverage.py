"""Every route and command that returns a person's data adds exactly one audit entry per
subject read. The routes are enumerated from the API's and the portal's route tables, the
commands from the CLI's command tree: one that is in neither list below fails the test, so a
new route or command must be classified (and, if it reads a person's data, audited)."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from socialcredit.cli import app as cli_app
from socialcredit.errors import UsageError
from socialcredit.registry.access import create_key
from socialcredit.registry.exchange import add_agreement, add_peer, init_key
from socialcredit.registry.screening import agency_dataset
from socialcredit.service import api, portal, screening
from socialcredit.service.app import create_app
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import subjects as subjects_table
from tests.registry.conftest import count

from .conftest import AGENCY, ALICE, BOB, Keys, auth
from .test_portal import sign_in, sign_in_with_link

# (method, path) -> why it is not a read of a person's data
NOT_PERSONAL_ROUTES = {
    ("POST", "/v1/records"): "a furnisher's submission: its report names rows, not readings",
    ("POST", "/v1/events"): "as above",
    ("GET", "/v1/batches"): "counts of a furnisher's batches",
    ("POST", "/v1/me/objections"): "the subject's own act, answered with its case",
    ("POST", "/v1/me/repairs"): "as above",
    ("POST", "/v1/me/reviews"): "as above",
    ("POST", "/v1/objections/{case_id}/decision"): "the operator's decision on a case in hand",
    ("POST", "/v1/repairs/{case_id}/decision"): "as above",
    ("POST", "/v1/reviews/{review_id}/decision"): "as above",
    ("GET", "/v1/policies"): "policy texts",
    ("POST", "/v1/policies"): "policy texts",
    ("GET", "/v1/furnishers"): "institutions",
    ("GET", "/v1/public/organisations"): "organisations only, what the law makes public",
    ("GET", "/v1/public/subjects/{subject_id}"): "what the law makes public (persons masked)",
    ("GET", "/v1/public/lists"): "list titles",
    ("GET", "/v1/public/lists/{scheme_id}/{list_id}"): "public list, persons masked",
    ("GET", "/v1/public/schemes"): "policy texts",
    ("GET", "/"): "the home page",
    ("GET", "/search"): "organisations only",
    ("GET", "/public/subjects/{subject_id}"): "what the law makes public (persons masked)",
    ("GET", "/public/lists"): "list titles",
    ("GET", "/public/lists/{scheme_id}/{list_id}"): "public list, persons masked",
    ("GET", "/schemes"): "policy texts",
    ("GET", "/login"): "the sign-in form",
    ("POST", "/login"): "signing in",
    ("GET", "/login/link"): "the sign-in form",
    ("POST", "/login/link"): "signing in",
    ("POST", "/logout"): "signing out",
    ("GET", "/login/link/request"): "the form to ask for a sign-in link",
    ("POST", "/login/link/request"): "a link to the subject's notice channel; nothing shown",
    ("GET", "/login/oidc"): "signing in",
    ("GET", "/login/oidc/callback"): "signing in",
    ("GET", "/account"): "the credential's own description",
    ("GET", "/operator"): "totals and charts: cases counted, never shown",
    ("POST", "/operator/{kind}/{case_id}"): "the operator's decision on a case in hand",
    ("POST", "/operator/repairs/{case_id}/complete"): "the operator finds a file in hand complete",
    ("POST", "/v1/repairs/{case_id}/complete"): "as above",
    ("POST", "/v1/corrections/{case_id}/replacement"): "the furnisher's act on its task",
    ("GET", "/operator/furnishers"): "institutions",
    ("GET", "/operator/policies"): "policy texts",
    ("POST", "/me/objections"): "the subject's own act",
    ("POST", "/me/repairs"): "the subject's own act",
    ("POST", "/me/reviews"): "the subject's own act",
    ("GET", "/catalog"): "dataset names and counts",
    ("GET", "/algorithms"): "the algorithm's description",
    ("GET", "/reconcile"): "organisations on public lists only",
    ("POST", "/reconcile"): "as above",
    ("GET", "/reconcile/suggest/entity"): "as above",
    ("GET", "/reconcile/properties"): "property names",
    ("GET", "/reconcile/preview"): "organisations on public lists only",
}
PERSONAL_ROUTES = {
    ("GET", "/v1/checks/{subject_id}"),
    ("POST", "/v1/checks"),
    ("GET", "/v1/me/standing"),
    ("GET", "/v1/me/report"),
    ("GET", "/v1/me/cases"),
    ("GET", "/v1/me/notices"),
    ("GET", "/v1/me/audit"),
    ("GET", "/v1/subjects/{subject_id}/standing"),
    ("GET", "/v1/queues/objections"),
    ("GET", "/v1/queues/repairs"),
    ("GET", "/v1/queues/reviews"),
    ("GET", "/v1/corrections"),
    ("GET", "/me"),
    ("GET", "/me/report.pdf"),
    ("GET", "/operator/queues"),
    ("GET", "/operator/{kind}/{case_id}"),
    ("GET", "/operator/subjects/{subject_id}"),
    ("POST", "/match/{dataset}"),
    ("GET", "/search/{dataset}"),
    ("GET", "/entities/{entity_id}"),
    ("GET", "/v1/exchange/feed"),
}


def test_every_route_is_classified() -> None:
    found = {
        (method, route.path)
        for router in (api.router, portal.router, screening.router)
        for route in router.routes
        for method in getattr(route, "methods", ())
        if method != "HEAD"
    }
    unclassified = found - PERSONAL_ROUTES - set(NOT_PERSONAL_ROUTES)
    assert not unclassified, f"classify these routes (and audit them if personal): {unclassified}"
    assert not (PERSONAL_ROUTES | set(NOT_PERSONAL_ROUTES)) - found  # no stale names


def test_each_personal_route_adds_one_entry_per_subject_read(
    client: TestClient, keys: Keys, store: Store, settings: Settings
) -> None:
    # cases in the queues: an objection and a review by ALICE; no repair application
    client.post(
        "/v1/me/objections", json={"record": "court/j1", "reason": "paid"}, headers=auth(keys.alice)
    )
    client.post("/v1/me/reviews", json={"reason": "please"}, headers=auth(keys.alice))

    def entries(call: Callable[[], object]) -> int:
        before = count(store, "audit_log")
        response = call()
        assert getattr(response, "status_code", 200) == 200, getattr(response, "text", "")
        return count(store, "audit_log") - before

    agency, alice, op = auth(keys.agency), auth(keys.alice), auth(keys.operator)
    batch = {"subjects": [ALICE, BOB, ALICE, "110101199003074514"]}  # the last: not held
    screen = {
        "queries": {
            k: {"schema": "Person", "properties": {"idNumber": [k]}} for k in batch["subjects"]
        }
    }  # a check of the same subjects (test_screening: a masked person searched)
    with store.reading() as connection:
        alice_key = connection.scalar(
            sa.select(subjects_table.c.id).where(subjects_table.c.identifier == ALICE)
        )
    get = client.get
    expected = {  # ALICE twice in the batch: one entry; the one not held: none
        ("GET", "/v1/checks/{subject_id}"): (lambda: get(f"/v1/checks/{ALICE}", headers=agency), 1),
        ("POST", "/v1/checks"): (lambda: client.post("/v1/checks", json=batch, headers=agency), 2),
        ("GET", "/v1/me/standing"): (lambda: get("/v1/me/standing", headers=alice), 1),
        ("GET", "/v1/me/report"): (lambda: get("/v1/me/report?format=json", headers=alice), 1),
        ("GET", "/v1/me/cases"): (lambda: get("/v1/me/cases", headers=alice), 1),
        ("GET", "/v1/me/notices"): (lambda: get("/v1/me/notices", headers=alice), 1),
        ("GET", "/v1/me/audit"): (lambda: get("/v1/me/audit", headers=alice), 1),
        ("GET", "/v1/subjects/{subject_id}/standing"): (
            lambda: get(f"/v1/subjects/{BOB}/standing?purpose=review", headers=op), 1
        ),
        ("GET", "/v1/queues/objections"): (lambda: get("/v1/queues/objections", headers=op), 1),
        ("GET", "/v1/queues/repairs"): (lambda: get("/v1/queues/repairs", headers=op), 0),
        ("GET", "/v1/queues/reviews"): (lambda: get("/v1/queues/reviews", headers=op), 1),
        ("GET", "/v1/corrections"): (lambda: get("/v1/corrections", headers=op), 0),
        ("POST", "/match/{dataset}"): (lambda: client.post(
            f"/match/{agency_dataset(AGENCY)}", json=screen, headers=agency), 2),
        ("GET", "/entities/{entity_id}"): (lambda: get(f"/entities/sc-person-{alice_key}"), 1),
        ("GET", "/search/{dataset}"): (lambda: get("/search/public?q=sc"), 0),  # no names here
    }  # fmt: skip
    for route, (call, subjects) in expected.items():
        assert entries(call) == subjects, route
    sign_in_with_link(client, keys.alice_link)
    assert entries(lambda: client.get("/me")) == 1
    assert entries(lambda: client.get("/me/report.pdf")) == 1
    client.cookies.clear()
    sign_in(client, keys.operator)
    assert entries(lambda: client.get("/operator/queues")) == 2  # ALICE's objection and review
    assert entries(lambda: client.get("/operator")) == 0  # counted, not shown
    assert entries(lambda: client.get("/operator/objections/1")) == 1  # the case's subject
    assert entries(lambda: client.get(f"/operator/subjects/{ALICE}")) == 1
    covered = set(expected) | {
        ("GET", "/me"),
        ("GET", "/me/report.pdf"),
        ("GET", "/operator/queues"),
        ("GET", "/operator/{kind}/{case_id}"),
        ("GET", "/operator/subjects/{subject_id}"),
        ("GET", "/v1/exchange/feed"),  # in the command test below, which sets up an exchange
    }
    assert covered == PERSONAL_ROUTES


# -- the command line ----------------------------------------------------------------------------

NOT_PERSONAL_COMMANDS = {
    "id check", "policy check", "policy list", "evaluate", "demo", "init", "policy publish",
    "furnisher add", "furnisher list", "furnisher batches", "ingest records", "ingest events",
    "refresh", "public subject", "public list", "notices send", "review request",
    "review decide", "objection file", "objection decide", "repair apply", "repair decide",
    "verify", "demo-data", "key create", "key link", "key list", "key revoke", "serve",
    "repair rules", "repair complete", "correction done", "erasure run", "export ftm",
    "peer add", "peer list", "agreement add", "exchange import", "exchange pull",
    "key exchange-init",
}  # fmt: skip
PERSONAL_COMMANDS = {
    "standing", "report", "notices list", "audit", "review list", "objection list",
    "repair list", "export ledger", "correction list", "exchange export",
}  # fmt: skip


def _commands(group: Any, prefix: str = "") -> set[str]:
    found = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (Typer's own, not click's class)
            found |= _commands(command, f"{prefix}{name} ")
        else:
            found.add(f"{prefix}{name}")
    return found


def test_every_command_is_classified() -> None:
    found = _commands(typer.main.get_command(cli_app))
    unclassified = found - PERSONAL_COMMANDS - NOT_PERSONAL_COMMANDS
    assert not unclassified, f"classify these commands: {unclassified}"
    assert not (PERSONAL_COMMANDS | NOT_PERSONAL_COMMANDS) - found


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_each_personal_command_adds_one_entry_per_subject_read(
    client: TestClient,
    keys: Keys,
    store: Store,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client.post(
        "/v1/me/objections", json={"record": "court/j1", "reason": "paid"}, headers=auth(keys.alice)
    )
    runner = CliRunner()
    db = settings.database_url

    def entries(*args: str) -> int:
        before = count(store, "audit_log")
        done = runner.invoke(cli_app, [*args, "--db", db])
        assert done.exit_code == 0, done.output
        return count(store, "audit_log") - before

    why = ("--purpose", "coverage test")
    report = str(tmp_path / "r.json")
    # An exchange with a peer that receives persons' judgment defaults (Alice's j1).
    init_key(tmp_path / "here.key")
    init_key(tmp_path / "peer.key")
    monkeypatch.setenv("SOCIALCREDIT_REGISTRY_ID", "here")
    monkeypatch.setenv("SOCIALCREDIT_EXCHANGE_KEY_FILE", str(tmp_path / "here.key"))
    public = (tmp_path / "peer.key.pub").read_text()
    add_peer(store, "peer", name="a peer", public_key=public, url="", by="test")
    add_agreement(
        store,
        "id: p\npeer: peer\nlegal_basis: law\npersons:\n  legal_basis: law\n"
        "  send: [court.judgment_default]\n",
        by="test",
    )
    calls = {
        "standing": ((("standing", ALICE, *why)), 1),
        "report": (("report", ALICE, "--format", "json", "--out", report, *why), 1),
        "notices list": (("notices", "list", ALICE, *why), 1),
        "audit": (("audit", ALICE, *why), 1),
        "review list": (("review", "list"), 0),
        "objection list": (("objection", "list"), 1),
        "repair list": (("repair", "list"), 0),
        "correction list": (("correction", "list"), 0),
        "export ledger": (("export", "ledger", "--out", str(tmp_path / "x"), *why), 1),
        "exchange export": (
            ("exchange", "export", "--peer", "peer", "--out", str(tmp_path / "e.zip"), *why),
            1,
        ),
    }
    for name, (args, subjects) in calls.items():
        assert entries(*args) == subjects, name
    assert set(calls) == PERSONAL_COMMANDS

    # The same delta over HTTP: the peer's key pulls the feed, one entry for Alice.
    served = settings.model_copy(
        update={"registry_id": "here", "exchange_key_file": tmp_path / "here.key"}
    )
    peer_key = create_key(store, served, role="peer", by="test", peer="peer").token
    with TestClient(create_app(served)) as peer_client:
        before = count(store, "audit_log")
        feed = peer_client.get("/v1/exchange/feed?since=0", headers=auth(peer_key))
        assert feed.status_code == 200, feed.text
        assert count(store, "audit_log") - before == 1

    # The CLI cannot read as the subject, and its actor is the login name.
    forged = runner.invoke(
        cli_app, ["standing", ALICE, *why, "--role", "subject", "--actor", "alice", "--db", db]
    )
    assert isinstance(forged.exception, UsageError) and "not as 'subject'" in str(forged.exception)
    with store.reading() as connection:
        actors = {a for (a,) in connection.execute(sa.text("SELECT DISTINCT actor FROM audit_log"))}
    assert f"{getpass.getuser()} (li)" not in actors  # (no --actor given above)
    assert getpass.getuser() in actors
