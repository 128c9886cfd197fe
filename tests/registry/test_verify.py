"""`verify` covers every table an answer is made from: each tampering below — done as an
insider with write access to the store would, behind the registry's back — is named."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from socialcredit.registry.access import create_key, revoke
from socialcredit.registry.audit import Reader, record_read
from socialcredit.registry.chain import GENESIS, text_v3
from socialcredit.registry.due_process import file_objection
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.ledger import PERSONAL_FIELDS, PLAIN_FIELDS, personal_digest
from socialcredit.registry.verify import (
    checkpoint,
    compare_checkpoint,
    read_checkpoint,
    verify_all,
    write_checkpoint,
)
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import ACME, ALICE, BOB, RECORD_HEADER, write_csv

READER = Reader("clerk", "operator", "tamper test")


def fill(store: Store, settings: Settings, tmp_path: Path) -> int:
    """Three subjects, a listing, an objection, reads in the audit, a revoked key."""
    recent = (settings.today() - dt.timedelta(days=20)).isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            (*RECORD_HEADER, "subject_name"),
            [
                ("j1", ALICE, "court.judgment_default", recent, "", "张三"),
                ("j2", ACME, "court.judgment_default", recent, "9000", "某某有限公司"),
                ("a1", BOB, "court.arrears", recent, "700", "李四"),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )
    file_objection(store, settings, BOB, "court/a1", reason="paid")
    for identifier, key in ((ALICE, 1), (ACME, 2), (BOB, 3)):
        record_read(store, READER, key, identifier, "standing:all")
    issued = create_key(store, settings, role="operator", by="t", label="clerk")
    revoke(store, issued.credential.id, by="t")
    assert verify_all(store, settings).intact
    return issued.credential.id


def execute(store: Store, *statements: str) -> None:
    with store.engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))


TAMPERING: dict[str, tuple[Callable[[Store, int], None], str, str]] = {
    "an edited standing": (
        lambda s, _k: execute(
            s,
            "UPDATE standings SET lists = '[]', measures = '[]' "
            "WHERE scheme_id = 'spc-defaulters' AND subject_id = 1",
        ),
        "standings",
        f"spc-defaulters: {ALICE}: lists [] stored",
    ),
    "a deleted listing row": (
        lambda s, _k: execute(s, "DELETE FROM standing_lists WHERE subject_id = 2"),
        "standings",
        f"spc-defaulters: {ACME}: list dishonest-judgment-defaulters dates -..- stored",
    ),
    "a truncated audit tail": (
        lambda s, _k: execute(s, "DELETE FROM audit_log WHERE seq >= 2"),
        "audit_log",
        "cut off the end (the last good entry is 1)",
    ),
    "an un-revoked credential": (
        lambda s, k: execute(s, f"UPDATE credentials SET revoked_us = NULL WHERE id = {k}"),
        "admin",
        "revoked_us is None in the store",
    ),
    "a forged portal session": (
        lambda s, k: execute(
            s,
            "INSERT INTO sessions (token_hash, credential_id, csrf, created_us, expires_us) "
            f"VALUES ('{'ab' * 32}', {k}, 'x', 1, 99999999999999999)",
        ),
        "admin",
        "is in the store but not in the admin log",
    ),
    "an edited furnisher authorisation": (
        lambda s, _k: execute(
            s,
            """UPDATE furnishers SET codes = '["court.arrears","court.breach_found","""
            """"court.judgment_default","tax.arrears"]' WHERE id = 'court'""",
        ),
        "admin",
        "furnisher court differs from the admin log: codes",
    ),
    "an edited policy text": (
        lambda s, _k: execute(
            s,
            "UPDATE policy_versions SET source = source || ' ' "
            "WHERE kind = 'scheme' AND policy_id = 'spc-defaulters'",
        ),
        "admin",
        "its text does not match its published digest",
    ),
    "an edited subject name": (
        lambda s, _k: execute(s, "UPDATE subjects SET name = '王五' WHERE id = 1"),
        "ledger",
        "entry 1 does not match its hash",
    ),
    "an objection's deadline moved": (  # to keep the record counting past its lapse
        lambda s, _k: execute(s, "UPDATE objections SET due = '2099-12-30'"),
        "cases",
        "its deadline was changed after filing",
    ),
    "an objection marked upheld": (
        lambda s, _k: execute(s, "UPDATE objections SET outcome = 'upheld'"),
        "cases",
        "is upheld but its record is not retracted",
    ),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_verify_names_each_tampering(
    store: Store, settings: Settings, tmp_path: Path, kind: str
) -> None:
    key = fill(store, settings, tmp_path)
    tamper, where, message = TAMPERING[kind]
    tamper(store, key)
    outcome = verify_all(store, settings)
    assert not outcome.intact
    found = {
        "ledger": [c.problem or "" for c in outcome.chains if c.chain == "ledger"],
        "audit_log": [c.problem or "" for c in outcome.chains if c.chain == "audit_log"],
        "admin": outcome.admin,
        "cases": outcome.cases,
        "standings": outcome.standings,
    }[where]
    assert any(message in problem for problem in found), found


