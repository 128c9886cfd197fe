"""The screening API (issue #16 part 3) in process, on SQLite and PostgreSQL: yente's /match,
/search, /entities, /catalog and /algorithms, an agency's own dataset answered by checks, and
the W3C Reconciliation API with every response validated against the specification's JSON
Schemas (tests/data/reconciliation-schemas/0.2, the specification's own, unchanged). The real
clients are in test_screening_clients.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from socialcredit.registry.audit import Reader, reads_of
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.screening import agency_dataset
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from tests.registry.conftest import RECORD_HEADER, RESIDENT, write_csv

from .conftest import ACME, ACME_NAME, AGENCY, ALICE, RAILWAY, Keys

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "reconciliation-schemas" / "0.2"
BASE_ID = "https://reconciliation-api.github.io/specs/0.2/schemas/"
OTHER = "91350100M000100Y43"[:-2] + "00"  # a code that is not ACME's (need not be valid)
BOB_NAME = "王小明"
CLERK = Reader("clerk", "operator", "the screening tests")


def _schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return found


def _registry() -> Registry:
    """Every schema of the folder under its own $id, and under its file's name beside the
    manifest's (its ``$ref: type.json``)."""
    found: Registry = Registry()
    for path in SCHEMAS.glob("*.json"):
        resource = Resource.from_contents(_schema(path.name), default_specification=DRAFT7)
        found = found.with_resource(resource.id() or path.name, resource)
        found = found.with_resource(f"{BASE_ID}{path.name}", resource)
    return found


def _valid(instance: Any, name: str) -> None:
    jsonschema.Draft7Validator(_schema(name), registry=_registry()).validate(instance)


def _match(client: TestClient, dataset: str, queries: dict[str, Any], **kw: Any) -> Any:
    response = client.post(f"/match/{dataset}", json={"queries": queries}, **kw)
    assert response.status_code == 200, response.text
    return response.json()


