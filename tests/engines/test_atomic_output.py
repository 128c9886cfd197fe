"""A run that fails part-way leaves the earlier standings and rejects files whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from socialcredit.engines.base import Report, Request
from socialcredit.engines.reference import ReferenceEngine
from socialcredit.evaluation import evaluate_files, parse_known_at
from socialcredit.policy.shipped import resolve_catalogue, resolve_scheme

RECORDS = (
    "furnisher,record_id,subject_id,code,occurred_on,amount,recorded_at\n"
    "court,j1,11010519491231002X,court.judgment_default,2024-03-01,,2024-03-02T00:00:00Z\n"
    "court,j2,bad,court.judgment_default,2024-03-01,,2024-03-02T00:00:00Z\n"
)


class DiesAfterWriting:
    """Writes its whole output, then fails, as a process killed before it finished would."""

    name = "dies-after-writing"

    def run(self, request: Request) -> Report:
        ReferenceEngine().run(request)
        raise RuntimeError("killed")


def test_failed_run_keeps_earlier_files(tmp_path: Path) -> None:
    records = tmp_path / "records.csv"
    records.write_text(RECORDS, encoding="utf-8")
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.csv"
    out.write_text("earlier standings\n", encoding="utf-8")
    rejects.write_text("earlier rejects\n", encoding="utf-8")
    catalogue = resolve_catalogue(None)
    arguments = {
        "catalogue": catalogue,
        "scheme": resolve_scheme("spc-defaulters", catalogue=catalogue),
        "records": records,
        "events": None,
        "as_of": dt.date(2024, 6, 1),
        "known_at_us": parse_known_at("2024-12-31T00:00:00Z"),
        "out": out,
        "rejects": rejects,
    }
    with pytest.raises(RuntimeError):
        evaluate_files(engine=DiesAfterWriting(), **arguments)
    assert out.read_text(encoding="utf-8") == "earlier standings\n"
    assert rejects.read_text(encoding="utf-8") == "earlier rejects\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "records.csv", "rejects.csv"]

    report, _ = evaluate_files(engine=ReferenceEngine(), **arguments)
    assert report.subjects == 1
    assert out.read_text(encoding="utf-8").startswith('{"subject_id":"11010519491231002X"')
    assert rejects.read_text(encoding="utf-8").startswith("file,row,field,reason\n")
