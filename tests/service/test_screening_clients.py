"""The real screening clients, unchanged, against a running ``socialcredit serve`` (issue #16
part 3): OpenSanctions' ``yente-client`` SDK screening a CSV of organisations, nomenklatura's
yente enricher (its ``nk match`` command) matching an FtM file, and ``reconciler`` reconciling
a DataFrame over the W3C Reconciliation API. yente-client runs here; nomenklatura and
reconciler run in their own environment, ``.venv-clients`` (``make test`` installs it from
tests/clients/requirements.txt: nomenklatura needs duckdb<2, the registry pins duckdb 2)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from yente_client import Client
from yente_client.entities import Company, Person
from yente_client.exceptions import AuthenticationError, NotFoundError

from socialcredit.registry.access import create_key
from socialcredit.registry.audit import Reader, reads_of
from socialcredit.registry.screening import agency_dataset
from socialcredit.settings import Settings
from tests.registry.conftest import open_store

from .conftest import ACME, ACME_NAME, AGENCY, ALICE, fill

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / ".venv-clients" / "bin"
SERVE = Path(sys.executable).with_name("socialcredit")


@dataclass(frozen=True)
class Served:
    base: str
    agency: str
    database_url: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"sqlite:///{folder / 'registry.db'}"
    settings = Settings(database_url=url, public_url=base)
    store = open_store(settings)
    fill(store, settings, folder)
    agency = create_key(store, settings, role="agency", by="t", agency=AGENCY, label="gate").token
    store.engine.dispose()
    env = {**os.environ, "SOCIALCREDIT_PUBLIC_URL": base}
    log = (folder / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(SERVE), "serve", "--port", str(port), "--db", url, "--no-access-log"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (folder / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "socialcredit serve did not start"
            time.sleep(0.2)
        yield Served(base, agency, url)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _clients(tool: str) -> Path:
    path = CLIENTS / tool
    assert path.exists(), f"{path} is missing: `make test` installs it (tests/clients)"
    return path


def test_yente_client_screens_a_csv_of_organisations(served: Served, tmp_path: Path) -> None:
    sheet = tmp_path / "suppliers.csv"
    with sheet.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "name", "code"])
        writer.writerow(["1", ACME_NAME, ""])
        writer.writerow(["2", "", ACME])
        writer.writerow(["3", "Rongcheng Yuanyang Yuye Co., Ltd.", ""])
        writer.writerow(["4", "一家清白的公司", "91350100M000101B2Y"])
    with sheet.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))

    def entity(row: dict[str, str]) -> Company:
        return Company(
            name=[row["name"]] if row["name"] else [],
            registrationNumber=[row["code"]] if row["code"] else [],
        )

    with Client(base_url=served.base, app_name="socialcredit-tests") as client:
        assert client.healthz().status == "ok"
        assert client.readyz().status == "ready"
        assert [d.name for d in client.datasets().datasets] == ["public"]
        assert client.algorithms().best == "socialcredit-v1"
        screened = dict(client.match_iter(((r["row"], entity(r)) for r in rows), workers=2))
        found = client.search("远洋", datasets=["public"])
        fetched = client.fetch(f"sc-org-{ACME}")
    assert {key: [e.id for e in result.matches] for key, result in screened.items()} == {
        "1": [f"sc-org-{ACME}"],
        "2": [f"sc-org-{ACME}"],
        "3": [f"sc-org-{ACME}"],
        "4": [],
    }
    assert screened["2"].top is not None and screened["2"].top.score == 1.0
    assert screened["1"].top is not None and screened["1"].top.score < 1.0
    assert "name_match" in screened["1"].top.contributing_explanations
    assert [e.id for e in found.results] == [f"sc-org-{ACME}"]
    sanctions = fetched.properties["sanctions"]
    assert sanctions and all(not isinstance(s, str) and s.schema_ == "Sanction" for s in sanctions)


def test_yente_client_with_an_agency_key_checks_and_is_audited(served: Served) -> None:
    dataset = agency_dataset(AGENCY)
    with Client(
        base_url=served.base, api_key=served.agency, headers={"X-Purpose": "boarding"}
    ) as client:
        assert dataset in [d.name for d in client.datasets().datasets]
        result = client.match(Person(idNumber=[ALICE]), datasets=[dataset])
    assert result.top is not None and result.top.score == 1.0
    assert "No air travel" in (result.top.explanations["measures"].detail or "")
    with Client(base_url=served.base) as anonymous, pytest.raises(AuthenticationError):
        anonymous.match(Person(idNumber=[ALICE]), datasets=[dataset])
    with Client(base_url=served.base) as anonymous, pytest.raises(NotFoundError):
        anonymous.fetch("sc-org-nothing")
    store = open_store(Settings(database_url=served.database_url))
    try:
        reads = reads_of(store, Reader("clerk", "operator", "the test"), ALICE)
    finally:
        store.engine.dispose()
    assert ("gate", "boarding") in [(r.actor, r.purpose) for r in reads]


def test_nomenklatura_matches_an_ftm_file(served: Served, tmp_path: Path) -> None:
    entities = tmp_path / "entities.json"
    rows = [
        {"id": "q-acme", "schema": "Company", "properties": {"name": [ACME_NAME]}},
        {"id": "q-code", "schema": "Company", "properties": {"registrationNumber": [ACME]}},
        {"id": "q-none", "schema": "Company", "properties": {"name": ["一家清白的公司"]}},
    ]
    entities.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    config = tmp_path / "enricher.yml"
    config.write_text(
        "name: screened\ntitle: Screened\n"
        "type: nomenklatura.enrich.yente:YenteEnricher\n"
        f"api: {served.base}/\ndataset: default\ncache_days: 0\n",
        encoding="utf-8",
    )
    out = tmp_path / "matched.json"
    env = {**os.environ, "NOMENKLATURA_DB_URL": f"sqlite:///{tmp_path / 'nk.db'}"}
    done = subprocess.run(
        [str(_clients("nk")), "match", str(config), str(entities), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    candidates = [e for e in written if not e["id"].startswith("q-")]
    assert {e["id"] for e in candidates} == {f"sc-org-{ACME}"}
    assert all(e["schema"] == "Company" for e in candidates)
    assert ACME in candidates[0]["properties"]["registrationNumber"]
    assert "Traceback" not in done.stderr


def test_reconciler_reconciles_a_dataframe(served: Served) -> None:
    done = subprocess.run(
        [
            str(_clients("python")),
            str(ROOT / "tests" / "clients" / "reconcile_frame.py"),
            f"{served.base}/reconcile",
            ACME_NAME,
            "Rongcheng Yuanyang Yuye",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    frame = json.loads(done.stdout)
    assert [(r["input_value"], r["id"]) for r in frame] == [
        (ACME_NAME, ACME),
        ("Rongcheng Yuanyang Yuye", ACME),
    ]
    assert frame[0]["match"] is True and frame[0]["type_id"] == "Company"
