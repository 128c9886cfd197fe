"""The chains' canonical encoding: one definition (v2, length-prefixed) in Python and in DuckDB,
unambiguous whatever a field holds; v1 chains from before the migration still verify."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from socialcredit.errors import UsageError
from socialcredit.registry.admin import init_store
from socialcredit.registry.audit import Reader, record_read, verify_audit
from socialcredit.registry.chain import GENESIS, field_v2, field_v2_sql, text_v1, text_v2
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.ledger import PERSONAL_FIELDS, personal_digest, rest_sql, rest_text
from socialcredit.settings import Settings
from socialcredit.store.db import Store, _alembic_config

from .conftest import ALICE, BOB, RECORD_HEADER, write_csv

TEXT = st.text(st.characters(codec="utf-8"), max_size=30)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), min_size=1, max_size=6))
def test_the_sql_encoding_is_the_python_encoding(values: list[str | None]) -> None:
    con = duckdb.connect()
    try:
        params = ", ".join(f"CAST(? AS VARCHAR) AS c{i}" for i in range(len(values)))
        con.execute(f"CREATE TABLE t AS SELECT {params}", values)
        sql = " || ".join(field_v2_sql(f"c{i}") for i in range(len(values)))
        [(found,)] = con.execute(f"SELECT {sql} FROM t").fetchall()
    finally:
        con.close()
    assert found == "".join(field_v2(v) for v in values)


@hypothesis_settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), min_size=2, max_size=5))
def test_moving_content_between_fields_changes_the_v2_text(values: list[str | None]) -> None:
    first = values[0] or ""
    if not first:
        return
    moved = [first[:-1], (first[-1] + (values[1] or "")), *values[2:]]
    assert text_v2(values) != text_v2(moved) or values == moved


def test_the_ledgers_rest_is_one_definition(store: Store) -> None:
    fields = {
        "entry": "record",
        "furnisher": "court",
        "record_id": "a\u001fb",
        "subject": ALICE,
        "subject_name": "张三",
        "code": "court.arrears",
        "occurred_on": "2026-01-02",
        "amount": "12.50",
    }
    con = duckdb.connect()
    try:
        sql = rest_sql("1", **{k: f"'{v}'" for k, v in fields.items()})
        [(salt, personal, found)] = con.execute(f"SELECT {sql}").fetchall()
    finally:
        con.close()
    # The salt is drawn afresh for every batch: the SQL's digest is the Python one over it.
    assert len(salt) == 64 and salt != rest_sql("1").split("'")[1]
    values = [fields.get(name) for name in PERSONAL_FIELDS]
    assert personal == personal_digest(salt, values)
    python_salt, python_personal, python_rest = rest_text(**fields)
    assert python_personal == personal_digest(python_salt, values) != personal
    assert found == python_rest.replace(python_personal, personal)
    # The personal content is not in the chained text, only its digest is.
    assert "张三" not in found and ALICE not in found and "12.50" not in found
    with pytest.raises(ValueError, match="not a ledger field"):
        rest_sql("1", colour="'red'")


def test_the_unit_separator_reattribution_no_longer_verifies(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Under v1 a purpose holding U+001F let an insider move a check to another subject with
    the chain intact. Such purposes are refused now; and an entry that holds one anyway (made
    before the refusal) cannot be moved under v2."""
    with pytest.raises(UsageError, match="control characters"):
        Reader("clerk", "agency", f"check\u001f{BOB}")
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [
                ("a1", ALICE, "court.arrears", "2026-01-02", "5"),
                ("b1", BOB, "court.arrears", "2026-01-02", "5"),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )
    hostile = object.__new__(Reader)  # as an entry written before purposes were checked
    for name, value in (("actor", "desk"), ("role", "agency"), ("purpose", f"p\u001f{BOB}")):
        object.__setattr__(hostile, name, value)
    record_read(store, hostile, 1, ALICE, "check")
    assert verify_audit(store).problem is None
    # The attack: the same v1 text, the entry now about Bob.
    original = ("1", "9", "desk", "agency", f"p\u001f{BOB}", ALICE, "check")
    moved = ("1", "9", "desk", "agency", "p", BOB, f"{ALICE}\u001fcheck")
    assert text_v1(original) == text_v1(moved)
    assert text_v2(original) != text_v2(moved)
    with store.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE audit_log SET purpose = 'p', subject_id = 2, what = :w WHERE seq = 1"),
            {"w": f"{ALICE}\u001fcheck"},
        )
    found = verify_audit(store)
    assert found.problem is not None and "entry 1 does not match" in found.problem


def test_ingest_refuses_control_characters_in_chained_identifiers_row_by_row(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    report = ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [
                ("ok-1", ALICE, "court.arrears", "2026-01-02", "5"),
                ("bad\u001f2", BOB, "court.arrears", "2026-01-02", "5"),
                ("bad\u00073", BOB, "court.arrears", "2026-01-02", "5"),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )
    assert report.accepted == 1
    assert [(r.row, r.field, r.problem) for r in report.rejections] == [
        (2, "record_id", "control_characters"),
        (3, "record_id", "control_characters"),
    ]
    assert report.rejects_path is not None
    text = report.rejects_path.read_text(encoding="utf-8")
    assert "holds control characters" in text and "must be printable text" in text


def _v1_audit_row(previous: str, seq: int, subject_key: int, identifier: str) -> dict[str, object]:
    values = (seq, 1_000 + seq, "clerk", "operator", "old read", identifier, "standing:all")
    digest = hashlib.sha256(f"{previous}\u001f{text_v1(values)}".encode()).hexdigest()
    return {
        "seq": seq,
        "at_us": 1_000 + seq,
        "actor": "clerk",
        "role": "operator",
        "purpose": "old read",
        "subject_id": subject_key,
        "what": "standing:all",
        "hash": digest,
    }


def test_a_v1_chain_from_before_the_migration_still_verifies_and_goes_on_in_v2(
    store_url: str,
) -> None:
    store = Store(store_url)
    try:
        with store.engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "0008")
        with store.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO subjects (id, identifier, kind, first_recorded_us) "
                    f"VALUES (1, '{ALICE}', 'person', 1)"
                )
            )
            previous = GENESIS
            for seq in (1, 2):
                row = _v1_audit_row(previous, seq, 1, ALICE)
                connection.execute(
                    sa.text(
                        "INSERT INTO audit_log VALUES (:seq, :at_us, :actor, :role, :purpose, "
                        ":subject_id, :what, :hash)"
                    ),
                    row,
                )
                previous = str(row["hash"])
        settings_ = Settings(database_url=store_url)
        done = init_store(store, settings_)
        assert done.schema_from == "0008"
        assert verify_audit(store).problem is None
        record_read(store, Reader("clerk", "operator", "new read"), 1, ALICE, "standing:all")
        checked = verify_audit(store)
        assert checked.problem is None and checked.entries == 3
        with store.engine.begin() as connection:
            connection.execute(sa.text("UPDATE audit_log SET purpose = 'edited' WHERE seq = 1"))
        assert "entry 1 does not match" in (verify_audit(store).problem or "")
    finally:
        store.engine.dispose()


def test_a_new_store_is_v2_from_the_start(store: Store) -> None:
    with store.reading() as connection:
        heads = dict(connection.execute(sa.text("SELECT chain, v2_from FROM chain_heads")).all())
    assert heads == {"ledger": 1, "audit_log": 1, "admin_log": 1}
