"""schemathesis against /openapi.json: generated requests to every operation, with a key of the
role each operation is for, must never get a server error, and every response must match the
schema (status code, content type, body)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from socialcredit.registry.access import create_key
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


def test_no_server_errors_and_responses_match_the_schema(
    api: tuple[Any, dict[str, str]],
) -> None:
    app, keys = api
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28
    for operation in operations:
        tags = operation.tags or []
        role = ROLE_OF_TAG.get(tags[0]) if tags else None
        headers = {"X-API-Key": keys[role]} if role else {}

        @given(case=operation.as_strategy(), headers=st.just(headers))
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def conforms(case: Any, headers: dict[str, str]) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        conforms()
