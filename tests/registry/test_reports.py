"""Subject reports: the content of each section, the free allowance per year, and the three
formats (the PDF read back, Chinese text included)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
import time_machine
from pypdf import PdfReader

from socialcredit.errors import UsageError
from socialcredit.policy.model import add_months
from socialcredit.registry.audit import Reader, reads_of
from socialcredit.registry.due_process import file_objection
from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.reports import Issued, issue_report
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import ACME, ALICE, EVENT_HEADER, RECORD_HEADER, write_csv

CLERK = Reader("clerk", "operator", "report test")
SELF = Reader(ALICE, "subject", "subject's own request")
NAME = "张三丰"


def fill(store: Store, settings: Settings, tmp_path: Path) -> None:
    today = settings.today()
    recent = (today - dt.timedelta(days=20)).isoformat()
    old = (today - dt.timedelta(days=3000)).isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            (*RECORD_HEADER, "subject_name"),
            [
                ("j1", ALICE, "court.judgment_default", recent, "", NAME),
                ("j2", ALICE, "court.judgment_default", recent, "", NAME),
                ("j3", ALICE, "court.arrears", old, "500", NAME),
                ("k1", ACME, "court.judgment_default", recent, "90000", "荣成某某有限公司"),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )
    ingest_events(
        store,
        write_csv(tmp_path / "e.csv", EVENT_HEADER, [("j2", "retracted", "")]),
        settings=settings,
        furnisher_id="court",
    )


def json_report(store: Store, settings: Settings, identifier: str, out: Path) -> dict:  # type: ignore[type-arg]
    issue_report(store, settings, identifier, fmt="json", out=out, reader=CLERK)
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_a_report_holds_every_section(store: Store, settings: Settings, tmp_path: Path) -> None:
    fill(store, settings, tmp_path)
    case = file_objection(store, settings, ALICE, "court/j1", reason="not my debt")
    report = json_report(store, settings, ALICE, tmp_path / "alice.json")

    assert report["subject"] == {
        "identifier": ALICE,
        "kind": "person",
        "name": NAME,
        "region": "110105",  # from the identifier's first six digits
    }
    assert report["registry"] == settings.registry_name
    # The plain-language summary comes first and names the listing.
    assert any("dishonest judgment defaulters" in line for line in report["summary"])
    assert any("under objection" in line for line in report["summary"])
    [spc] = [s for s in report["standings"] if s["scheme"] == "spc-defaulters"]
    assert [lst["id"] for lst in spc["lists"]] == ["dishonest-judgment-defaulters"]
    assert any(m["agency"] and m["because"] for m in spc["measures"])
    assert all(p["legal_basis"] or p["lists"] for p in spc["points"])

    status = {r["record"]: r for r in report["records"]}
    assert status["court/j1"]["status"] == "counting"
    assert status["court/j1"]["under_objection"] == case.id
    assert status["court/j2"]["status"] == "retracted"
    assert status["court/j3"]["status"] == "expired"
    assert status["court/j1"]["legal_basis"]
    # A person's records are never published.
    assert not any(r["publication"]["public"] for r in report["records"])
    assert [c["id"] for c in report["objections"]] == [case.id]
    assert any("objection" in n["text"] for n in report["notices"])
    # The report's own issue is in the access audit it shows.
    assert report["access"][-1]["what"] == f"report:json #{report['report']['number']}"


def test_an_organisation_s_report_shows_publication_windows(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)
    report = json_report(store, settings, ACME, tmp_path / "acme.json")
    [record] = report["records"]
    published = record["publication"]
    assert published["public"] is True
    start = dt.date.fromisoformat(published["from"])
    assert dt.date.fromisoformat(published["until"]) - start == dt.timedelta(days=1095)
    # from when repair may be applied for, under the rules in force (NDRC Order No. 36)
    assert "NDRC Order No. 36" in published["basis"]
    repair = record["repair"]
    assert repair["from"] == add_months(start, 12).isoformat() and repair["after"] == "1 year"
    assert "NDRC Order No. 36" in repair["basis"]


def test_every_listing_says_how_it_ends_before_any_form(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Issue #15: the SPC listing names its last day, that it ends three working days after
    the court reports performance, and the first day its repair may be applied for — the day
    `repair apply` would accept (the rest of the conditions met)."""
    fill(store, settings, tmp_path)
    report = json_report(store, settings, ALICE, tmp_path / "alice.json")
    [spc] = [s for s in report["standings"] if s["scheme"] == "spc-defaulters"]
    [listing] = spc["lists"]
    way_out = listing["way_out"]
    occurred = settings.today() - dt.timedelta(days=20)
    assert (
        way_out["last_day"]
        == (dt.date.fromisoformat(listing["until"]) - dt.timedelta(days=1)).isoformat()
    )
    assert way_out["ends_on_performance"] is True
    assert way_out["performance_reported_by"] == ["荣成市人民法院"]
    assert way_out["repair_from"] == add_months(occurred, 12).isoformat()
    assert "NDRC Order No. 36" in way_out["repair_basis"]
    page = tmp_path / "alice.html"
    issue_report(store, settings, ALICE, fmt="html", out=page, reader=CLERK)
    assert "How it ends: on " in page.read_text(encoding="utf-8")


