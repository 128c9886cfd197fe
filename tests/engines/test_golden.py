"""Golden scenarios, worked by hand from the law, for every shipped policy and every engine."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from socialcredit.engines.base import Engine
from socialcredit.engines.duckdb_engine import DuckDBEngine
from socialcredit.engines.reference import ReferenceEngine
from socialcredit.evaluation import evaluate_files, parse_known_at
from socialcredit.policy.loader import parse_scheme
from socialcredit.policy.shipped import resolve_catalogue, resolve_scheme, shipped_scheme_ids

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.yaml"))
# Scenarios for each construct of the policy language v2, each with its own scheme text.
GOLDEN_V2 = sorted((Path(__file__).parent / "golden-v2").glob("*.yaml"))
ENGINES: list[Engine] = [ReferenceEngine(), DuckDBEngine(threads=1)]


def test_every_shipped_policy_has_a_golden_scenario() -> None:
    assert sorted(p.stem for p in GOLDEN) == shipped_scheme_ids()


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
@pytest.mark.parametrize("path", GOLDEN + GOLDEN_V2, ids=lambda p: p.stem)
def test_golden(path: Path, engine: Engine, tmp_path: Path) -> None:
    run_scenario(path, engine, tmp_path)


def run_scenario(path: Path, engine: Engine, tmp_path: Path) -> None:
    """Run a golden scenario file with an engine and compare every run's lines, explanations
    and rejects with the ones worked by hand."""
    scenario = yaml.safe_load(path.read_text(encoding="utf-8"))
    (tmp_path / "records.csv").write_text(scenario["records"], encoding="utf-8")
    (tmp_path / "events.csv").write_text(scenario["events"], encoding="utf-8")
    catalogue = resolve_catalogue(None)
    if "scheme_text" in scenario:
        scheme = parse_scheme(scenario["scheme_text"], catalogue=catalogue, source=path.name)
    else:
        scheme = resolve_scheme(scenario["scheme"], catalogue=catalogue)
    # Schemes evaluated together with the first (rule 14): lines begin with "scheme".
    also = tuple(resolve_scheme(other, catalogue=catalogue) for other in scenario.get("also", []))
    for index, run in enumerate(scenario["runs"]):
        out = tmp_path / f"out-{index}.jsonl"
        rejects = tmp_path / f"rejects-{index}.csv"
        evaluate_files(
            catalogue=catalogue,
            scheme=scheme,
            records=tmp_path / "records.csv",
            events=tmp_path / "events.csv",
            as_of=_as_date(run["as_of"]),
            known_at_us=parse_known_at(run["known_at"]),
            out=out,
            engine=engine,
            explain=True,
            rejects=rejects,
            also=also,
        )
        lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        explanations = {line["subject_id"]: line.pop("explanation") for line in lines}
        expected = [{**e, "subject_id": str(e["subject_id"])} for e in run["expected"]]
        assert lines == expected, f"run {index} as of {run['as_of']}"
        for subject, records in run.get("explained", {}).items():
            got = [
                {k: r[k] for k in ("furnisher", "record_id", "code", "points", "ends")}
                for r in explanations[str(subject)]["records"]
            ]
            assert got == records
        for subject, lists in run.get("lists", {}).items():
            assert explanations[str(subject)]["lists"] == lists
        for subject, caps in run.get("caps", {}).items():
            assert explanations[str(subject)]["cap_adjustments"] == caps
        reject_lines = rejects.read_text(encoding="utf-8").splitlines()[1:]
        assert reject_lines == run.get("rejects", [])
