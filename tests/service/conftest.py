"""Service fixtures: a registry with records about two persons and an organisation, a key for
every role, and the app in process (on SQLite and on the real PostgreSQL, like the store
tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from socialcredit.registry.access import create_key, create_login_link
from socialcredit.registry.ingest import ingest_records
from socialcredit.service.app import create_app
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from tests.registry.conftest import (  # noqa: F401  (fixtures)
    ACME,
    ALICE,
    BOB,
    RECORD_HEADER,
    settings,
    store,
    store_url,
    write_csv,
)

AGENCY = "Civil Aviation Administration of China (airlines)"
RAILWAY = "China State Railway Group"
ACME_NAME = "荣成远洋渔业有限公司"


@dataclass(frozen=True)
class Keys:
    operator: str
    furnisher: str  # the court
    other_furnisher: str  # traffic police
    agency: str
    railway: str
    alice: str  # subject key of ALICE
    bob: str  # subject key of BOB
    alice_link: str


def fill(store: Store, settings: Settings, folder: Path) -> None:  # noqa: F811
    recent = (settings.today() - dt.timedelta(days=20)).isoformat()
    rows = [  # the organisation's name comes with its record
        ("j1", ALICE, "court.judgment_default", recent, "", ""),
        ("j2", ACME, "court.judgment_default", recent, "90000", ACME_NAME),
        ("a1", BOB, "court.arrears", recent, "1200", ""),
    ]
    path = write_csv(folder / "court.csv", (*RECORD_HEADER, "subject_name"), rows)
    report = ingest_records(store, path, settings=settings, furnisher_id="court")
    assert report.rejected == 0, report.rejections


@pytest.fixture
def keys(store: Store, settings: Settings, tmp_path: Path) -> Keys:  # noqa: F811
    fill(store, settings, tmp_path)
    return Keys(
        operator=create_key(store, settings, role="operator", by="t", label="clerk wang").token,
        furnisher=create_key(store, settings, role="furnisher", by="t", furnisher="court").token,
        other_furnisher=create_key(
            store, settings, role="furnisher", by="t", furnisher="traffic"
        ).token,
        agency=create_key(
            store, settings, role="agency", by="t", agency=AGENCY, label="airport desk"
        ).token,
        railway=create_key(store, settings, role="agency", by="t", agency=RAILWAY).token,
        alice=create_key(store, settings, role="subject", by="t", subject=ALICE).token,
        bob=create_key(store, settings, role="subject", by="t", subject=BOB).token,
        alice_link=create_login_link(store, settings, subject=ALICE, by="t").token,
    )


@pytest.fixture
def client(settings: Settings, keys: Keys) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}
