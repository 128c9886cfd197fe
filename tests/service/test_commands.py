"""The service's commands as a user runs them: keys, `serve`, and `demo --serve` (what `make
demo` ends with: the portal's address and a credential for every role)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import AGENCY, ALICE, Keys

ROOT = Path(__file__).resolve().parents[2]


def sc(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socialcredit", *args, "--db", db],
        capture_output=True,
        text=True,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def test_keys_from_the_command_line(store_url: str, keys: Keys) -> None:
    made = sc("key", "create", "--role", "agency", "--agency", AGENCY, "--json", db=store_url)
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert created["key"].startswith("sck_") and created["sign_in"] is None
    subject = sc("key", "create", "--role", "subject", "--subject", ALICE, db=store_url)
    assert "/login/link#token=scl_" in subject.stdout
    listed = sc("key", "list", "--json", db=store_url)
    found = json.loads(listed.stdout)
    assert any(c["id"] == created["id"] and c["agency"] == AGENCY for c in found)
    assert created["key"] not in listed.stdout  # secrets are never shown again
    assert sc("key", "revoke", str(created["id"]), db=store_url).returncode == 0
    twice = sc("key", "revoke", str(created["id"]), db=store_url)
    assert twice.returncode != 0 and "revoked already" in twice.stderr
    unknown = sc("key", "create", "--role", "agency", "--agency", "The Moon", db=store_url)
    assert unknown.returncode == 2 and "no scheme in force names the agency" in unknown.stderr
    unbound = sc("key", "create", "--role", "furnisher", db=store_url)
    assert unbound.returncode == 2 and "--furnisher" in unbound.stderr
    link = sc("key", "link", "--subject", ALICE, db=store_url)
    assert link.returncode == 0 and "scl_" in link.stdout


def test_serve(store_url: str, keys: Keys) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "socialcredit", "serve", "--port", str(port), "--db", store_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/readyz", process)
        checked = httpx.get(
            f"http://127.0.0.1:{port}/v1/checks/{ALICE}", headers={"X-API-Key": keys.agency}
        )
        assert checked.json()["measures"][0]["measure"] == "no-air-travel"
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_demo_serves_the_portal_with_a_credential_for_every_role(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socialcredit",
            "demo",
            "--persons",
            "1500",
            "--organisations",
            "150",
            "--out",
            str(tmp_path / "demo"),
            "--serve",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = []
        for line in process.stdout:
            printed.append(line)
            if "Ctrl-C stops the server" in line:
                break
        text = "".join(printed)
        assert f"The portal: http://127.0.0.1:{port}/" in text
        credentials = dict(re.findall(r"^\s+(\w+)\s+key (sck_\S+)", text, re.M))
        assert set(credentials) == {"operator", "furnisher", "agency", "subject"}
        link = re.search(r"sign-in link \(once\): (\S+)", text)
        assert link is not None
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/healthz", process)  # type: ignore[arg-type]
        for role, path in (
            ("operator", "/v1/queues/objections"),
            ("subject", "/v1/me/standing"),
            ("furnisher", "/v1/batches"),
        ):
            answer = httpx.get(base + path, headers={"X-API-Key": credentials[role]}, timeout=30)
            assert answer.status_code == 200, (role, answer.text)
        listed = re.search(r"\((\d{17}[\dX]), on the defaulters list\)", text)
        assert listed is not None
        check = httpx.get(
            f"{base}/v1/checks/{listed.group(1)}", headers={"X-API-Key": credentials["agency"]}
        )
        assert check.json()["measures"], check.text
        assert "Continue to my standing" in httpx.get(link.group(1)).text
        # the dashboard has a history of list sizes: the demo evaluated past month-ends
        with httpx.Client(base_url=base) as browser:
            page = browser.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token is not None
            browser.post(
                "/login",
                data={"key": credentials["operator"], "csrf": token.group(1), "next": ""},
            )
            dashboard = browser.get("/operator")
            assert "<polyline" in dashboard.text
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
