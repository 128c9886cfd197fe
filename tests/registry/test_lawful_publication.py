"""Lawful publication in the registry: impact before commitment (`policy publish --dry-run`),
a reason recorded with every version and its impact, notices that name the version, and the
refusal of a harsher back-dated version."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa

from socialcredit.registry.admin import publish_files
from socialcredit.registry.audit import Reader
from socialcredit.registry.impact import impact_of
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.notices import notices_of
from socialcredit.registry.policies import HarsherChange
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import ALICE, RECORD_HEADER, write_csv

READER = Reader("test", "operator", "testing publication")
SPC = (resources.files("socialcredit") / "data/schemes/spc-defaulters.yaml").read_text("utf-8")
CAAC = "Civil Aviation Administration of China (airlines)"


def milder() -> str:
    """SPC version 2, back-dated as version 1: ground (1) listed for one year, not five."""
    text = SPC.replace("version: 1", "version: 2", 1).replace(
        "    codes: [court.judgment_default]\n    duration: {years: 5}",
        "    codes: [court.judgment_default]\n    duration: {years: 1}",
    )
    assert text.count("{years: 1}") == 1
    return text


def harsher() -> str:
    text = SPC.replace("version: 1", "version: 2", 1).replace(
        "    duration: {years: 2}\n    extendable: {years: 3}",
        "    duration: {years: 3}\n    extendable: {years: 2}",
    )
    assert text.count("{years: 3}") == 1
    return text


@pytest.fixture
def listed(store: Store, settings: Settings, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        RECORD_HEADER,
        [("j1", ALICE, "court.judgment_default", "2025-06-01", "")],
    )
    ingest_records(store, path, settings=settings, furnisher_id="court")


@pytest.mark.usefixtures("listed")
def test_the_impact_of_a_version_before_it_is_published(store: Store, settings: Settings) -> None:
    found = impact_of(store, settings, milder(), source="v2.yaml")
    assert (found.scheme_id, found.version, found.replaces) == ("spc-defaulters", 2, 1)
    assert [(c.item, c.harsher) for c in found.changes] == [
        ("lists dishonest-judgment-defaulters", False)
    ]
    assert found.refused == []  # milder: it may be back-dated
    assert found.listed == {}
    assert found.delisted == {"dishonest-judgment-defaulters": 1}  # one year after 2025-06-01
    assert found.measures_lost[CAAC] == {"no-air-travel": 1}
    assert found.measures_gained == {}
    refused = impact_of(store, settings, harsher(), source="v2.yaml").refused
    assert len(refused) == 1 and "(lex mitior)" in refused[0]


@pytest.mark.usefixtures("listed")
def test_a_version_is_published_with_its_reason_and_impact_and_told_by_version(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "v2.yaml"
    path.write_text(harsher(), encoding="utf-8")
    with pytest.raises(HarsherChange, match="duration 2 years → 3 years is harsher"):
        publish_files(store, settings, [path], reason="longer listings", by="li")
    path.write_text(milder(), encoding="utf-8")
    published, _ = publish_files(store, settings, [path], reason="proportionality review", by="li")
    assert published[0].new and published[0].version == 2
    with store.reading() as connection:
        row = connection.execute(
            sa.text(
                "SELECT published_by, reason, changes, impact FROM policy_versions "
                "WHERE policy_id = 'spc-defaulters' AND version = 2"
            )
        ).one()
        logged = connection.execute(
            sa.text("SELECT state FROM admin_log WHERE action = 'scheme.published' ORDER BY seq")
        ).all()[-1]
    assert (row.published_by, row.reason) == ("li", "proportionality review")
    assert json.loads(row.changes) == [
        "lists dishonest-judgment-defaulters: duration 5 years → 1 year (milder)"
    ]
    assert json.loads(row.impact)["delisted"] == {"dishonest-judgment-defaulters": 1}
    state = json.loads(logged.state)
    assert state["reason"] == "proportionality review" and state["published_by"] == "li"
    texts = [n.text for n in notices_of(store, READER, ALICE)]
    assert any(
        "no longer on the black list" in t and "(spc-defaulters version 2)" in t for t in texts
    ), texts


@pytest.mark.usefixtures("listed")
def test_publish_dry_run_shows_the_impact_and_publishes_nothing(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "v2.yaml"

    def publish(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "socialcredit",
                "policy",
                "publish",
                str(path),
                *args,
                "--db",
                settings.database_url,
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    path.write_text(milder(), encoding="utf-8")
    shown = publish("--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "scheme spc-defaulters version 2 against version 1" in shown.stdout
    assert "milder   lists dishonest-judgment-defaulters: duration 5 years → 1 year" in shown.stdout
    assert "delisted on dishonest-judgment-defaulters: 1" in shown.stdout
    assert f"lose no-air-travel ({CAAC}): 1" in shown.stdout
    path.write_text(harsher(), encoding="utf-8")
    refused = publish("--dry-run", "--json")
    assert refused.returncode == 1
    assert "(lex mitior)" in json.loads(refused.stdout)["impact"][0]["refused"][0]
    with store.reading() as connection:
        versions = connection.scalar(
            sa.text("SELECT max(version) FROM policy_versions WHERE policy_id = 'spc-defaulters'")
        )
    assert versions == 1  # a dry run publishes nothing
