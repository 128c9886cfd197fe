"""The JSON API in process: every route, every role, errors, limits and headers."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from socialcredit.registry.access import revoke
from socialcredit.registry.audit import verify_audit
from socialcredit.service.app import create_app
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import audit_log, credentials, subjects

from .conftest import ACME, ACME_NAME, AGENCY, ALICE, BOB, Keys, auth

LIST = "dishonest-judgment-defaulters"
NOBODY = "110105198001010016"  # valid, but the registry holds nothing about this person


def reads(store: Store, identifier: str) -> list[Any]:
    with store.reading() as connection:
        return list(
            connection.execute(
                sa.select(
                    audit_log.c.actor, audit_log.c.role, audit_log.c.purpose, audit_log.c.what
                )
                .join(subjects, subjects.c.id == audit_log.c.subject_id)
                .where(subjects.c.identifier == identifier)
                .order_by(audit_log.c.seq)
            )
        )


# -- the authorisation matrix ------------------------------------------------------------------

# (method, path, body or None, the roles that may call it); "any" = no key needed.
ROUTES: list[tuple[str, str, Any, set[str]]] = [
    ("GET", f"/v1/checks/{ALICE}", None, {"agency"}),
    ("POST", "/v1/checks", {"subjects": [ALICE]}, {"agency"}),
    ("POST", "/v1/records", "csv", {"furnisher"}),
    ("POST", "/v1/events", "csv-events", {"furnisher"}),
    ("GET", "/v1/batches", None, {"furnisher", "operator"}),
    ("GET", "/v1/me/standing", None, {"subject"}),
    ("GET", "/v1/me/report?format=json", None, {"subject"}),
    ("POST", "/v1/me/objections", {"record": "court/j1", "reason": "wrong"}, {"subject"}),
    (
        "POST",
        "/v1/me/repairs",
        {"record": "court/j1", "evidence": "paid", "commitment": True},
        {"subject"},
    ),
    ("POST", "/v1/me/reviews", {"reason": "please look again"}, {"subject"}),
    ("GET", "/v1/me/cases", None, {"subject"}),
    ("GET", "/v1/me/notices", None, {"subject"}),
    ("GET", "/v1/me/audit", None, {"subject"}),
    ("GET", f"/v1/subjects/{ALICE}/standing?purpose=review", None, {"operator"}),
    ("GET", "/v1/queues/objections", None, {"operator"}),
    ("GET", "/v1/queues/repairs", None, {"operator"}),
    ("GET", "/v1/queues/reviews", None, {"operator"}),
    ("POST", "/v1/objections/999/decision", {"uphold": True, "reason": "x"}, {"operator"}),
    ("POST", "/v1/repairs/999/decision", {"grant": True, "reason": "x"}, {"operator"}),
    ("POST", "/v1/repairs/999/complete", None, {"operator"}),
    ("GET", "/v1/corrections", None, {"furnisher", "operator"}),
    ("POST", "/v1/corrections/999/replacement", {"record_id": "x"}, {"furnisher", "operator"}),
    ("POST", "/v1/reviews/999/decision", {"outcome": "confirmed", "reason": "x"}, {"operator"}),
    ("GET", "/v1/policies", None, {"operator"}),
    ("POST", "/v1/policies?reason=test", "yaml", {"operator"}),
    ("GET", "/v1/furnishers", None, {"operator"}),
    ("GET", "/v1/public/organisations?q=fish", None, {"any"}),
    ("GET", f"/v1/public/subjects/{ACME}", None, {"any"}),
    ("GET", "/v1/public/lists", None, {"any"}),
    ("GET", f"/v1/public/lists/spc-defaulters/{LIST}", None, {"any"}),
    ("GET", "/v1/public/schemes", None, {"any"}),
    ("GET", "/v1/exchange/feed", None, {"peer"}),  # tests/registry/test_exchange.py pulls it
]


def send(client: TestClient, method: str, path: str, body: Any, key: str | None) -> Any:
    headers = auth(key) if key else {}
    if body == "csv":
        headers["content-type"] = "text/csv"
        return client.request(
            method, path, content=b"record_id,subject_id,code,occurred_on\n", headers=headers
        )
    if body == "csv-events":
        headers["content-type"] = "text/csv"
        return client.request(method, path, content=b"record_id,event,date\n", headers=headers)
    if body == "yaml":
        headers["content-type"] = "application/yaml"
        return client.request(method, path, content=b"id: x\n", headers=headers)
    return client.request(method, path, json=body, headers=headers)


def test_every_route_refuses_every_role_it_is_not_for(client: TestClient, keys: Keys) -> None:
    roles = {
        None: "any",
        keys.operator: "operator",
        keys.furnisher: "furnisher",
        keys.agency: "agency",
        keys.alice: "subject",
    }
    for method, path, body, allowed in ROUTES:
        for key, role in roles.items():
            response = send(client, method, path, body, key)
            permitted = "any" in allowed or role in allowed
            where = f"{method} {path} as {role}: {response.status_code} {response.text[:200]}"
            if permitted:
                assert response.status_code not in (401, 403), where
                assert response.status_code < 500, where
            else:
                assert response.status_code == (401 if key is None else 403), where
                assert response.json()["error"]["code"] in ("unauthenticated", "forbidden"), where


def test_the_matrix_covers_every_route(client: TestClient) -> None:
    documented = {
        (method.upper(), path)
        for path, item in client.get("/openapi.json").json()["paths"].items()
        for method in item
    }
    tested = {(m, p.split("?")[0]) for m, p, _, _ in ROUTES}
    normalised = set()
    for method, path in documented:
        if path.startswith("/v1"):
            path = (
                path.replace(
                    "{subject_id}", ALICE if "checks" in path or "standing" in path else ACME
                )
                .replace("{case_id}", "999")
                .replace("{review_id}", "999")
                .replace("{scheme_id}/{list_id}", f"spc-defaulters/{LIST}")
            )
            normalised.add((method, path))
    assert normalised == tested


def test_a_subject_key_reads_only_its_own_subject(client: TestClient, keys: Keys) -> None:
    mine = client.get("/v1/me/standing", headers=auth(keys.bob)).json()
    assert mine["subject_id"] == BOB
    assert (
        client.get(f"/v1/subjects/{ALICE}/standing?purpose=x", headers=auth(keys.bob)).status_code
        == 403
    )
    # BOB cannot object to ALICE's record: it is not his
    response = client.post(
        "/v1/me/objections",
        json={"record": "court/j1", "reason": "not mine"},
        headers=auth(keys.bob),
    )
    assert response.status_code == 404
    assert "has no record court/j1" in response.json()["error"]["message"]


def test_a_furnisher_submits_as_itself_only(client: TestClient, keys: Keys, store: Store) -> None:
    body = f"record_id,subject_id,code,occurred_on\nt1,{BOB},court.arrears,2026-01-05\n"
    response = client.post(
        "/v1/records",
        content=body,
        headers={**auth(keys.other_furnisher), "content-type": "text/csv"},
    )
    assert response.status_code == 200
    found = response.json()
    assert found["furnisher"] == "traffic" and found["accepted"] == 0
    assert found["rejections"][0]["field"] == "code"
    assert (
        "traffic" in found["rejections"][0]["reason"]
        or "may not" in found["rejections"][0]["reason"]
    )
    mine = client.get("/v1/batches?furnisher=court", headers=auth(keys.other_furnisher))
    assert mine.status_code == 403


def test_a_revoked_key_is_refused(
    client: TestClient, keys: Keys, store: Store, settings: Settings
) -> None:
    assert client.get("/v1/me/standing", headers=auth(keys.bob)).status_code == 200
    with store.reading() as connection:
        bob_key = connection.scalar(
            sa.select(credentials.c.id).where(
                credentials.c.subject == BOB, credentials.c.kind == "key"
            )
        )
    revoke(store, int(bob_key))
    client.app.state.socialcredit.forget_keys()  # the cache would let it through for 2 s
    response = client.get("/v1/me/standing", headers=auth(keys.bob))
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]
    assert client.get("/v1/me/standing", headers={"X-API-Key": "sck_nope_nope"}).status_code == 401
    assert (
        client.get("/v1/me/standing", headers={"Authorization": f"Bearer {keys.alice}"}).status_code
        == 200
    )
    # A malformed Authorization beside a valid X-API-Key: the credentials disagree, refused.
    mixed = client.get(
        "/v1/me/standing", headers={**auth(keys.alice), "Authorization": f"Basic {keys.alice}"}
    )
    assert mixed.status_code == 401 and "Bearer <API key>" in mixed.json()["error"]["message"]


# -- checks ------------------------------------------------------------------------------------


def test_a_check_names_the_measure_its_trigger_and_is_audited(
    client: TestClient, keys: Keys, store: Store
) -> None:
    response = client.get(f"/v1/checks/{ALICE}?purpose=ticket sale", headers=auth(keys.agency))
    assert response.status_code == 200
    found = response.json()
    assert found["known"] is True and found["kind"] == "person"
    [measure] = found["measures"]
    assert measure["measure"] == "no-air-travel" and measure["scheme"] == "spc-defaulters"
    assert measure["legal_basis"].startswith(
        "Provisions of the SPC on Restricting High Consumption"
    )
    assert measure["triggered_by"] == [
        {"list": LIST, "grade": None, "under_objection": False, "objections": []}
    ]
    assert reads(store, ALICE)[-1] == (
        "airport desk",
        "agency",
        "ticket sale",
        f"check at {AGENCY}",
    )
    # the railway sees its own measure, not the airline's
    rail = client.get(f"/v1/checks/{ALICE}", headers=auth(keys.railway)).json()
    assert [m["measure"] for m in rail["measures"]] == ["no-soft-sleeper"]
    assert reads(store, ALICE)[-1][2] == "point-of-service check at China State Railway Group"
    # nobody listed, nothing applies; a subject unknown to the registry leaves no audit entry
    assert client.get(f"/v1/checks/{BOB}", headers=auth(keys.agency)).json()["measures"] == []
    unknown = client.get(f"/v1/checks/{NOBODY}", headers=auth(keys.agency)).json()
    assert unknown == {
        "subject": NOBODY,
        "kind": "person",
        "as_of": unknown["as_of"],
        "known": False,
        "measures": [],
    }
    assert verify_audit(store).problem is None


def test_a_check_says_when_the_trigger_is_under_objection(client: TestClient, keys: Keys) -> None:
    filed = client.post(
        "/v1/me/objections",
        json={"record": "court/j1", "reason": "I paid"},
        headers=auth(keys.alice),
    )
    assert filed.status_code == 201
    objection = filed.json()["id"]
    [measure] = client.get(f"/v1/checks/{ALICE}", headers=auth(keys.agency)).json()["measures"]
    assert measure["under_objection"] is True
    assert measure["triggered_by"][0]["objections"] == [objection]


def test_batch_checks(client: TestClient, keys: Keys, store: Store) -> None:
    body = {"subjects": [ALICE, "not-an-id", BOB, NOBODY, ALICE], "purpose": "boarding list"}
    response = client.post("/v1/checks", json=body, headers=auth(keys.agency))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["subject"] for r in results] == body["subjects"]
    assert results[0]["measures"][0]["measure"] == "no-air-travel"
    assert "not a valid identifier" in results[1]["error"]
    assert results[2]["measures"] == [] and results[3]["known"] is False
    assert results[4] == results[0]
    assert [r[2] for r in reads(store, ALICE)].count("boarding list") == 1
    too_many = client.post(
        "/v1/checks", json={"subjects": [ALICE] * 10_001}, headers=auth(keys.agency)
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "invalid_request"


def test_an_invalid_identifier_is_a_clear_400(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/checks/11010519491231002Y", headers=auth(keys.agency))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_identifier" and "check" in error["message"]


# -- furnishers --------------------------------------------------------------------------------


def test_records_by_csv_and_json_with_row_level_rejections(
    client: TestClient, keys: Keys, store: Store
) -> None:
    body = (
        "record_id,subject_id,code,occurred_on,amount\n"
        f"n1,{BOB},court.judgment_default,2026-03-01,500\n"
        f"n2,{BOB},court.judgment_default,not-a-date,500\n"
    )
    headers = {**auth(keys.furnisher), "content-type": "text/csv"}
    first = client.post("/v1/records", content=body, headers=headers).json()
    assert (first["accepted"], first["rejected"]) == (1, 1)
    assert first["rejections"][0]["row"] == 2 and first["rejections"][0]["field"] == "occurred_on"
    again = client.post("/v1/records", content=body, headers=headers).json()
    assert again["duplicate_of"] == first["batch_id"] and again["accepted"] == 0
    rows = [
        {"record_id": "n3", "subject_id": BOB, "code": "court.arrears", "occurred_on": "2026-04-01"}
    ]
    as_json = client.post("/v1/records", json=rows, headers=auth(keys.furnisher)).json()
    assert as_json["accepted"] == 1 and as_json["rejections"] == []
    events = client.post(
        "/v1/events",
        content="record_id,event,date\nn1,fulfilled,2026-05-01\n",
        headers=headers,
    ).json()
    assert events["accepted"] == 1
    batches = client.get("/v1/batches", headers=auth(keys.furnisher)).json()
    assert {b["furnisher"] for b in batches} == {"court"} and len(batches) == 4
    # the standing follows at once
    standing = client.get("/v1/me/standing", headers=auth(keys.bob)).json()
    listed = standing["standings"]["spc-defaulters"]["standing"]["lists"]
    assert listed == []  # n1 was fulfilled


def test_bad_bodies_are_4xx(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/v1/records", content="x", headers={**auth(keys.furnisher), "content-type": "text/plain"}
    )
    assert (
        response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    )
    response = client.post(
        "/v1/records",
        content="[1, 2",
        headers={**auth(keys.furnisher), "content-type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    response = client.post(
        "/v1/me/objections",
        content="{",
        headers={**auth(keys.alice), "content-type": "application/json"},
    )
    # Bad JSON is the same error on every route: 400 invalid_json.
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    checks = client.post(
        "/v1/checks", content="{", headers={**auth(keys.agency), "content-type": "application/json"}
    )
    assert checks.status_code == 400 and checks.json()["error"]["code"] == "invalid_json"
    assert client.get("/v1/nowhere").json()["error"]["code"] == "not_found"
    assert client.delete("/v1/public/lists").status_code == 405


# -- subjects and operators --------------------------------------------------------------------


def test_objection_upheld_takes_the_listing_away_everywhere(
    client: TestClient, keys: Keys, store: Store
) -> None:
    def listed() -> bool:
        view = client.get("/v1/me/standing", headers=auth(keys.alice)).json()
        return LIST in view["standings"]["spc-defaulters"]["standing"]["lists"]

    page = client.get(f"/v1/public/lists/spc-defaulters/{LIST}").json()
    members = page["members"]
    assert page["total"] == len(members) and page["page"] == 1 and page["pages"] == 1
    assert any(m["identifier"].startswith(ALICE[:6]) and m["kind"] == "person" for m in members)
    assert listed()
    case = client.post(
        "/v1/me/objections",
        json={"record": "court/j1", "reason": "I never owed this"},
        headers=auth(keys.alice),
    ).json()
    queue = client.get("/v1/queues/objections", headers=auth(keys.operator)).json()
    assert [c["id"] for c in queue] == [case["id"]] and queue[0]["subject"] == ALICE
    decided = client.post(
        f"/v1/objections/{case['id']}/decision",
        json={"uphold": True, "reason": "the judgment was set aside"},
        headers=auth(keys.operator),
    ).json()
    assert decided["outcome"] == "upheld" and decided["decided_by"] == "clerk wang"
    assert not listed()
    members = client.get(f"/v1/public/lists/spc-defaulters/{LIST}").json()["members"]
    assert all(m["kind"] != "person" for m in members)
    assert client.get(f"/v1/checks/{ALICE}", headers=auth(keys.agency)).json()["measures"] == []
    cases = client.get("/v1/me/cases", headers=auth(keys.alice)).json()
    assert cases["objections"][0]["outcome"] == "upheld"
    again = client.post(
        f"/v1/objections/{case['id']}/decision",
        json={"uphold": False, "reason": "x"},
        headers=auth(keys.operator),
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_repairs_reviews_notices_audit_and_report(client: TestClient, keys: Keys) -> None:
    repair = client.post(
        "/v1/me/repairs",
        json={"record": "court/j1", "evidence": "paid in full", "commitment": True},
        headers=auth(keys.alice),
    )
    assert repair.status_code in (201, 422)  # the scheme's conditions decide; either way clear
    if repair.status_code == 422:
        assert repair.json()["error"]["message"]
    review = client.post(
        "/v1/me/reviews", json={"reason": "please review"}, headers=auth(keys.alice)
    )
    assert review.status_code == 201
    queue = client.get("/v1/queues/reviews", headers=auth(keys.operator)).json()
    assert queue[0]["id"] == review.json()["id"]
    decided = client.post(
        f"/v1/reviews/{queue[0]['id']}/decision",
        json={"outcome": "confirmed", "reason": "evaluated correctly"},
        headers=auth(keys.operator),
    )
    assert decided.json()["outcome"] == "confirmed"
    notices = client.get("/v1/me/notices", headers=auth(keys.alice)).json()
    assert any("review" in n["text"].lower() for n in notices)
    client.get(f"/v1/checks/{ALICE}", headers=auth(keys.agency))
    audit = client.get("/v1/me/audit", headers=auth(keys.alice)).json()
    assert any(a["actor"] == "airport desk" and a["role"] == "agency" for a in audit)
    report = client.get("/v1/me/report?format=json", headers=auth(keys.alice))
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    data = json.loads(report.content)
    assert data["subject"]["identifier"] == ALICE and data["report"]["free"] is True
    pdf = client.get("/v1/me/report?format=pdf", headers=auth(keys.alice))
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
    assert client.get("/v1/me/report?format=doc", headers=auth(keys.alice)).status_code == 422


def test_a_review_found_wrong_becomes_the_furnisher_s_task(client: TestClient, keys: Keys) -> None:
    review = client.post("/v1/me/reviews", json={"reason": "not me"}, headers=auth(keys.alice))
    operator, court = auth(keys.operator), auth(keys.furnisher)
    unnamed = client.post(
        f"/v1/reviews/{review.json()['id']}/decision",
        json={"outcome": "corrected", "reason": "namesake"},
        headers=operator,
    )
    assert unnamed.status_code == 400 and "name the record found wrong" in unnamed.text
    decided = client.post(
        f"/v1/reviews/{review.json()['id']}/decision",
        json={"outcome": "corrected", "reason": "namesake", "record": "court/j1"},
        headers=operator,
    )
    assert decided.status_code == 200 and decided.json()["record"] == "court/j1"
    assert client.get(f"/v1/checks/{ALICE}", headers=auth(keys.agency)).json()["measures"] == []
    [task] = client.get("/v1/corrections", headers=court).json()
    assert (task["record"], task["subject"], task["replacement"]) == ("court/j1", ALICE, None)
    assert client.get("/v1/corrections", headers=auth(keys.other_furnisher)).json() == []
    spying = client.get("/v1/corrections?furnisher=court", headers=auth(keys.other_furnisher))
    assert spying.status_code == 403
    sent = client.post(
        "/v1/records",
        content=f"record_id,subject_id,code,occurred_on\nj1-fixed,{ALICE},court.arrears,"
        "2026-01-05\n".encode(),
        headers={**court, "content-type": "text/csv"},
    )
    assert sent.status_code == 200, sent.text
    elsewhere = client.post(
        f"/v1/corrections/{task['id']}/replacement",
        json={"record_id": "j1-fixed"},
        headers=auth(keys.other_furnisher),
    )
    assert elsewhere.status_code == 404
    done = client.post(
        f"/v1/corrections/{task['id']}/replacement", json={"record_id": "j1-fixed"}, headers=court
    )
    assert done.status_code == 200 and done.json()["replacement"] == "court/j1-fixed"
    assert client.get("/v1/corrections", headers=court).json() == []


def test_operator_policies_and_furnishers(client: TestClient, keys: Keys) -> None:
    versions = client.get("/v1/policies", headers=auth(keys.operator)).json()
    assert {"spc-defaulters", "honour-roll"} <= {v["policy_id"] for v in versions}
    yaml_body = {**auth(keys.operator), "content-type": "application/yaml"}
    bad = client.post(
        "/v1/policies?reason=a+test",
        content=(
            "id: bad\nversion: 1\ntitle: Petitioners\nsubjects: [person]\nlists:\n"
            "  - id: petitioners\n    kind: black\n    title: Petitioners\n"
            "    codes: [petition.filed]\n    duration_days: 100\n    legal_basis: none\n"
        ),
        headers=yaml_body,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_policy" and bad.json()["error"]["details"]
    shipped = (resources.files("socialcredit") / "data/schemes/honour-roll.yaml").read_text("utf-8")
    newer = shipped.replace("version: 1", "version: 2", 1)
    unsaid = client.post("/v1/policies", content=newer, headers=yaml_body)
    assert unsaid.status_code == 400 and "reason is required" in unsaid.text
    published = client.post(
        "/v1/policies", params={"reason": "annual review"}, content=newer, headers=yaml_body
    )
    assert published.status_code == 201
    assert published.json() == {
        "kind": "scheme",
        "policy_id": "honour-roll",
        "version": 2,
        "new": True,
        "evaluated": ["honour-roll"],
    }
    latest = client.get("/v1/policies", headers=auth(keys.operator)).json()[0]
    assert (latest["policy_id"], latest["reason"], latest["changes"]) == (
        "honour-roll",
        "annual review",
        [],  # the same text under a new version: nothing milder or harsher
    )
    assert latest["published_by"]
    # The finding: the SPC's fixed term from two years to three, still effective 2017-05-01.
    spc = (resources.files("socialcredit") / "data/schemes/spc-defaulters.yaml").read_text("utf-8")
    harsher = spc.replace("version: 1", "version: 2", 1).replace(
        "    duration: {years: 2}\n    extendable: {years: 3}",
        "    duration: {years: 3}\n    extendable: {years: 2}",
    )
    assert harsher.count("{years: 3}") == 1
    refused = client.post(
        "/v1/policies", params={"reason": "longer listings"}, content=harsher, headers=yaml_body
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "harsher_change"
    assert "duration 2 years → 3 years is harsher" in error["message"]
    assert "(lex mitior)" in error["message"]
    furnishers = client.get("/v1/furnishers", headers=auth(keys.operator)).json()
    assert {f["id"] for f in furnishers} == {"court", "traffic"}
    standing = client.get(f"/v1/subjects/{ALICE}/standing", headers=auth(keys.operator))
    assert standing.status_code == 422  # an operator must say why


# -- the public --------------------------------------------------------------------------------


def test_public_search_and_views(client: TestClient) -> None:
    by_name = client.get("/v1/public/organisations", params={"q": "远洋渔业"}).json()
    assert by_name == [{"identifier": ACME, "name": ACME_NAME, "region": by_name[0]["region"]}]
    by_code = client.get("/v1/public/organisations", params={"q": ACME.lower()}).json()
    assert [o["identifier"] for o in by_code] == [ACME]
    assert client.get("/v1/public/organisations", params={"q": "%"}).json() == []
    # persons are never found by the search
    assert client.get("/v1/public/organisations", params={"q": ALICE}).json() == []
    acme = client.get(f"/v1/public/subjects/{ACME}").json()
    assert acme["name"] == ACME_NAME and acme["records"][0]["record_id"] == "j2"
    alice = client.get(f"/v1/public/subjects/{ALICE}").json()
    assert alice["identifier"] != ALICE and "score" not in json.dumps(alice)
    schemes = client.get("/v1/public/schemes").json()
    assert any(s["id"] == "spc-defaulters" and "legal basis" in s["summary"] for s in schemes)
    lists = client.get("/v1/public/lists").json()
    assert {"scheme": "spc-defaulters", "list_id": LIST} in [
        {"scheme": x["scheme"], "list_id": x["list_id"]} for x in lists
    ]
    assert client.get("/v1/public/lists/spc-defaulters/nope").status_code == 404
    assert client.get("/v1/public/lists/nope/nope").status_code == 404


def test_health_and_headers(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["status"] == "ready"
    response = client.get("/v1/public/lists")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "socialcredit"


def test_rate_limits_answer_429_with_retry_after(settings: Settings, keys: Keys) -> None:
    tight = replace_settings(settings, rate_public_per_second=0.01, rate_public_burst=3)
    with TestClient(create_app(tight)) as client:
        statuses = [client.get("/v1/public/lists").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        refused = client.get("/v1/public/schemes")
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        # other routes are not limited by the public bucket
        assert client.get("/v1/me/standing", headers=auth(keys.alice)).status_code == 200
    tight = replace_settings(settings, rate_checks_per_second=0.01, rate_checks_burst=2)
    with TestClient(create_app(tight)) as client:
        statuses = [
            client.get(f"/v1/checks/{ALICE}", headers=auth(keys.agency)).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]


def replace_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


def test_the_fast_path_answers_as_the_documented_route(
    client: TestClient, keys: Keys, store: Store
) -> None:
    fast = client.get(f"/v1/checks/{ALICE}?purpose=gate 3", headers=auth(keys.agency))
    before = len(reads(store, ALICE))
    # the FastAPI route itself, without the hot path in front of it (same worker state)
    documented = TestClient(client.app.fastapi).get(  # type: ignore[attr-defined]
        f"/v1/checks/{ALICE}?purpose=gate 3", headers=auth(keys.agency)
    )
    assert documented.status_code == fast.status_code == 200
    assert documented.json() == fast.json()
    assert len(reads(store, ALICE)) == before + 1
    assert reads(store, ALICE)[-1] == reads(store, ALICE)[-2]
    # what the hot path does not serve falls through to the route's errors
    assert client.get("/v1/checks/123", headers=auth(keys.agency)).status_code == 400
    assert client.get(f"/v1/checks/{ALICE}", headers=auth(keys.bob)).status_code == 403
    long = "x" * 501
    assert (
        client.get(f"/v1/checks/{ALICE}?purpose={long}", headers=auth(keys.agency)).status_code
        == 422
    )