def _rewrite_ledger(store: Store, seq: int, amount: str) -> None:
    """A self-consistent rewrite from ``seq`` on: the amount changed, its personal digest and
    every later hash recomputed (v3), the batch rows and the anchored head made to match —
    verify alone passes."""
    personal = ", ".join(
        {"subject": "s.identifier", "subject_name": "s.name", "subject_region": "s.region"}.get(
            f, f"l.{f}"
        )
        for f in PERSONAL_FIELDS
    )
    plain = ", ".join(f"l.{f}" for f in ("seq", "batch_id", "recorded_us", *PLAIN_FIELDS))
    with store.engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE ledger SET amount = '{amount}' WHERE seq = {seq}"))
        rows = connection.execute(
            sa.text(
                f"SELECT {plain}, l.salt, {personal} FROM ledger l "
                "JOIN subjects s ON s.id = l.subject_id ORDER BY l.seq"
            )
        ).all()
        previous = GENESIS
        for row in rows:
            values = [str(v) if isinstance(v, dt.date) else v for v in row]
            plain = 3 + len(PLAIN_FIELDS)
            fields, salt, content = values[:plain], values[plain], values[plain + 1 :]
            digest_of_content = personal_digest(salt, content)
            digest = hashlib.sha256(
                (previous + text_v3([*fields, digest_of_content])).encode()
            ).hexdigest()
            connection.execute(
                sa.text("UPDATE ledger SET hash = :h, personal = :p WHERE seq = :s"),
                {"h": digest, "p": digest_of_content, "s": row[0]},
            )
            connection.execute(
                sa.text("UPDATE batches SET last_hash = :h WHERE last_seq = :s"),
                {"h": digest, "s": row[0]},
            )
            previous = digest
        connection.execute(
            sa.text("UPDATE chain_heads SET hash = :h WHERE chain = 'ledger'"), {"h": previous}
        )


def test_a_checkpoint_catches_a_rewritten_history_that_verifies_by_itself(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)
    path = tmp_path / "checkpoint.json"
    write_checkpoint(path, checkpoint(store, settings))
    published = read_checkpoint(path)
    assert published["chains"]["ledger"]["seq"] >= 4
    assert verify_all(store, settings, against=published).intact
    # the registry goes on: a later chain still extends the checkpoint
    record_read(store, READER, 1, ALICE, "standing:all")
    assert verify_all(store, settings, against=published).intact
    _rewrite_ledger(store, 2, "1")
    alone = verify_all(store, settings)
    assert [c.problem for c in alone.chains] == [None, None, None]
    against = verify_all(store, settings, against=published)
    assert not against.intact
    assert any("rewritten" in p for p in against.checkpoint), against.checkpoint


def test_a_checkpoint_is_a_document_and_a_bad_one_is_refused(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)
    document = checkpoint(store, settings)
    assert set(document["chains"]) == {"ledger", "audit_log", "admin_log"}
    assert document["format"] == "socialcredit-checkpoint/1"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "x"}), encoding="utf-8")
    with pytest.raises(Exception, match="not a socialcredit-checkpoint/1"):
        read_checkpoint(bad)
    ahead = {**document, "chains": {**document["chains"], "audit_log": {"seq": 999, "hash": "0"}}}
    with store.reading() as connection:
        [problem] = compare_checkpoint(connection, ahead)
    assert "no longer has entry 999" in problem