def _results(body: Any, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = body["responses"][key]["results"]
    return found


def _company(**properties: list[str]) -> dict[str, Any]:
    return {"schema": "Company", "properties": properties}


def _named_person(store: Store, settings: Settings, folder: Path) -> None:
    recent = (settings.today() - dt.timedelta(days=20)).isoformat()
    path = write_csv(
        folder / "named.csv",
        (*RECORD_HEADER, "subject_name"),
        [("j9", RESIDENT, "court.judgment_default", recent, "", BOB_NAME)],
    )
    assert ingest_records(store, path, settings=settings, furnisher_id="court").rejected == 0


def test_a_code_scores_one_and_a_name_scores_below_and_says_why(client: TestClient) -> None:
    body = _match(
        client,
        "default",
        {
            "code": _company(registrationNumber=[ACME.lower()]),
            "name": _company(name=["荣成远洋渔业"]),
            "pinyin": {
                "schema": "LegalEntity",
                "properties": {"name": ["Rongcheng Yuanyang Yuye"]},
            },
            "wrong": _company(name=[ACME_NAME], registrationNumber=[OTHER]),
            "none": _company(name=["完全不同的名字"]),
        },
    )
    top = _results(body, "code")[0]
    assert (top["id"], top["score"], top["match"]) == (f"sc-org-{ACME}", 1.0, True)
    assert top["properties"]["registrationNumber"] == [ACME]
    assert top["explanations"]["identifier_match"]["score"] == 1.0
    by_name = _results(body, "name")[0]
    assert by_name["id"] == f"sc-org-{ACME}"
    assert 0.9 <= by_name["score"] < 1.0
    assert "name_match" in by_name["explanations"]
    pinyin = _results(body, "pinyin")[0]
    assert pinyin["id"] == f"sc-org-{ACME}" and pinyin["score"] < 1.0
    assert "rongchengyuanyangyuye" in pinyin["explanations"]["name_pinyin_match"]["detail"]
    wrong = _results(body, "wrong")
    assert wrong == [] or wrong[0]["score"] < 0.5  # another code: halved below the cutoff
    assert _results(body, "none") == []
    assert body["matcher"]["name"] == "socialcredit-v1"
    assert body["responses"]["code"]["total"] == {"value": 1, "relation": "eq"}


def test_the_public_never_finds_a_person_by_identifier_and_each_shown_is_audited(
    client: TestClient, store: Store, settings: Settings, tmp_path: Path
) -> None:
    _named_person(store, settings, tmp_path)
    body = _match(
        client,
        "public",
        {
            "id": {"schema": "Person", "properties": {"idNumber": [ALICE]}},
            "full": {"schema": "Person", "properties": {"name": [BOB_NAME]}},
            "masked": {"schema": "Person", "properties": {"name": ["王**"]}},
        },
        headers={"X-Purpose": "newsroom check"},
    )
    results = json.dumps([_results(body, k) for k in ("id", "full", "masked")], ensure_ascii=False)
    assert _results(body, "id") == []
    assert ALICE not in results and RESIDENT not in results and "小明" not in results
    shown = _results(body, "masked")
    assert [r["properties"]["name"] for r in shown] == [["王**"]]
    assert "idNumber" not in shown[0]["properties"]
    reads = [r for r in reads_of(store, CLERK, RESIDENT) if r.what == "screening match (public)"]
    assert [(r.role, r.purpose) for r in reads] == [("public", "newsroom check")]
    # the full name finds nothing: only the masked name is public
    assert _results(body, "full") == []
    searched = client.get("/search/public", params={"q": "王"}).json()["results"]
    assert [r["caption"] for r in searched] == ["王**"]
    reads = [r for r in reads_of(store, CLERK, RESIDENT) if r.what == "screening search"]
    assert [(r.actor, r.role) for r in reads] == [("anonymous (screening API)", "public")]


def test_an_agencys_dataset_is_its_own_and_its_identifiers_are_checks(
    client: TestClient, keys: Keys, store: Store
) -> None:
    dataset = agency_dataset(AGENCY)
    query = {"p": {"schema": "Person", "properties": {"idNumber": [ALICE]}}}
    none = client.post(f"/match/{dataset}", json={"queries": query})
    assert none.status_code == 401 and "detail" in none.json()
    other = client.post(
        f"/match/{dataset}", json={"queries": query}, headers={"X-API-Key": keys.railway}
    )
    assert other.status_code == 403, other.text
    assert client.post("/match/elsewhere", json={"queries": query}).status_code == 404
    before = len(reads_of(store, CLERK, ALICE))
    body = _match(
        client,
        dataset,
        {
            **query,
            "unlisted": {"schema": "Person", "properties": {"idNumber": ["110105199001011240"]}},
            "org": _company(name=["荣成远洋渔业"]),
            "byname": {"schema": "Person", "properties": {"name": ["王**"]}},
        },
        headers={"Authorization": f"ApiKey {keys.agency}", "X-Purpose": "boarding gate 12"},
    )
    person = _results(body, "p")[0]
    assert person["score"] == 1.0 and person["properties"]["idNumber"] == [ALICE]
    assert "No air travel" in person["explanations"]["measures"]["detail"]
    reads = [r for r in reads_of(store, CLERK, ALICE)[before:] if r.role == "agency"]
    assert [(r.actor, r.purpose) for r in reads] == [("airport desk", "boarding gate 12")]
    assert _results(body, "unlisted") == []
    assert _results(body, "byname") == []  # persons are never matched by name here
    assert _results(body, "org")[0]["id"] == f"sc-org-{ACME}"
    catalog = client.get("/catalog", headers={"X-API-Key": keys.agency}).json()
    assert catalog["current"] == ["public", dataset]
    railway = agency_dataset(RAILWAY)
    assert railway not in catalog["current"]


def test_a_listing_that_lands_is_screened_at_once(
    client: TestClient, store: Store, settings: Settings, tmp_path: Path
) -> None:
    fresh = "91350100M000101B2Y"
    query = {"q": _company(registrationNumber=[fresh])}
    assert _results(_match(client, "public", query), "q") == []
    recent = (settings.today() - dt.timedelta(days=20)).isoformat()
    path = write_csv(
        tmp_path / "more.csv",
        (*RECORD_HEADER, "subject_name"),
        [("j7", fresh, "court.judgment_default", recent, "5000", "新到公司")],
    )
    report = ingest_records(store, path, settings=settings, furnisher_id="court")
    assert report.rejected == 0, report.rejections
    assert _results(_match(client, "public", query), "q")[0]["score"] == 1.0


def test_search_entities_catalog_and_algorithms(client: TestClient) -> None:
    found = client.get("/search/public", params={"q": "远洋"}).json()
    assert [r["id"] for r in found["results"]] == [f"sc-org-{ACME}"]
    assert found["total"]["value"] == 1
    entity = client.get(f"/entities/sc-org-{ACME}").json()
    sanctions = entity["properties"]["sanctions"]
    assert {s["properties"]["programId"][0] for s in sanctions} >= {
        "spc-defaulters/dishonest-judgment-defaulters"
    }
    assert (
        "sanctions" not in client.get(f"/entities/sc-org-{ACME}?nested=false").json()["properties"]
    )
    missing = client.get("/entities/sc-org-nothing")
    assert missing.status_code == 404 and missing.json()["detail"].startswith("no entity")
    catalog = client.get("/catalog").json()
    assert catalog["current"] == ["public"] and catalog["datasets"][0]["entity_count"] >= 2
    algorithms = client.get("/algorithms").json()
    assert algorithms["best"] == algorithms["default"] == "socialcredit-v1"
    bad = client.post("/match/public?algorithm=logic-v9", json={"queries": {}})
    assert bad.status_code == 400 and "algorithm" in bad.json()["detail"]
    broken = client.post(
        "/match/public", json={"queries": {"x": {"schema": "Nope", "properties": {}}}}
    )
    assert broken.status_code == 400 and "queries.x.schema" in broken.json()["detail"]


def test_reconciliation_answers_validate_against_the_w3c_schemas(client: TestClient) -> None:
    manifest = client.get("/reconcile").json()
    _valid(manifest, "manifest.json")
    assert manifest["versions"] == ["0.2"]
    queries = {
        "q0": {"query": ACME_NAME, "type": "Organization", "limit": 3},
        "q1": {"query": "x", "properties": [{"pid": "registrationNumber", "v": ACME}]},
        "q2": {"query": "完全不同的名字"},
    }
    _valid(queries, "reconciliation-query-batch.json")
    for answer in (
        client.get("/reconcile", params={"queries": json.dumps(queries)}),
        client.post("/reconcile", data={"queries": json.dumps(queries)}),
    ):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        _valid(body, "reconciliation-result-batch.json")
        assert body["q0"]["result"][0]["id"] == ACME
        assert body["q0"]["result"][0]["match"] is True
        assert body["q1"]["result"][0]["score"] == 100.0
        assert body["q2"]["result"] == []
    suggest = client.get("/reconcile/suggest/entity", params={"prefix": "荣成"}).json()
    _valid(suggest, "suggest-entities-response.json")
    assert suggest["result"][0]["id"] == ACME
    proposal = client.get("/reconcile/properties", params={"type": "Organization"}).json()
    _valid(proposal, "data-extension-property-proposal.json")
    extend = {"ids": [ACME, OTHER], "properties": [{"id": "program"}, {"id": "provisions"}]}
    _valid(extend, "data-extension-query.json")
    extended = client.post("/reconcile", data={"extend": json.dumps(extend)}).json()
    _valid(extended, "data-extension-response.json")
    assert extended["rows"][OTHER]["program"] == []
    assert any("No air travel" in v["str"] for v in extended["rows"][ACME]["provisions"])
    preview = client.get("/reconcile/preview", params={"id": ACME})
    assert ACME_NAME in preview.text
    bad = client.get("/reconcile", params={"queries": "{not json"})
    assert bad.status_code == 400 and "queries: not JSON" in bad.json()["detail"]


@pytest.mark.parametrize("path", ["/match/public", "/reconcile"])
def test_screening_errors_are_json_with_detail(client: TestClient, path: str) -> None:
    answer = client.post(path, content=b"{", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["detail"]
