"""The portal in process: sign-in, sessions, CSRF, who may open which page, and every page."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from socialcredit.registry.access import LINK_REQUESTS_A_DAY, LOGIN_TTL_US, create_login_link
from socialcredit.registry.audit import Reader
from socialcredit.registry.due_process import apply_repair
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.notices import SIGN_IN_SHOWN, notices_of, send
from socialcredit.registry.reports import subject_page
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import audit_log, credentials
from tests.registry.conftest import RECORD_HEADER, RESIDENT, write_csv

from .conftest import ACME, ACME_NAME, ALICE, Keys

LIST = "dishonest-judgment-defaulters"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, key: str) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"key": key, "csrf": token, "next": ""}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


def sign_in_with_link(client: TestClient, link: str) -> None:
    page = client.get(f"/login/link?token={link}")
    response = client.post(
        "/login/link", data={"token": link, "csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/me", response.text


def test_public_pages(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200 and "Search organisations" in home.text
    found = client.get("/search", params={"q": "远洋"})
    assert ACME_NAME in found.text and f"/public/subjects/{ACME}" in found.text
    partial = client.get("/search", params={"q": "远洋"}, headers={"HX-Request": "true"})
    assert ACME_NAME in partial.text and "<html" not in partial.text
    org = client.get(f"/public/subjects/{ACME}")
    assert ACME_NAME in org.text and "court/j2" in org.text and "amount 90000" in org.text
    lists = client.get("/public/lists")
    assert f"/public/lists/spc-defaulters/{LIST}" in lists.text
    members = client.get(f"/public/lists/spc-defaulters/{LIST}")
    assert ALICE not in members.text and ALICE[:6] in members.text  # masked
    schemes = client.get("/schemes")
    assert "legal basis" in schemes.text
    missing = client.get("/public/lists/spc-defaulters/nope")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


def test_sign_in_with_a_key_and_out(client: TestClient, keys: Keys) -> None:
    token = csrf_of(client.get("/login").text)
    bad = client.post("/login", data={"key": "sck_x_y", "csrf": token})
    assert bad.status_code == 401 and "not valid" in bad.text
    sign_in(client, keys.operator)
    cookie = next(c for c in client.cookies.jar if c.name == "sc_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    dashboard = client.get("/operator")
    assert dashboard.status_code == 200 and "Grade distribution" in dashboard.text
    token = csrf_of(dashboard.text)
    client.post("/logout", data={"csrf": token})
    assert client.get("/operator", follow_redirects=False).status_code == 303


def test_forms_without_the_csrf_token_are_refused(client: TestClient, keys: Keys) -> None:
    refused = client.post("/login", data={"key": keys.operator, "csrf": "forged"})
    assert refused.status_code == 403 and "did not come from this site" in refused.text
    sign_in(client, keys.operator)
    queue = client.post("/operator/objections/1", data={"decision": "uphold", "reason": "x"})
    assert queue.status_code == 403 and "did not come from this site" in queue.text  # no token
    forged = client.post(
        "/operator/objections/1", data={"decision": "uphold", "reason": "x", "csrf": "forged"}
    )
    assert forged.status_code == 403


def test_who_may_open_which_page(client: TestClient, keys: Keys) -> None:
    assert client.get("/me", follow_redirects=False).headers["location"] == "/login?next=/me"
    sign_in(client, keys.alice)
    assert client.get("/me").status_code == 200
    operator_page = client.get("/operator")
    assert operator_page.status_code == 403 and "for operators" in operator_page.text
    assert client.get("/operator/queues").status_code == 403


def test_a_sign_in_link_works_once(
    client: TestClient, keys: Keys, store: Store, settings: Settings
) -> None:
    assert "Continue to my standing" in client.get(f"/login/link?token={keys.alice_link}").text
    sign_in_with_link(client, keys.alice_link)
    me = client.get("/me")
    assert ALICE in me.text and "Download my report" in me.text
    again = client.post("/login/link", data={"token": keys.alice_link, "csrf": csrf_of(me.text)})
    assert again.status_code == 400 and "used already" in again.text
    old = create_login_link(store, settings, subject=ALICE, by="t")
    with store.writing("audit_log") as connection:
        connection.execute(
            credentials.update()
            .where(credentials.c.id == old.credential.id)
            .values(expires_us=sa.literal(old.credential.created_us - LOGIN_TTL_US))
        )
    expired = client.post("/login/link", data={"token": old.token, "csrf": csrf_of(me.text)})
    assert "expired" in expired.text


def test_a_subject_may_ask_for_a_sign_in_link_again(
    client: TestClient, store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Issue #15: the link goes through the notice channel only — never onto the page, into a
    report or the API — the answer is the same for an identifier the registry does not hold,
    and at most LINK_REQUESTS_A_DAY are sent in a day."""
    form = client.get("/login/link/request")
    assert form.status_code == 200 and "Send me a link" in form.text
    asked = client.post(
        "/login/link/request", data={"identifier": ALICE, "csrf": csrf_of(form.text)}
    )
    assert asked.status_code == 200 and "If the registry holds records about" in asked.text
    assert "scl_" not in asked.text
    unknown = client.post(
        "/login/link/request", data={"identifier": RESIDENT, "csrf": csrf_of(form.text)}
    )
    assert unknown.text.replace(RESIDENT, ALICE) == asked.text  # nothing said of who is held
    clerk = Reader("clerk", "operator", "link test")
    shown = [n.text for n in notices_of(store, clerk, ALICE) if n.kind == "sign_in"]
    assert shown == [SIGN_IN_SHOWN]
    report = subject_page(store, settings, ALICE, reader=clerk)
    assert "scl_" not in json.dumps(report, ensure_ascii=False)
    outbox = tmp_path / "outbox.jsonl"
    send(store, f"file:{outbox}")
    [sent] = [
        line
        for line in map(json.loads, outbox.read_text("utf-8").splitlines())
        if line["kind"] == "sign_in"
    ]
    assert sent["subject_id"] == ALICE
    token = re.search(r"#token=(\S+)", sent["text"])
    assert token is not None
    sign_in_with_link(client, token.group(1))
    assert ALICE in client.get("/me").text
    fresh = csrf_of(client.get("/login/link/request").text)  # signed in: the session's token
    for _ in range(LINK_REQUESTS_A_DAY):
        more = client.post("/login/link/request", data={"identifier": ALICE, "csrf": fresh})
        assert more.status_code == 200 and "If the registry holds records about" in more.text
    links = [n for n in notices_of(store, clerk, ALICE) if n.kind == "sign_in"]
    assert len(links) == LINK_REQUESTS_A_DAY


