"""The registry's commands end to end, as a user runs them, on both stores."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socialcredit.cli import app

from .conftest import ALICE, BOB, EVENT_HEADER, RECORD_HEADER, write_csv

ROOT = Path(__file__).resolve().parents[2]


def sc(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socialcredit", *args, "--db", db],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_a_registry_from_init_to_standing(store_url: str, tmp_path: Path) -> None:
    empty = sc("verify", db=store_url)
    assert empty.returncode == 1 and "socialcredit init" in empty.stderr

    first = sc("init", db=store_url)
    assert first.returncode == 0, first.stderr
    assert "scheme spc-defaulters version 1: published" in first.stdout
    again = sc("init", "--json", db=store_url)
    assert again.returncode == 0
    assert all(not p["new"] for p in json.loads(again.stdout)["published"])

    added = sc(
        "furnisher",
        "add",
        "court",
        "--name",
        "荣成市人民法院",
        "--codes",
        "court.judgment_default,court.arrears",
        db=store_url,
    )
    assert added.returncode == 0 and "added" in added.stdout
    unknown = sc("furnisher", "add", "x", "--name", "X", "--codes", "no.such", db=store_url)
    assert unknown.returncode == 2 and "no.such" in unknown.stderr

    records = write_csv(
        tmp_path / "court.csv",
        (*RECORD_HEADER, "subject_name"),
        [
            ("j1", ALICE, "court.judgment_default", "2026-02-01", "90000", "张三"),
            ("j2", BOB, "court.judgment_default", "2026-03-01", "", "李四"),
            ("j3", "123", "court.judgment_default", "2026-03-01", "", ""),
        ],
    )
    ingested = sc("ingest", "records", str(records), "--furnisher", "court", db=store_url)
    assert ingested.returncode == 0, ingested.stderr
    assert "2 records added" in ingested.stdout and "1 rejected" in ingested.stdout
    assert f"{records}.rejects.csv" in ingested.stdout
    assert "current standings of 2 subjects updated online" in ingested.stdout
    assert "subject_id" in (tmp_path / "court.csv.rejects.csv").read_text(encoding="utf-8")
    repeat = sc("ingest", "records", str(records), "--furnisher", "court", db=store_url)
    assert "already ingested as batch 1" in repeat.stdout

    shown_batches = sc("furnisher", "batches", "court", "--json", db=store_url)
    assert shown_batches.returncode == 0, shown_batches.stderr
    [batch] = json.loads(shown_batches.stdout)
    assert (batch["rows_read"], batch["accepted"], batch["rejected"]) == (3, 2, 1)
    assert batch["rejection_rate"] == 0.3333
    events = write_csv(tmp_path / "ev.csv", EVENT_HEADER, [("j2", "fulfilled", "2026-04-01")])
    done = sc("ingest", "events", str(events), "--furnisher", "court", "--json", db=store_url)
    assert done.returncode == 0 and json.loads(done.stdout)["accepted"] == 1

    evaluated = sc("evaluate", "--scheme", "spc-defaulters", "--json", db=store_url)
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads(evaluated.stdout)
    assert summary["subjects"] == 2 and summary["lists"] == {"dishonest-judgment-defaulters": 1}

    unexplained = sc("standing", ALICE, db=store_url)
    assert unexplained.returncode == 2 and "--purpose is required" in unexplained.stderr
    shown = sc(
        "standing", ALICE, "--scheme", "spc-defaulters", "--json", "--purpose", "test", db=store_url
    )
    assert shown.returncode == 0, shown.stderr
    standing = json.loads(shown.stdout)["standings"]["spc-defaulters"]["standing"]
    assert standing["lists"] == ["dishonest-judgment-defaulters"]
    [item] = standing["explanation"]["records"]
    assert (item["furnisher"], item["record_id"]) == ("court", "j1")
    readable = sc("standing", ALICE, "--purpose", "objection review", "--actor", "li", db=store_url)
    assert "court/j1" in readable.stdout and "no-air-travel" in readable.stdout

    # A new scheme version is published once; a changed text under a published version is
    # refused with the version to use instead.
    text = (ROOT / "src/socialcredit/data/schemes/spc-defaulters.yaml").read_text(encoding="utf-8")
    v2 = tmp_path / "spc-v2.yaml"
    v2.write_text(text.replace("version: 1", "version: 2", 1), encoding="utf-8")
    unsaid = sc("policy", "publish", str(v2), db=store_url)
    assert unsaid.returncode == 2 and "--reason" in unsaid.stderr
    published = sc("policy", "publish", str(v2), "--reason", "annual review", db=store_url)
    assert published.returncode == 0, published.stderr
    assert "scheme spc-defaulters version 2 published" in published.stdout
    again = sc("policy", "publish", str(v2), "--reason", "again", db=store_url)
    assert "already published" in again.stdout
    v2.write_text(text.replace("version: 1", "version: 2", 1) + "\n# edited\n", encoding="utf-8")
    refused = sc("policy", "publish", str(v2), "--reason", "an edit", db=store_url)
    assert refused.returncode == 1 and "publish this text as version 3" in refused.stderr

    audited = sc("audit", ALICE, "--purpose", "subject's request", "--json", db=store_url)
    assert audited.returncode == 0, audited.stderr
    reads = json.loads(audited.stdout)
    assert [(r["actor"], r["purpose"], r["what"]) for r in reads][-1] == (
        f"{getpass.getuser()} (li)",  # the login name, with the declared name beside it
        "objection review",
        "standing:all",
    )
    assert len(reads) == 2

    public = sc("public", "subject", ALICE, "--json", db=store_url)
    assert public.returncode == 0, public.stderr
    shown_publicly = json.loads(public.stdout)
    assert shown_publicly["identifier"] == ALICE[:6] + "*" * 10 + ALICE[-2:]
    assert shown_publicly["name"] == "张*" and shown_publicly["records"] == []
    listed = sc("public", "list", "spc-defaulters", "dishonest-judgment-defaulters", db=store_url)
    assert listed.returncode == 0 and "张*" in listed.stdout and ALICE not in listed.stdout

    asked = sc("review", "request", ALICE, "--reason", "I paid", "--json", db=store_url)
    assert asked.returncode == 0, asked.stderr
    review_id = str(json.loads(asked.stdout)["id"])
    queue = sc("review", "list", db=store_url)
    assert queue.returncode == 0 and "I paid" in queue.stdout
    both = sc("review", "decide", review_id, "--reason", "r", "--by", "li", db=store_url)
    assert both.returncode == 2 and "exactly one of --confirm and --correct" in both.stderr
    decided = sc(
        "review", "decide", review_id, "--confirm", "--reason", "unpaid", "--by", "li", db=store_url
    )
    assert decided.returncode == 0 and "confirmed" in decided.stdout
    twice = sc(
        "review", "decide", review_id, "--correct", "--reason", "x", "--by", "li", db=store_url
    )
    assert twice.returncode == 1 and "already decided" in twice.stderr

    filed = sc("objection", "file", BOB, "court/j2", "--reason", "not me", "--json", db=store_url)
    assert filed.returncode == 0, filed.stderr
    objection_id = str(json.loads(filed.stdout)["id"])
    marked = sc("standing", BOB, "--purpose", "check", db=store_url)
    assert f"UNDER OBJECTION {objection_id}" in marked.stdout
    upheld = sc(
        "objection",
        "decide",
        objection_id,
        "--uphold",
        "--reason",
        "wrong person",
        "--by",
        "li",
        db=store_url,
    )
    assert upheld.returncode == 0 and "upheld" in upheld.stdout
    early = sc("repair", "apply", ALICE, "court/j1", "--evidence", "paid", db=store_url)
    assert early.returncode == 1 and "commitment" in early.stderr

    verified = sc("verify", db=store_url)
    # 2 records, a fulfilment, the objection's `objected` and `objection_lapsed` events (the
    # lapse, dated the day after the due date, never came to pass) and the retraction.
    assert verified.returncode == 0 and "ledger intact: 6 entries" in verified.stdout
    assert "audit log intact: 5 entries" in verified.stdout  # the review queue read, too
    reported = sc(
        "report", BOB, "--format", "json", "--out", str(tmp_path / "b.json"), db=store_url
    )
    assert reported.returncode == 0 and "free of charge" in reported.stdout, reported.stderr
    report = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert {r["record"]: r["status"] for r in report["records"]}["court/j2"] == "retracted"
    refreshed = sc("refresh", "--json", db=store_url)
    assert refreshed.returncode == 0 and json.loads(refreshed.stdout)["pending_batches"] == 0
    # Nothing here is past its retention: the daily erasure run erases nothing, and says so.
    counted = sc("erasure", "run", "--dry-run", "--json", db=store_url)
    assert counted.returncode == 0 and json.loads(counted.stdout)["due"] == 0, counted.stderr
    erased = sc("erasure", "run", db=store_url)
    assert erased.returncode == 0 and "0 records erased" in erased.stdout, erased.stderr
    # The public lists as FtM entities: one line per entity, as many as the command says.
    ftm = tmp_path / "lists.ftm.json"
    exported = sc("export", "ftm", "--out", str(ftm), "--json", db=store_url)
    assert exported.returncode == 0, exported.stderr
    done = json.loads(exported.stdout)
    lines = ftm.read_text(encoding="utf-8").splitlines()
    assert len(lines) == done["organisations"] + done["persons"] + done["sanctions"]
    assert done["lists"] >= 1


def test_every_registry_command_explains_itself() -> None:
    commands = [
        ("init",),
        ("policy", "publish"),
        ("furnisher", "add"),
        ("furnisher", "list"),
        ("furnisher", "batches"),
        ("ingest", "records"),
        ("ingest", "events"),
        ("evaluate",),
        ("standing",),
        ("refresh",),
        ("erasure", "run"),
        ("export", "ftm"),
        ("verify",),
        ("demo-data",),
        ("audit",),
        ("public", "subject"),
        ("public", "list"),
        ("notices", "list"),
        ("notices", "send"),
        ("review", "request"),
        ("review", "list"),
        ("review", "decide"),
        ("objection", "file"),
        ("objection", "list"),
        ("objection", "decide"),
        ("repair", "apply"),
        ("repair", "list"),
        ("repair", "decide"),
        ("repair", "rules"),
        ("report",),
        ("export", "ledger"),
        ("peer", "add"),
        ("peer", "list"),
        ("agreement", "add"),
        ("exchange", "export"),
        ("exchange", "import"),
        ("exchange", "pull"),
        ("key", "exchange-init"),
    ]
    for command in commands:  # in-process: the Typer app the console script runs
        shown = CliRunner().invoke(app, [*command, "--help"])
        assert shown.exit_code == 0, command
        assert "Usage" in shown.output and len(shown.output) > 300, command


def test_repair_rules_show_the_version_in_force_on_a_day() -> None:
    def rules(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "socialcredit", "repair", "rules", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    shown = json.loads(rules("--on", "2026-03-31", "--json").stdout)
    assert [(v["legal_basis"].split()[0], v["in_force"]) for v in shown] == [
        ("ndrc-order-58", True),
        ("ndrc-order-36", False),
    ]
    assert shown[1]["tiers"]["serious"] == {
        "published": True,
        "publication": "3 years",
        "repair_after": "1 year",
    }
    text = rules("--on", "2026-04-01").stdout
    assert "in force on 2026-04-01" in text and "NDRC Order No. 36" in text
    bad = rules("--on", "April")
    assert bad.returncode == 2 and "--on 'April' is not a date" in bad.stderr
