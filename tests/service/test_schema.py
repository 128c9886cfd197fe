"""schemathesis against /openapi.json: generated requests to every operation — valid ones and,
in negative mode, ones that break the schema — with a key of the role each operation is for,
must never get a server error, every response must match the schema (a status the route
documents, content type, body), and negative data must be refused with a 4xx. The OpenAPI
document itself: per route only the statuses the route can give, enums and dates typed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from socialcredit.registry import access, audit
from socialcredit.registry.access import create_key
from socialcredit.service import models as m
from socialcredit.service.app import create_app
from socialcredit.settings import Settings
from tests.registry.conftest import open_store

from .conftest import AGENCY, ALICE, fill

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ROLE_OF_TAG = {
    "checks": "agency",
    "furnishers": "furnisher",
    "subjects": "subject",
    "operators": "operator",
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    app_settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'registry.db'}",
        rate_public_per_second=1e6,
        rate_public_burst=1_000_000,
    )
    store = open_store(app_settings)
    fill(store, app_settings, tmp_path)
    keys = {
        "operator": create_key(store, app_settings, role="operator", by="t").token,
        "furnisher": create_key(
            store, app_settings, role="furnisher", by="t", furnisher="court"
        ).token,
        "agency": create_key(store, app_settings, role="agency", by="t", agency=AGENCY).token,
        "subject": create_key(store, app_settings, role="subject", by="t", subject=ALICE).token,
    }
    app = create_app(app_settings)
    state = app.state.socialcredit
    state.start()  # the ASGI calls below do not run the lifespan
    try:
        yield app, keys
    finally:
        state.stop()
        store.engine.dispose()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_responses_match_the_schema(
    api: tuple[Any, dict[str, str]], mode: GenerationMode
) -> None:
    app, keys = api
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    exercised, unbreakable = 0, []
    for operation in operations:
        raw = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not (
            raw.get("parameters") or "schema" in str(raw.get("requestBody", ""))
        ):
            continue  # nothing to break: no parameter, no body with a schema
        tags = operation.tags or []
        role = ROLE_OF_TAG.get(tags[0]) if tags else None
        headers = {"X-API-Key": keys[role]} if role else {}

        @given(case=operation.as_strategy(mode), headers=st.just(headers))
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def conforms(case: Any, headers: dict[str, str]) -> None:
            case.call_and_validate(headers=headers, checks=checks)

        try:
            conforms()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            unbreakable.append(operation.label)  # e.g. only free-text path parameters
            continue
        exercised += 1
    assert exercised >= 15, (exercised, unbreakable)


def _spec(app: Any) -> dict[str, Any]:
    spec: dict[str, Any] = app.fastapi.openapi()
    return spec


def test_each_route_documents_only_the_statuses_it_can_give(
    api: tuple[Any, dict[str, str]],
) -> None:
    app, _keys = api
    paths = _spec(app)["paths"]

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    # a public GET: no key, no body, no domain conflict
    assert statuses("/v1/public/lists", "get") == {"200", "429", "503"}
    assert statuses("/v1/public/subjects/{subject_id}", "get") == {
        "200",
        "400",
        "422",
        "429",
        "503",
    }
    # a subject's read: a key and a role, nothing to conflict with
    assert statuses("/v1/me/notices", "get") == {"200", "401", "403", "503"}
    # a JSON body: malformed (400) or too large (413), never an unsupported media type
    assert statuses("/v1/me/objections", "post") == {
        "201",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "422",
        "503",
    }
    # the streamed submissions: 415 and the submissions' rate limit
    assert statuses("/v1/records", "post") == {
        "200",
        "400",
        "401",
        "403",
        "409",
        "413",
        "415",
        "429",
        "503",
    }
    assert statuses("/healthz", "get") == {"200"}
    for path, item in paths.items():
        for method, operation in item.items():
            found = set(operation["responses"])
            if method == "get":
                assert not found & {"413", "415"}, (path, method)
            if "public" in (operation.get("tags") or []):
                assert not found & {"401", "403"}, (path, method)
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)


def test_enums_and_dates_are_typed(api: tuple[Any, dict[str, str]]) -> None:
    app, _keys = api
    schemas = _spec(app)["components"]["schemas"]

    def field(model: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = schemas[model]["properties"][name]
        return found.get("anyOf", [found])[0]

    assert field("PublicSubjectOut", "on")["format"] == "date"
    assert field("PublicRecordOut", "published_until")["format"] == "date"
    assert field("CaseOut", "due")["format"] == "date"
    assert field("NoticeOut", "created")["format"] == "date-time"
    assert field("PolicyVersionOut", "published")["format"] == "date-time"
    assert field("PublicSubjectOut", "kind")["enum"] == ["person", "organisation"]
    assert field("PublicListingOut", "kind")["enum"] == ["black", "red"]
    assert field("CaseOut", "outcome")["enum"] == ["upheld", "rejected", "granted", "denied"]
    assert field("NoticeOut", "kind")["enum"] == [
        "record",
        "listed",
        "delisted",
        "grade",
        "objection",
        "repair",
        "review",
    ]
    assert field("IngestOut", "kind")["enum"] == ["records", "events"]
    # the roles the models name are the registry's
    assert list(m.ReaderRole.__args__) == list(audit.ROLES)
    assert list(m.KeyRole.__args__) == list(access.ROLES)