def test_two_reports_a_year_are_free_and_every_issue_is_recorded(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """The subject's own requests count against the free reports of the year; a report an
    operator issues is free and counts against nothing (issue #15)."""
    fill(store, settings, tmp_path)

    def issue(name: str, reader: Reader = SELF) -> Issued:
        return issue_report(store, settings, ALICE, fmt="json", out=tmp_path / name, reader=reader)

    operator = issue("o.json", CLERK)
    assert (operator.free, operator.number_this_year) == (True, 0)
    issued = [issue(f"{n}.json") for n in range(3)]
    assert [i.free for i in issued] == [True, True, False]
    assert [i.number_this_year for i in issued] == [1, 2, 3]
    third = json.loads((tmp_path / "2.json").read_text(encoding="utf-8"))
    assert third["report"]["free"] is False
    assert "free of charge" in third["summary"][-1]
    by_staff = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    assert "does not count against your 2 free reports" in by_staff["summary"][-1]
    assert issue("o2.json", CLERK).free  # still free after the subject's paid one
    reads = [r.what for r in reads_of(store, CLERK, ALICE)]
    ids = [operator.id, *(i.id for i in issued)]
    assert [w for w in reads if w.startswith("report:")][:4] == [f"report:json #{i}" for i in ids]
    next_year = dt.datetime(settings.today().year + 1, 3, 2, 4, tzinfo=dt.UTC)
    with time_machine.travel(next_year, tick=False):
        again = issue("n.json")
    assert (again.free, again.number_this_year) == (True, 1)


def test_html_and_pdf_render_chinese_text(store: Store, settings: Settings, tmp_path: Path) -> None:
    fill(store, settings, tmp_path)
    issue_report(store, settings, ALICE, fmt="html", out=tmp_path / "r.html", reader=CLERK)
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert NAME in html and "In short" in html and "court/j1" in html
    assert html.index("In short") < html.index("Every record")

    issue_report(store, settings, ALICE, fmt="pdf", out=tmp_path / "r.pdf", reader=CLERK)
    data = (tmp_path / "r.pdf").read_bytes()
    assert data.startswith(b"%PDF-")
    pdf = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert NAME in text and "信用报告" in text
    assert f"Page 1 of {len(pdf.pages)}" in text
    assert settings.registry_name in text
    fonts = {
        str(font["/BaseFont"])
        for page in pdf.pages
        for font in page["/Resources"]["/Font"].get_object().values()
    }
    assert any("Noto-Sans-CJK-SC" in font for font in fonts), fonts


def test_bad_requests_are_refused_and_write_nothing(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)
    out = tmp_path / "x.json"
    with pytest.raises(UsageError, match="format"):
        issue_report(store, settings, ALICE, fmt="docx", out=out, reader=CLERK)
    with pytest.raises(UsageError, match="no records"):
        issue_report(store, settings, "110105199001011232", fmt="json", out=out, reader=CLERK)
    with pytest.raises(UsageError, match="not a valid identifier"):
        issue_report(store, settings, "123", fmt="json", out=out, reader=CLERK)
    assert not out.exists()