def test_the_subjects_page_and_its_forms(client: TestClient, keys: Keys, store: Store) -> None:
    sign_in_with_link(client, keys.alice_link)
    page = client.get("/me")
    assert 'class="listing"' in page.text and "black list" in page.text
    assert "Who read my data" in page.text and "portal page" in page.text
    filed = client.post(
        "/me/objections",
        data={"record": "court/j1", "reason": "I paid it", "csrf": csrf_of(page.text)},
    )
    assert filed.status_code == 200 and "objection 1 filed" in filed.text
    assert "under objection (1)" in filed.text
    review = client.post(
        "/me/reviews", data={"reason": "look again", "scheme": "", "csrf": csrf_of(page.text)}
    )
    assert "review 1 requested" in review.text
    refused = client.post(
        "/me/objections",
        data={"record": "court/nope", "reason": "x", "csrf": csrf_of(page.text)},
    )
    assert refused.status_code == 404 and "has no record" in refused.text
    assert 'class="form-error" role="alert"' in refused.text  # on the subject's own page
    # A refused form keeps what was typed, open beside the reason (issue #15).
    typed = "I paid the court on 2 May; receipt no. 7781 — see the scan"
    early = client.post(
        "/me/repairs",
        data={"record": "court/j1", "evidence": typed, "csrf": csrf_of(page.text)},
    )
    assert early.status_code == 422 and "cannot be applied for yet" in early.text
    assert "a credit commitment is required" in early.text
    assert f'maxlength="5000">{typed}</textarea>' in early.text
    assert "<details open><summary>Apply for repair" in early.text
    again = client.post(
        "/me/objections",
        data={"record": "court/j1", "reason": "  ", "csrf": csrf_of(page.text)},
    )
    assert again.status_code in (400, 409) and 'role="alert"' in again.text
    pdf = client.get("/me/report.pdf")
    assert pdf.content.startswith(b"%PDF")


