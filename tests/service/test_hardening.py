"""The API under hostile bodies: the corpus of tests/registry/hostile through /v1/records
(never a 5xx, the same rows kept and refused as by the CLI), bodies over their limits (413
with the limit said, before the body is read), policies bounded, one error model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from socialcredit.service.app import create_app
from socialcredit.settings import Settings

from .conftest import Keys, auth

CORPUS = Path(__file__).parent.parent / "registry" / "hostile"
MEDIA = {".csv": "text/csv", ".jsonl": "application/x-ndjson", ".json": "application/json"}


@pytest.fixture
def small(settings: Settings, keys: Keys) -> Iterator[TestClient]:
    limited = settings.model_copy(
        update={"max_batch_bytes": 4096, "max_json_batch_bytes": 2048, "max_policy_bytes": 1024}
    )
    with TestClient(create_app(limited)) as test_client:
        yield test_client


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir() if p.suffix in MEDIA))
def test_hostile_bodies_are_answered_row_by_row(name: str, client: TestClient, keys: Keys) -> None:
    path = CORPUS / name
    response = client.post(
        "/v1/records",
        content=path.read_bytes(),
        headers={**auth(keys.furnisher), "content-type": MEDIA[path.suffix]},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["accepted"] >= 1 and report["rejected"] >= 1
    assert report["rejected"] == len(report["rejections"])
    assert all(r["reason"] and r["field"] and len(r["reason"]) < 600 for r in report["rejections"])


def test_bodies_over_their_limit_are_refused_before_they_are_read(
    small: TestClient, keys: Keys
) -> None:
    def post(path: str, body: bytes, media: str, key: str = keys.furnisher) -> dict[str, str]:
        response = small.post(path, content=body, headers={**auth(key), "content-type": media})
        assert response.status_code == 413, response.text
        return dict(response.json()["error"])

    big = b"record_id,subject_id,code,occurred_on\n" + b"x,y,z,w\n" * 1000
    assert "larger than 4 KiB" in post("/v1/records", big, "text/csv")["message"]
    assert (
        "JSON-array"
        in post("/v1/records", b"[" + b"{}," * 1000 + b"{}]", "application/json")["message"]
    )
    big = b"id: x\n" + b"#" * 2000
    error = post("/v1/policies?reason=x", big, "application/yaml", keys.operator)
    assert error["code"] == "too_large" and "policy document" in error["message"]

    # A streamed body without Content-Length is cut off as soon as it passes the limit.
    def chunks() -> Iterator[bytes]:
        yield b"record_id,subject_id,code,occurred_on\n"
        for _ in range(10_000):
            yield b"x,y,z,w\n"

    streamed = small.post(
        "/v1/events", content=chunks(), headers={**auth(keys.furnisher), "content-type": "text/csv"}
    )
    assert streamed.status_code == 413


def test_one_error_model(client: TestClient, keys: Keys) -> None:
    bad_utf8 = client.post(
        "/v1/policies?reason=x",
        content=b"id: \xff\n",
        headers={**auth(keys.operator), "content-type": "application/yaml"},
    )
    assert bad_utf8.status_code == 400 and "not UTF-8" in bad_utf8.json()["error"]["message"]
    no_type = client.post("/v1/records", content=b"a,b\n", headers=auth(keys.furnisher))
    assert no_type.status_code == 415 and "missing" in no_type.json()["error"]["message"]
    forbidden = client.get("/v1/queues/objections", headers=auth(keys.alice)).json()["error"]
    assert forbidden["code"] == "forbidden"
    assert (
        forbidden["message"].startswith("a subject key")
        and "an operator key" in forbidden["message"]
    )
    review = client.post("/v1/me/reviews", json={"reason": " "}, headers=auth(keys.alice))
    message = review.json()["error"]["message"]
    assert review.status_code == 400 and "reason is required" in message and "--" not in message
    deep = client.post(
        "/v1/checks",
        content=b"[" * 100_000,
        headers={**auth(keys.agency), "content-type": "application/json"},
    )
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "invalid_json"


def test_every_other_body_is_capped_too(small: TestClient, keys: Keys, settings: Settings) -> None:
    limit = settings.max_request_bytes
    many = {"subjects": ["11010519491231002X"] * (limit // 20 + 10)}
    response = small.post("/v1/checks", json=many, headers=auth(keys.agency))
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut off as it passes the limit
        yield b'{"subjects": ['
        for _ in range(limit // 20 + 10):
            yield b'"11010519491231002X",'
        yield b'"11010519491231002X"]}'

    streamed = small.post(
        "/v1/checks",
        content=chunks(),
        headers={**auth(keys.agency), "content-type": "application/json"},
    )
    assert streamed.status_code == 413 and "the most this route takes" in streamed.text


def test_access_log_paths_are_private_by_default() -> None:
    from socialcredit.service.logs import private_path

    path = "/v1/checks/11010519491231002X?purpose=boarding%20check"
    assert private_path(path) == "/v1/checks/110105**********2X"
    assert private_path(path, queries=True, identifiers=True) == path
    org = "/public/subjects/91350100M000100Y43"
    assert private_path(org) == "/public/subjects/913501**********43"
    assert private_path("/static/htmx-2.0.10.min.js") == "/static/htmx-2.0.10.min.js"


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_forwarded_for_is_believed_from_trusted_proxies_only(
    trusted: str, settings: Settings, keys: Keys
) -> None:
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    from socialcredit.cli_service import proxy_options

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    served = settings.model_copy(
        update={"rate_public_burst": 3, "rate_public_per_second": 0.01, "trusted_proxies": trusted}
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(served),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            **proxy_options(served),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        statuses = [
            httpx.get(
                f"http://127.0.0.1:{port}/v1/public/lists",
                headers={"x-forwarded-for": f"203.0.113.{n}"},
            ).status_code
            for n in range(6)
        ]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    if trusted:  # six visitors behind the proxy: each has its own bucket
        assert statuses == [200] * 6
    else:  # one client rotating the header: still one bucket
        assert statuses[:3] == [200] * 3 and statuses[3:] == [429] * 3


def test_expensive_routes_are_limited_per_key(settings: Settings, keys: Keys) -> None:
    limited = settings.model_copy(
        update={"rate_reports_burst": 2, "rate_reports_per_second": 0.001, "rate_batches_burst": 1}
    )
    with TestClient(create_app(limited)) as client:
        reports = [
            client.get("/v1/me/report?format=json", headers=auth(keys.alice)).status_code
            for _ in range(3)
        ]
        assert reports == [200, 200, 429]
        refused = client.get("/v1/me/report?format=json", headers=auth(keys.alice))
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "rate_limited"
        # another subject's key has its own bucket
        assert client.get("/v1/me/report?format=json", headers=auth(keys.bob)).status_code == 200
        body = {"subjects": ["11010519491231002X"]}
        first = client.post("/v1/checks", json=body, headers=auth(keys.agency))
        second = client.post("/v1/checks", json=body, headers=auth(keys.agency))
        assert (first.status_code, second.status_code) == (200, 429)
        # single checks are not batch checks: their own, larger bucket
        assert (
            client.get("/v1/checks/11010519491231002X", headers=auth(keys.agency)).status_code
            == 200
        )
