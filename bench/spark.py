"""Benchmark: the Spark engine on local[1] and local[2] against the DuckDB engine, same run.

    python bench/spark.py [--records 20000000 --subjects 2000000] [--masters local[1],local[2]]

Each side runs in its own process over the benchmark ledger (bench/generate.py: text-only
Parquet, which Spark reads itself). For Spark the process times the session start-up (JVM and
SparkContext) apart from the evaluation. Every run's standings must be byte-identical to the
DuckDB engine's; peak RSS is the Python process's (Spark's JVM is a child: its heap is set by
SOCIALCREDIT_SPARK_DRIVER_MEMORY, default here 12g).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from run import AS_OF, KNOWN_AT, ensure_data  # noqa: E402


def one(engine: str, master: str, folder: Path, out: Path) -> None:
    """Run one evaluation in this process and print its timings as JSON."""
    import datetime as dt

    from socialcredit.evaluation import evaluate_files, get_engine, parse_known_at
    from socialcredit.policy.loader import load_scheme
    from socialcredit.policy.shipped import resolve_catalogue

    catalogue = resolve_catalogue(None)
    scheme = load_scheme(BENCH / "scheme.yaml", catalogue=catalogue)
    startup = 0.0
    if engine == "spark":
        from socialcredit.engines.spark_engine import spark_session

        started = time.perf_counter()
        spark_session(master).range(1).count()
        startup = time.perf_counter() - started
    started = time.perf_counter()
    report, _ = evaluate_files(
        catalogue=catalogue,
        scheme=scheme,
        records=folder / "records.parquet",
        events=folder / "events.parquet",
        as_of=dt.date.fromisoformat(AS_OF),
        known_at_us=parse_known_at(KNOWN_AT),
        out=out,
        engine=get_engine(engine, spark_master=master),
    )
    evaluate = time.perf_counter() - started
    print(json.dumps({"startup": startup, "evaluate": evaluate, "subjects": report.subjects}))


def run(engine: str, master: str, folder: Path, out: Path) -> dict[str, float]:
    env = {**os.environ, "SOCIALCREDIT_SPARK_DRIVER_MEMORY": os.environ.get(
        "SOCIALCREDIT_SPARK_DRIVER_MEMORY", "12g"
    )}  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--one", engine, master, str(folder), str(out)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{engine} {master} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000_000)
    parser.add_argument("--subjects", type=int, default=2_000_000)
    parser.add_argument("--masters", default="local[1],local[2]")
    parser.add_argument("--one", nargs=4, metavar=("ENGINE", "MASTER", "FOLDER", "OUT"))
    args = parser.parse_args()
    if args.one:
        engine, master, folder, out = args.one
        one(engine, master, Path(folder), Path(out))
        return
    (BENCH / "out").mkdir(exist_ok=True)
    folder = BENCH / f"data-{args.records}"
    ensure_data(folder, args.records, args.subjects)
    baseline = BENCH / "out" / "duckdb.jsonl"
    duck = run("duckdb", "", folder, baseline)
    print(f"records: {args.records:,} over {args.subjects:,} subjects")
    print(
        f"duckdb engine:      {duck['evaluate']:7.1f} s evaluate, "
        f"{args.records / duck['evaluate']:>12,.0f} records/s"
    )
    rates = {}
    for master in args.masters.split(","):
        out = BENCH / "out" / f"spark-{''.join(c for c in master if c.isalnum())}.jsonl"
        spark = run("spark", master, folder, out)
        same = out.read_bytes() == baseline.read_bytes()
        rates[master] = args.records / spark["evaluate"]
        print(
            f"spark {master:10s}: {spark['evaluate']:7.1f} s evaluate, "
            f"{rates[master]:>12,.0f} records/s, start-up {spark['startup']:.1f} s, "
            f"x{spark['evaluate'] / duck['evaluate']:.1f} the DuckDB time; identical: {same}"
        )
    if "local[1]" in rates and "local[2]" in rates:
        print(f"speed-up local[1] -> local[2]: {rates['local[2]'] / rates['local[1]']:.2f}")


if __name__ == "__main__":
    main()
