"""Can one public request tell whether the registry holds a person? (the existence oracle)

    python bench/oracle.py [--persons 50000] [--requests 2000] [--reuse] [--label oracle]

(`make bench-oracle` runs it with the defaults.)

1. Builds the demo city (the generator and ingest of `make demo`) into bench/data-service/, or
   reuses it (--reuse; the same city as bench/service.py).
2. Draws --requests persons the registry holds who are on no public list (their public view is
   empty) and as many valid resident identity numbers it has never heard of.
3. Starts `socialcredit serve` (one worker, the public rate limit lifted so that every request
   reaches the registry) and, after a warm-up, asks for GET /v1/public/subjects/{id} and the
   portal page /public/subjects/{id} of each, the two kinds interleaved in a random order over
   one keep-alive connection, timing each request at the client.
4. Checks that the two kinds get the same body (the identifier aside), and reports per route
   the median and the 10th/90th percentiles of each kind and the accuracy of the best
   single-request classifier: the threshold on one request's time (either direction) that
   tells the kinds apart most often, 50 % being a coin. Done when it is at most 60 %.

Run it against another checkout's code in the same run (the baseline) with --src:
`python bench/oracle.py --reuse --src /tmp/old/src --label oracle-before`. Results are printed
as a Markdown table and written to bench/out/LABEL-DATE.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.progress import track

from service import HERE, build, serve  # bench/service.py
from socialcredit.identifiers import person_check_character
from socialcredit.registry.policies import schemes_in_force
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import standing_lists, subjects

ROUTES = ("/v1/public/subjects/", "/public/subjects/")


def held_unlisted(store: Store, count: int) -> list[str]:
    """Persons the registry holds who are on no public list (their public view is empty)."""
    settings = Settings(database_url=store.url)
    with store.reading() as connection:
        today = settings.today()
        public = [
            sa.and_(standing_lists.c.scheme_id == a.scheme.id, standing_lists.c.list_id == lst.id)
            for a in schemes_in_force(connection, as_of=today, known_us=now_us())
            for lst in a.scheme.lists
            if lst.public
        ]
        listed = sa.select(standing_lists.c.subject_id).where(sa.or_(*public))
        ids = list(
            connection.scalars(
                sa.select(subjects.c.identifier).where(
                    subjects.c.kind == "person", subjects.c.id.not_in(listed)
                )
            )
        )
    random.Random(3).shuffle(ids)
    if len(ids) < count:
        raise SystemExit(f"only {len(ids):,} held persons on no list; ask for fewer --requests")
    return ids[:count]


def strangers(store: Store, count: int) -> list[str]:
    """Valid resident identity numbers the registry has never heard of, from the same regions
    and birth years as the city's (so that nothing but being held tells them apart)."""
    with store.reading() as connection:
        known = set(connection.scalars(sa.select(subjects.c.identifier)))
    regions = sorted({i[:6] for i in known if len(i) == 18 and i[:1] in "123456"})
    chance = random.Random(5)
    found: list[str] = []
    while len(found) < count:
        born = dt.date(1950, 1, 1) + dt.timedelta(days=chance.randrange(365 * 55))
        body = f"{chance.choice(regions)}{born:%Y%m%d}{chance.randrange(1000):03d}"
        identifier = body + person_check_character(body)
        if identifier not in known and identifier not in found:
            found.append(identifier)
    return found


def best_threshold_accuracy(held: list[float], unknown: list[float]) -> float:
    """The accuracy of the best classifier 'held if time > t' (or '< t') over both samples."""
    labelled = sorted([(t, 1) for t in held] + [(t, 0) for t in unknown])
    total, ones = len(labelled), len(held)
    best = max(ones, total - ones)  # every request called one kind
    below_ones = 0
    for position, (_t, label) in enumerate(labelled, start=1):
        below_ones += label
        below_zeros = position - below_ones
        # 'held if above': zeros below and ones above are right
        right = below_zeros + (ones - below_ones)
        best = max(best, right, total - right)
    return best / total


def measure(
    port: int, route: str, held: list[str], unknown: list[str], console: Console
) -> dict[str, Any]:
    order = [(i, 1) for i in held] + [(i, 0) for i in unknown]
    random.Random(9).shuffle(order)
    times: dict[int, list[float]] = {0: [], 1: []}
    bodies: dict[int, set[str]] = {0: set(), 1: set()}
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for identifier, _ in order[:200]:  # warm-up, not reported
            client.get(route + identifier)
        for identifier, label in track(order, description=route, console=console):
            start = time.perf_counter_ns()
            response = client.get(route + identifier)
            times[label].append((time.perf_counter_ns() - start) / 1e6)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            masked = identifier[:6] + "*" * 10 + identifier[-2:]
            bodies[label].add(response.text.replace(masked, "ID").replace(identifier, "ID"))
    summary: dict[str, Any] = {"route": route, "statuses": statuses}
    for label, name in ((1, "held"), (0, "unknown")):
        ordered = sorted(times[label])
        summary[name] = {
            "median_ms": round(statistics.median(ordered), 3),
            "p10_ms": round(ordered[len(ordered) // 10], 3),
            "p90_ms": round(ordered[len(ordered) * 9 // 10], 3),
        }
    summary["same_body"] = bodies[0] == bodies[1] and len(bodies[0]) == 1
    summary["best_classifier_accuracy"] = round(best_threshold_accuracy(times[1], times[0]), 3)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=2_000, help="per kind and route")
    parser.add_argument("--reuse", action="store_true", help="reuse bench/data-service")
    parser.add_argument("--data", type=Path, default=HERE / "data-service")
    parser.add_argument("--port", type=int, default=8798)
    parser.add_argument("--src", type=Path, help="serve another checkout's src (a baseline)")
    parser.add_argument("--label", default="oracle", help="results: bench/out/LABEL-DATE.json")
    args = parser.parse_args()
    console = Console(stderr=True)
    db_url = build(args.data, args.persons, args.reuse, console)
    store = Store(db_url)
    held = held_unlisted(store, args.requests)
    unknown = strangers(store, args.requests)
    if args.src is not None:
        os.environ["PYTHONPATH"] = str(args.src.resolve())
    process: subprocess.Popen[bytes] = serve(db_url, 1, args.port)
    try:
        results = [measure(args.port, route, held, unknown, console) for route in ROUTES]
    finally:
        process.terminate()
        process.wait(timeout=60)
    version = subprocess.run(
        ["git", "-C", str(args.src or HERE), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "code": version,
        "store": db_url,
        "requests_per_kind": args.requests,
        "results": results,
    }
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path = out / f"{args.label}-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\ncode {version}; {args.requests:,} requests per kind; results in {path}\n")
    print(
        "| route | held median ms (p10–p90) | unknown median ms (p10–p90) | same body "
        "| best classifier |"
    )
    print("|---|---|---|---|---|")
    for r in results:
        h, u = r["held"], r["unknown"]
        print(
            f"| {r['route']}{{id}} | {h['median_ms']} ({h['p10_ms']}–{h['p90_ms']}) | "
            f"{u['median_ms']} ({u['p10_ms']}–{u['p90_ms']}) | {r['same_body']} | "
            f"{r['best_classifier_accuracy']:.1%} |"
        )
    if not all(r["same_body"] for r in results):
        sys.exit("the two kinds got different bodies")


if __name__ == "__main__":
    main()