def test_the_operator_decides_from_the_queue(client: TestClient, keys: Keys, store: Store) -> None:
    sign_in_with_link(client, keys.alice_link)
    page = client.get("/me")
    client.post(
        "/me/objections",
        data={"record": "court/j1", "reason": "not mine", "csrf": csrf_of(page.text)},
    )
    client.cookies.clear()
    sign_in(client, keys.operator)
    queue = client.get("/operator/queues")
    assert 'id="objections-1"' in queue.text and "not mine" in queue.text
    assert 'href="/operator/objections/1"' in queue.text
    # The case page: the record, its effects by agency, its history, the subject's page.
    case = client.get("/operator/objections/1")
    assert case.status_code == 200
    assert "court.judgment_default" in case.text and "荣成市人民法院" in case.text
    effects = case.text.split('id="effects-spc-defaulters"', 1)[1].split("</section>", 1)[0]
    assert "Civil Aviation Administration of China (airlines)" in effects
    assert "China State Railway Group" in effects
    assert "<td>objected</td>" in case.text  # the history
    assert f'href="/operator/subjects/{ALICE}"' in case.text
    whole = client.get(f"/operator/subjects/{ALICE}")
    assert whole.status_code == 200 and ALICE in whole.text and "court/j1" in whole.text
    with store.reading() as connection:  # both reads audited, with the purpose
        audited = connection.execute(
            sa.select(audit_log.c.purpose, audit_log.c.what).where(
                audit_log.c.role == "operator", audit_log.c.purpose == "case work"
            )
        ).all()
    assert {what for _, what in audited} >= {"objection 1", "portal page"}
    assert client.get("/operator/objections/99").status_code == 404
    assert client.get("/operator/appeals/1").status_code == 404
    token = csrf_of(queue.text)
    odd = client.post(
        "/operator/objections/1", data={"decision": "grant", "reason": "x", "csrf": token}
    )
    assert odd.status_code == 400 and "uphold, reject" in odd.text
    nowhere = client.post(
        "/operator/appeals/1", data={"decision": "uphold", "reason": "x", "csrf": token}
    )
    assert nowhere.status_code == 404
    decided = client.post(
        "/operator/objections/1",
        data={"decision": "uphold", "reason": "set aside", "csrf": csrf_of(queue.text)},
    )
    assert "objection 1 upheld" in decided.text and 'id="objections-1"' not in decided.text
    members = client.get(f"/public/lists/spc-defaulters/{LIST}")
    assert ALICE[:6] not in members.text


def test_a_repair_file_is_found_complete_from_its_case_page(
    client: TestClient, keys: Keys, store: Store, settings: Settings, tmp_path: Path
) -> None:
    old = (settings.today() - dt.timedelta(days=130)).isoformat()  # past the 3 months
    path = write_csv(
        tmp_path / "b.csv", RECORD_HEADER, [("b1", ALICE, "court.breach_found", old, "")]
    )
    ingest_records(store, path, settings=settings, furnisher_id="court")
    case = apply_repair(store, settings, ALICE, "court/b1", evidence="done", commitment=True)
    sign_in(client, keys.operator)
    page = client.get(f"/operator/repairs/{case.id}")
    assert page.status_code == 200 and "The file is complete" in page.text
    done = client.post(f"/operator/repairs/{case.id}/complete", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "file complete; decide by" in done.text
    assert "Found complete on" in done.text and "The file is complete" not in done.text
    again = client.post(f"/v1/repairs/{case.id}/complete", headers={"X-API-Key": keys.operator})
    assert again.status_code == 409 and "found complete on" in again.json()["error"]["message"]


def test_a_review_corrected_from_the_queue_names_the_record(client: TestClient, keys: Keys) -> None:
    sign_in_with_link(client, keys.alice_link)
    page = client.get("/me")
    client.post("/me/reviews", data={"reason": "not me", "scheme": "", "csrf": csrf_of(page.text)})
    client.cookies.clear()
    sign_in(client, keys.operator)
    queue = client.get("/operator/queues")
    assert 'name="record"' in queue.text.split('id="reviews-1"', 1)[1]
    form = {"decision": "corrected", "reason": "namesake", "csrf": csrf_of(queue.text)}
    unnamed = client.post("/operator/reviews/1", data=form)
    assert unnamed.status_code == 400 and "name the record found wrong" in unnamed.text
    done = client.post("/operator/reviews/1", data={**form, "record": "court/j1"})
    assert "review 1 corrected: court/j1 retracted" in done.text
    awaited = done.text.split("Corrections awaited", 1)[1]
    assert 'id="correction-1"' in awaited and "court/j1 (review 1)" in awaited


def test_operator_pages(client: TestClient, keys: Keys) -> None:
    sign_in(client, keys.operator)
    furnishers = client.get("/operator/furnishers")
    assert "荣成市人民法院" in furnishers.text and "Rejection rate" in furnishers.text
    policies = client.get("/operator/policies")
    assert "spc-defaulters" in policies.text
    ids = re.findall(r'<option value="(\d+)"', policies.text)
    diff = client.get(f"/operator/policies?a={ids[0]}&b={ids[1]}")
    assert diff.status_code == 200 and 'class="diff"' in diff.text
    dashboard = client.get("/operator")
    assert "<svg" in dashboard.text and "Records per furnisher per month" in dashboard.text
    assert "0 records erased after their retention period" in dashboard.text


def test_openid_connect_is_offered_only_when_configured(
    client: TestClient, settings: Settings, keys: Keys
) -> None:
    from socialcredit.service.app import create_app

    assert "national e-ID" not in client.get("/login").text
    assert client.get("/login/oidc").status_code == 404
    # an issuer that cannot be reached: a clear 503, not a server error
    configured = settings.model_copy(
        update={"oidc_issuer": "http://127.0.0.1:9", "oidc_client_id": "registry"}
    )
    with TestClient(create_app(configured)) as other:
        assert "Sign in with the national e-ID" in other.get("/login").text
        answer = other.get("/login/oidc")
        assert answer.status_code == 503 and "cannot be reached" in answer.text
