"""Benchmark: `socialcredit evaluate --engine duckdb` end to end against the hand-written query
(bench/handwritten.sql) in the same run, plus the reference engine's rate on a smaller ledger.

    python bench/run.py [--records 20000000 --subjects 2000000] [--baseline /tmp/old]

The engine and the query run alternately ``--repeat`` times (default 3): these machines are
noisy, so the runner prints every pair and the medians, and the ratio of the medians. It checks
that both produce byte-identical standings and prints peak memory (max RSS of each process).
``--baseline DIR`` (a worktree of an earlier commit) runs that commit's engine, with its own
catalogue and bench/scheme.yaml, in the same alternation: before and after in one run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).parent
ROOT = BENCH.parent
AS_OF, KNOWN_AT, KNOWN_AT_US = "2026-06-01", "2026-06-01T00:00:00Z", 1780272000000000


def timed(command: list[str], src: Path | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB, stderr of a command run under /usr/bin/time (with
    ``src`` first on the module path: another commit's sources)."""
    env = {**os.environ, "PYTHONPATH": str(src)} if src else None
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "maxrss=%M", *command],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command[:3]} failed:\n{done.stderr}")
    match = re.search(r"maxrss=(\d+)", done.stderr)
    return wall, int(match.group(1)) // 1024 if match else -1, done.stderr


def ensure_data(folder: Path, records: int, subjects: int) -> None:
    if not (folder / "records.parquet").exists():
        subprocess.run(
            [
                sys.executable,
                str(BENCH / "generate.py"),
                "--records",
                str(records),
                "--subjects",
                str(subjects),
                "--out",
                str(folder),
            ],
            check=True,
        )


def evaluate(folder: Path, engine: str, out: Path, tree: Path = ROOT) -> tuple[float, int, str]:
    return timed(
        [
            sys.executable,
            "-m",
            "socialcredit",
            "evaluate",
            "--engine",
            engine,
            "--catalogue",
            str(tree / "src/socialcredit/data/catalogue.yaml"),
            "--scheme",
            str(tree / "bench/scheme.yaml"),
            "--records",
            str(folder / "records.parquet"),
            "--events",
            str(folder / "events.parquet"),
            "--as-of",
            AS_OF,
            "--known-at",
            KNOWN_AT,
            "--out",
            str(out),
        ],
        src=None if tree == ROOT else tree / "src",
    )


def handwritten(folder: Path, out: Path) -> tuple[float, int, str]:
    sql = (BENCH / "handwritten.sql").read_text(encoding="utf-8")
    sql = (
        sql.replace("$records", f"'{folder / 'records.parquet'}'")
        .replace("$events", f"'{folder / 'events.parquet'}'")
        .replace("$T", f"DATE '{AS_OF}'")
        .replace("$K", str(KNOWN_AT_US))
        .replace("$out", f"'{out}'")
    )
    script = BENCH / "out" / "handwritten-bound.sql"
    script.write_text(sql, encoding="utf-8")
    code = (
        "import duckdb,sys; con=duckdb.connect(); "
        "[con.execute(s) for s in open(sys.argv[1]).read().split(';') if s.strip()]"
    )
    return timed([sys.executable, "-c", code, str(script)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000_000)
    parser.add_argument("--subjects", type=int, default=2_000_000)
    parser.add_argument("--reference-records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each side")
    parser.add_argument(
        "--baseline", type=Path, help="a worktree of an earlier commit to run alternately"
    )
    args = parser.parse_args()
    (BENCH / "out").mkdir(exist_ok=True)
    big = BENCH / f"data-{args.records}"
    ensure_data(big, args.records, args.subjects)
    ours_times, hand_times, ours_rss, hand_rss = [], [], 0, 0
    base_times, base_rss = [], 0
    for attempt in range(1, args.repeat + 1):
        if args.baseline:
            base, rss, _ = evaluate(big, "duckdb", BENCH / "out" / "baseline.jsonl", args.baseline)
            base_times.append(base)
            base_rss = max(base_rss, rss)
            print(f"run {attempt}: baseline engine {base:.1f} s")
        ours, rss, _ = evaluate(big, "duckdb", BENCH / "out" / "engine.jsonl")
        ours_times.append(ours)
        ours_rss = max(ours_rss, rss)
        hand, rss, _ = handwritten(big, BENCH / "out" / "handwritten.jsonl")
        hand_times.append(hand)
        hand_rss = max(hand_rss, rss)
        print(
            f"run {attempt}: engine {ours:.1f} s, hand-written {hand:.1f} s, ratio {ours / hand:.2f}"
        )
    ours, hand = statistics.median(ours_times), statistics.median(hand_times)
    same = (BENCH / "out" / "engine.jsonl").read_bytes() == (
        BENCH / "out" / "handwritten.jsonl"
    ).read_bytes()
    small = BENCH / f"data-{args.reference_records}"
    ensure_data(small, args.reference_records, max(args.reference_records // 10, 1))
    ref, ref_rss, _ = evaluate(small, "reference", BENCH / "out" / "reference.jsonl")
    print(f"records: {args.records:,} over {args.subjects:,} subjects")
    print(f"medians of {args.repeat} alternating runs:")
    print(
        f"duckdb engine (end to end): {ours:.1f} s, {args.records / ours:,.0f} records/s, peak {ours_rss} MiB"
    )
    print(
        f"hand-written query:         {hand:.1f} s, {args.records / hand:,.0f} records/s, peak {hand_rss} MiB"
    )
    print(f"ratio engine / hand-written: {ours / hand:.2f}; identical output: {same}")
    if base_times:
        base = statistics.median(base_times)
        print(
            f"baseline engine ({args.baseline}): {base:.1f} s, peak {base_rss} MiB; "
            f"this engine / baseline: {ours / base:.2f}"
        )
    print(
        f"reference engine on {args.reference_records:,} records: {ref:.1f} s, "
        f"{args.reference_records / ref:,.0f} records/s, peak {ref_rss} MiB"
    )


if __name__ == "__main__":
    main()
