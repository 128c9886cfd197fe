"""A kill -9 of an ingest process in the middle of writing leaves no trace of the batch."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from socialcredit.identifiers import person_check_character
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.ledger import verify
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import RECORD_HEADER, count, write_csv

ROWS = 300_000


def big_file(path: Path) -> Path:
    rows = []
    for i in range(ROWS):
        body = f"110105{1950 + i % 50}0101{i % 1000:03d}"
        rows.append(
            (f"k{i}", body + person_check_character(body), "court.arrears", "2024-03-01", "")
        )
    return write_csv(path, RECORD_HEADER, rows)


def writer_holds_lock(store: Store, url: str) -> bool:
    if store.dialect == "sqlite":
        probe = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    with psycopg.connect(url) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'ledger' AND l.mode = 'ShareRowExclusiveLock' AND l.granted"
        ).fetchone()
        return bool(row and row[0])


@pytest.mark.slow
def test_kill_9_mid_ingest_leaves_the_store_as_before(
    store: Store, settings: Settings, store_url: str, tmp_path: Path
) -> None:
    path = big_file(tmp_path / "big.csv")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socialcredit",
            "ingest",
            "records",
            str(path),
            "--furnisher",
            "court",
            "--db",
            store_url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not writer_holds_lock(store, store_url):
            assert process.poll() is None, "the ingest ended before it began writing"
            assert time.monotonic() < deadline, "the ingest never took the writer lock"
            time.sleep(0.005)
        time.sleep(0.3)  # well into the inserts
        assert process.poll() is None, "the ingest finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    for table in ("batches", "ledger", "subjects"):
        assert count(store, table) == 0, table
    assert verify(store).problem is None
    # The same file goes in whole afterwards.
    report = ingest_records(store, path, settings=settings, furnisher_id="court")
    assert report.accepted == ROWS and count(store, "ledger") == ROWS
