"""The command line as a user runs it: output, exit codes, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from socialcredit.cli import app

ROOT = Path(__file__).resolve().parents[2]
RECORDS = (
    "furnisher,record_id,subject_id,code,occurred_on,amount,recorded_at\n"
    "court,j1,11010519491231002X,court.judgment_default,2024-03-01,,2024-03-02T00:00:00Z\n"
    "court,j2,11010519491231002x,court.judgment_default,2024-03-01,,2024-03-02T00:00:00Z\n"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socialcredit", *args], capture_output=True, text=True, check=False
    )


def evaluate(
    records: Path, out: Path, *options: str, scheme: str = "spc-defaulters"
) -> subprocess.CompletedProcess[str]:
    """`socialcredit evaluate` as of 2024-06-01 unless the options say otherwise."""
    as_of = () if "--as-of" in options else ("--as-of", "2024-06-01")
    return run(
        "evaluate",
        "--scheme",
        scheme,
        "--records",
        str(records),
        "--out",
        str(out),
        *as_of,
        *options,
    )


def test_id_check_prints_one_line_each_and_exits_1_on_invalid() -> None:
    done = run("id", "check", "11010519491231002X", "91350100M000100Y43", "11010519491231002x")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "11010519491231002X\tperson"
    assert lines[1] == "91350100M000100Y43\torganisation"
    assert lines[2].startswith("11010519491231002x\tinvalid: character 'x' at position 18")
    assert run("id", "check", "11010519491231002X").returncode == 0


def test_policy_check_summarises_or_lists_every_problem(tmp_path: Path) -> None:
    catalogue = ROOT / "src/socialcredit/data/catalogue.yaml"
    done = run("policy", "check", str(catalogue), "spc-defaulters", "rongcheng-person")
    assert done.returncode == 0, done.stderr
    assert (
        "spc-defaulters v1" in done.stdout and "legal basis: Provisions of the SPC" in done.stdout
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nversion: 1\ntitle: t\nsubjects: [person]\nlists:\n"
        "  - {id: l, kind: black, title: t, legal_basis: '', codes: [traffic.ticket], "
        "duration_days: 9999}\n",
        encoding="utf-8",
    )
    done = run("policy", "check", str(catalogue), str(bad))
    assert done.returncode == 2
    assert "2 problems" in done.stderr
    assert "bad.yaml: lists[0] (l).legal_basis" in done.stderr
    assert "duration is 9999 days, past the limit of 5 years" in done.stderr


def test_policy_list_shows_shipped_schemes() -> None:
    done = run("policy", "list")
    assert done.returncode == 0
    for scheme_id in (
        "spc-defaulters",
        "gsxt-enterprises",
        "rongcheng-person",
        "suining-person",
        "honour-roll",
        "flensburg-driver",
    ):
        assert scheme_id in done.stdout


def test_evaluate_writes_standings_rejects_and_summary(tmp_path: Path) -> None:
    records = tmp_path / "records.csv"
    records.write_text(RECORDS, encoding="utf-8")
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.csv"
    done = evaluate(
        records,
        out,
        "--known-at",
        "2024-12-31T00:00:00+08:00",
        "--rejects",
        str(rejects),
        "--explain",
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["lists"] == ["dishonest-judgment-defaulters"]
    assert list(line) == [
        "subject_id",
        "kind",
        "score",
        "grade",
        "lists",
        "measures",
        "explanation",
    ]
    assert "2 read, 1 accepted, 0 no-op repeats, 1 rejected" in done.stderr
    assert "subjects evaluated: 1" in done.stderr
    assert (
        rejects.read_text(encoding="utf-8")
        .splitlines()[1]
        .startswith("records.csv,2,subject_id,\"invalid identifier '11010519491231002x'")
    )


def test_formats_give_identical_standings(tmp_path: Path) -> None:
    csv_path = tmp_path / "r.csv"
    csv_path.write_text(RECORDS, encoding="utf-8")
    header, *rows = [line.split(",") for line in RECORDS.splitlines()]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("".join(json.dumps(dict(zip(header, r, strict=True))) + "\n" for r in rows))
    parquet = tmp_path / "r.parquet"
    pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)}), parquet)
    outputs = []
    for path in (csv_path, jsonl, parquet):
        for engine in ("reference", "duckdb"):
            out = tmp_path / f"{path.suffix}-{engine}.jsonl"
            done = evaluate(path, out, "--engine", engine)
            assert done.returncode == 0, done.stderr
            outputs.append(out.read_bytes())
    assert len(set(outputs)) == 1 and outputs[0]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    records = tmp_path / "r.csv"
    records.write_text("furnisher,record_id\nf,1\n", encoding="utf-8")
    done = evaluate(records, tmp_path / "o.jsonl")
    assert done.returncode == 2
    assert "missing required columns subject_id, code, occurred_on, recorded_at" in done.stderr
    records.write_text(RECORDS, encoding="utf-8")
    done = evaluate(records, tmp_path / "o.jsonl", "--known-at", "2024-06-01T00:00:00")
    assert done.returncode == 2
    assert "not an instant with a zone" in done.stderr
    done = evaluate(records, tmp_path / "o.jsonl", scheme="no-such-scheme")
    assert done.returncode == 2
    assert "shipped schemes: fcra-consumer, flensburg-driver" in done.stderr


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    for command in (
        "id check",
        "policy check",
        "policy list",
        "policy publish",
        "evaluate",
        "demo",
        "init",
        "furnisher add",
        "ingest records",
        "ingest events",
        "standing",
        "refresh",
        "erasure run",
        "verify",
        "demo-data",
        "audit",
        "public subject",
        "public list",
        "notices list",
        "report",
        "export ledger",
        "export ftm",
        "notices send",
        "review request",
        "objection file",
        "repair apply",
        "serve",
        "key create",
        "key list",
        "key revoke",
        "key link",
    ):
        assert f"socialcredit {command}" in readme
        # in-process: the same Typer app the console script runs (a subprocess per --help
        # cost 40 s of make test; test_usage_errors_exit_2 runs the script itself)
        shown = CliRunner().invoke(app, [*command.split(), "--help"])
        assert shown.exit_code == 0 and "Usage" in shown.output, command


def test_typed_parquet_columns_read_as_their_text(tmp_path: Path) -> None:
    """Dates, zone-aware timestamps and decimals in Parquet give the same standings as text;
    a naive timestamp has no zone and is rejected as a malformed instant."""
    import datetime as dt
    from decimal import Decimal

    typed = pa.table(
        {
            "furnisher": ["court", "court"],
            "record_id": ["j1", "j2"],
            "subject_id": ["11010519491231002X", "91350100M000100Y43"],
            "code": ["court.judgment_default", "court.judgment_default"],
            "occurred_on": pa.array([dt.date(2024, 3, 1), dt.date(2024, 3, 1)], pa.date32()),
            "amount": pa.array([Decimal("12.50"), Decimal("0")], pa.decimal128(10, 2)),
            "recorded_at": pa.array(
                [
                    dt.datetime(2024, 3, 2, 8, tzinfo=dt.UTC),
                    dt.datetime(2024, 3, 2, 8, tzinfo=dt.UTC),
                ],
                pa.timestamp("us", tz="Asia/Shanghai"),
            ),
        }
    )
    pq.write_table(typed, tmp_path / "typed.parquet")
    naive = typed.set_column(6, "recorded_at", pa.array([dt.datetime(2024, 3, 2)] * 2))
    pq.write_table(naive, tmp_path / "naive.parquet")
    text = tmp_path / "text.csv"
    text.write_text(
        "furnisher,record_id,subject_id,code,occurred_on,amount,recorded_at\n"
        "court,j1,11010519491231002X,court.judgment_default,2024-03-01,12.50,2024-03-02T08:00:00Z\n"
        "court,j2,91350100M000100Y43,court.judgment_default,2024-03-01,0.00,2024-03-02T16:00:00+08:00\n",
        encoding="utf-8",
    )
    results = {}
    for name in ("typed.parquet", "naive.parquet", "text.csv"):
        for engine in ("reference", "duckdb"):
            out = tmp_path / f"{name}-{engine}.jsonl"
            rejects = tmp_path / f"{name}-{engine}-rejects.csv"
            done = evaluate(
                tmp_path / name,
                out,
                "--known-at",
                "2024-12-31T00:00:00Z",
                "--engine",
                engine,
                "--rejects",
                str(rejects),
            )
            assert done.returncode == 0, done.stderr
            results[name, engine] = (
                out.read_text(encoding="utf-8"),
                rejects.read_text(encoding="utf-8"),
            )
    text_out = results["text.csv", "reference"][0]
    assert text_out.count("dishonest-judgment-defaulters") == 2
    for engine in ("reference", "duckdb"):
        assert results["typed.parquet", engine][0] == text_out
        assert results["naive.parquet", engine][0] == ""
        assert results["naive.parquet", engine][1].count('recorded_at,"not an instant') == 2


def test_missing_option_is_a_usage_error() -> None:
    done = run(
        "evaluate", "--scheme", "spc-defaulters", "--as-of", "2024-01-01", "--out", "o.jsonl"
    )
    assert done.returncode == 2
    assert "--out needs --records (file mode)" in done.stderr
    assert "Traceback" not in done.stderr
    done = run("evaluate", "--scheme")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_several_schemes_are_evaluated_together(tmp_path: Path) -> None:
    """`evaluate --scheme A --scheme B`: one line per scheme and subject, each beginning with
    its scheme, by scheme id; a repeated scheme is a usage error; one scheme is unchanged."""
    records = tmp_path / "r.csv"
    records.write_text(RECORDS, encoding="utf-8")
    one = evaluate(records, tmp_path / "one.jsonl")
    assert one.returncode == 0, one.stderr
    both = evaluate(records, tmp_path / "both.jsonl", "--scheme", "honour-roll")
    assert both.returncode == 0, both.stderr
    lines = [json.loads(x) for x in (tmp_path / "both.jsonl").read_text().splitlines()]
    assert lines and all(next(iter(line)) == "scheme" for line in lines)
    assert [line["scheme"] for line in lines] == sorted(line["scheme"] for line in lines)
    spc = [
        json.dumps({k: v for k, v in line.items() if k != "scheme"}, separators=(",", ":"))
        for line in lines
        if line["scheme"] == "spc-defaulters"
    ]
    single = (tmp_path / "one.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in spc] == [json.loads(x) for x in single]
    assert not any("scheme" in json.loads(x) for x in single)
    again = evaluate(records, tmp_path / "x.jsonl", "--scheme", "spc-defaulters")
    assert again.returncode == 2 and "--scheme spc-defaulters is given more than once" in (
        again.stderr
    )
