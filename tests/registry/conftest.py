"""Store fixtures: every store test runs on SQLite and on the real PostgreSQL.

PostgreSQL is found at $SOCIALCREDIT_TEST_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test.
A missing server is a failure, not a skip. Each test gets its own schema there, dropped after.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from socialcredit.registry.admin import init_store
from socialcredit.registry.audit import Reader
from socialcredit.registry.checks import Checker
from socialcredit.registry.policies import add_furnisher
from socialcredit.settings import Settings
from socialcredit.store.db import Store

POSTGRES_URL = os.environ.get(
    "SOCIALCREDIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")

# Valid identifiers used across the tests.
ALICE = "11010519491231002X"  # a person
BOB = "110105199001011232"  # a person
ACME = "91350100M000100Y43"  # an organisation
RESIDENT = "371082198001011234"  # a person of Rongcheng (371082), in its scheme's scope


def _postgres_schema_url() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is required for the store tests and is not reachable at {POSTGRES_URL} "
            f"(set SOCIALCREDIT_TEST_POSTGRES_URL): {error}"
        )
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            separator = "&" if "?" in POSTGRES_URL else "?"
            yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(database_url=store_url)


def open_store(settings: Settings) -> Store:
    """A store at the settings' URL, migrated, with the court and the traffic police."""
    store = Store(settings.database_url)
    init_store(store, settings)
    with store.writing() as connection:
        add_furnisher(
            connection,
            "court",
            "荣成市人民法院",
            ["court.judgment_default", "court.arrears", "court.breach_found"],
            update=False,
        )
        add_furnisher(
            connection,
            "traffic",
            "Traffic police",
            ["traffic.ticket", "traffic.red_light"],
            update=False,
        )
    return store


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = open_store(settings)
    yield store
    store.engine.dispose()


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


RECORD_HEADER = ("record_id", "subject_id", "code", "occurred_on", "amount")
EVENT_HEADER = ("record_id", "event", "date")


def count(store: Store, table: str) -> int:
    with store.reading() as connection:
        return int(connection.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)


AIRLINES = "Civil Aviation Administration of China (airlines)"
CHECKER = Reader("test", "operator", "testing the registry")


def measures_at_the_airport(store: Store, settings: Settings, identifier: str) -> list[str]:
    """What a check at the airlines' counter answers now (read-only, audit aside)."""
    checker = Checker(store, settings)
    try:
        prepared = checker.prepare(AIRLINES, [identifier], reader=CHECKER)
    finally:
        checker.close()
    return [m.measure for m in prepared.results[0].measures]
