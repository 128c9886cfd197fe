"""Point-of-service checks over loopback against `socialcredit serve` with the demo city.

    python bench/service.py [--persons 50000] [--workers 1 2] [--connections 8 16 32]
                            [--duration 20] [--batches 20]

(`make bench-service` runs it with the defaults; it installs Debian's `wrk` if missing.)

1. Builds the demo city (same generator and ingest as `make demo`) into bench/data-service/,
   or reuses it (--reuse), and creates an agency key for the airlines' check desk.
2. For each worker count: starts `socialcredit serve --workers N --no-access-log`, then
   - single checks: wrk (one thread, C connections, keep-alive) requests
     GET /v1/checks/{id} for identifiers drawn at random from 5,000 subjects of the city
     (a Lua script), after a 5-second warm-up; requests/s and the latency percentiles wrk
     reports (50/75/90/99 %);
   - batch checks: two client threads POST /v1/checks with 10,000 distinct identifiers drawn
     from the whole city, --batches batches in all; identifiers/s over the wall time.
   - under public load: the single checks again (8 connections) while --public-clients
     threads (default 40) read pages of the public SPC list as fast as they are answered (the
     public rate limit lifted for the run, so that every request reaches the registry); the
     agency checks' p99 against their idle p99 of the same run, and the public pages/s.
3. Checks the audit: one entry per answered check of a subject, the chain intact
   (`verify_audit`), entries counted before and after.

`--data DIR` keeps the city's store elsewhere (e.g. one per checkout when comparing two
versions in one run: `PYTHONPATH=/path/to/old/src python bench/service.py --data ...` runs the
same benchmark against another checkout's code) and `--label` names the results file.

The load generator shares the machine's cores with the server (say so when reporting). Results
are printed as a Markdown table and written to bench/out/service-DATE.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from rich.console import Console

from socialcredit.demo import build_demo
from socialcredit.registry.access import create_key
from socialcredit.registry.audit import verify_audit
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import audit_log, subjects

HERE = Path(__file__).resolve().parent
AGENCY = "Civil Aviation Administration of China (airlines)"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def build(out: Path, persons: int, reuse: bool, console: Console) -> str:
    db = out / "socialcredit.db"
    if reuse and db.exists():
        return f"sqlite:///{db}"
    demo = build_demo(
        out_dir=out,
        persons=persons,
        organisations=persons // 10,
        years=6,
        seed=7,
        today=Settings().today(),
        console=console,
    )
    return demo.db_url


def sample(store: Store, count: int) -> list[str]:
    with store.reading() as connection:
        ids = [r[0] for r in connection.execute(sa.select(subjects.c.identifier))]
    random.Random(11).shuffle(ids)
    return ids[:count]


def audit_entries(store: Store) -> int:
    with store.reading() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(audit_log)) or 0)


def lua_script(path: Path, ids: list[str]) -> None:
    listed = ",".join(f'"{i}"' for i in ids)
    path.write_text(
        f"local ids = {{{listed}}}\n"
        "math.randomseed(7)\n"
        "request = function()\n"
        '  return wrk.format("GET", "/v1/checks/" .. ids[math.random(#ids)])\n'
        "end\n",
        encoding="utf-8",
    )


def parse_wrk(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    found["requests_per_s"] = float(rate.group(1)) if rate else None
    total = re.search(r"(\d+) requests in ([\d.]+)s", text)
    found["requests"] = int(total.group(1)) if total else None
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        found[f"p{pct}_ms"] = round(float(value) * UNITS[unit], 2)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    found["non_2xx"] = int(errors.group(1)) if errors else 0
    sockets = re.search(r"Socket errors: (.*)", text)
    found["socket_errors"] = sockets.group(1) if sockets else None
    return found


def serve(
    db_url: str, workers: int, port: int, lift_public: bool = True
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SOCIALCREDIT_DATABASE_URL": db_url,
        # the benchmark measures the service, not the rate limits
        "SOCIALCREDIT_RATE_CHECKS_PER_SECOND": "1000000",
        "SOCIALCREDIT_RATE_CHECKS_BURST": "1000000",
        "SOCIALCREDIT_RATE_BATCHES_PER_SECOND": "1000000",  # the bench measures throughput
        "SOCIALCREDIT_RATE_BATCHES_BURST": "1000000",
    }
    if lift_public:
        env["SOCIALCREDIT_RATE_PUBLIC_PER_SECOND"] = "1000000"
        env["SOCIALCREDIT_RATE_PUBLIC_BURST"] = "1000000"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socialcredit",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def wrk(
    port: int, key: str, script: Path | None, connections: int, duration: int, path: str = "/"
) -> dict[str, Any]:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-H",
        f"X-API-Key: {key}",
        *(["-s", str(script)] if script else []),
        f"http://127.0.0.1:{port}{path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return {"connections": connections, "duration_s": duration, **parse_wrk(done.stdout)}


PUBLIC_LIST = "/v1/public/lists/spc-defaulters/dishonest-judgment-defaulters"


class PublicLoad:
    """``clients`` threads reading pages of a public list back to back, until stopped."""

    def __init__(self, port: int, clients: int) -> None:
        self.port, self.clients = port, clients
        self.stop = threading.Event()
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]
        self.started = 0.0

    def _run(self, index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120) as http:
            while not self.stop.is_set():
                page = rng.randint(1, 4)
                status = http.get(f"{PUBLIC_LIST}?page={page}&per_page=100").status_code
                with self.lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1

    def __enter__(self) -> PublicLoad:
        self.started = time.perf_counter()
        for thread in self.threads:
            thread.start()
        time.sleep(1)  # under way before the measurement
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=300)
        self.seconds = time.perf_counter() - self.started

    def summary(self) -> dict[str, Any]:
        served = sum(self.statuses.values())
        return {
            "clients": self.clients,
            "requests": served,
            "per_s": round(served / self.seconds, 1) if self.seconds else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


def batches(port: int, key: str, ids: list[str], count: int, clients: int = 2) -> dict[str, Any]:
    rng = random.Random(3)
    bodies = [
        {"subjects": rng.sample(ids, 10_000), "purpose": "boarding list"} for _ in range(count)
    ]
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def client(mine: list[dict[str, Any]]) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            for body in mine:
                started = time.perf_counter()
                response = http.post("/v1/checks", json=body, headers={"X-API-Key": key})
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        failures.append(response.status_code)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "batches": count,
        "clients": clients,
        "identifiers_per_batch": 10_000,
        "identifiers_per_s": round(count * 10_000 / wall),
        "batch_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "batch_max_ms": round(latencies[-1] * 1000, 1),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="reuse bench/data-service")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument(
        "--public-clients", type=int, default=40, help="public list readers (0: skip)"
    )
    parser.add_argument(
        "--public-limited",
        action="store_true",
        help="keep the public rate limit as configured (default: lifted for the run)",
    )
    parser.add_argument(
        "--public-only", action="store_true", help="only the checks beside public readers"
    )
    parser.add_argument("--data", type=Path, default=HERE / "data-service")
    parser.add_argument("--label", default="service", help="results: bench/out/LABEL-DATE.json")
    args = parser.parse_args()
    console = Console(stderr=True)
    if shutil.which("wrk") is None:
        sys.exit(
            "bench/service.py needs the load generator wrk: `make bench-service` installs it "
            "(./scripts/system-packages.sh bench), or `apt-get install wrk`"
        )

    data = args.data
    db_url = build(data, args.persons, args.reuse, console)
    store = Store(db_url)
    settings = Settings(database_url=db_url)
    key = create_key(store, settings, role="agency", by="bench", agency=AGENCY, label="bench desk")
    everyone = sample(store, 10**9)
    ids = everyone[:5_000]
    script = data / "checks.lua"
    lua_script(script, ids)
    with store.reading() as connection:
        population = int(connection.scalar(sa.select(sa.func.count()).select_from(subjects)) or 0)

    runs: list[dict[str, Any]] = []
    for workers in args.workers:
        before = audit_entries(store)
        process = serve(db_url, workers, args.port, lift_public=not args.public_limited)
        try:
            wrk(args.port, key.token, script, 8, 5)  # warm-up, not reported
            # the baseline, in the same run: the service's cheapest route (no store, no audit)
            baseline = wrk(args.port, key.token, None, 16, args.duration, path="/healthz")
            console.print(f"workers {workers}, baseline /healthz: {baseline}")
            warm = audit_entries(store)
            singles = []
            for connections in [] if args.public_only else args.connections:
                result = wrk(args.port, key.token, script, connections, args.duration)
                console.print(f"workers {workers}, {connections} connections: {result}")
                singles.append(result)
            after_singles = audit_entries(store)
            batch = (
                None if args.public_only else batches(args.port, key.token, everyone, args.batches)
            )
            console.print(f"workers {workers}, batches: {batch}")
            loaded: dict[str, Any] | None = None
            if args.public_clients:
                idle = wrk(args.port, key.token, script, 8, args.duration)
                with PublicLoad(args.port, args.public_clients) as load:
                    busy = wrk(args.port, key.token, script, 8, args.duration)
                loaded = {"idle": idle, "busy": busy, "public": load.summary()}
                console.print(f"workers {workers}, under public load: {loaded}")
        finally:
            process.terminate()
            process.wait(timeout=60)
        answered = sum(r["requests"] or 0 for r in singles)
        runs.append(
            {
                "workers": workers,
                "baseline_healthz": baseline,
                "single": singles,
                "batch": batch,
                "public_load": loaded,
                "audit": {
                    "entries_before": before,
                    "entries_for_single_checks": after_singles - warm,
                    "single_checks_answered": answered,
                },
            }
        )
    verified = verify_audit(store)
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "store": db_url,
        "subjects": population,
        "load_generator": "wrk 4.1.0, 1 thread, keep-alive, random identifiers from 5,000 "
        "(Lua script); batch: 2 httpx clients",
        "public_rate_limit": "as configured" if args.public_limited else "lifted",
        "runs": runs,
        "audit_chain": {"entries": verified.entries, "problem": verified.problem},
    }
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path = out / f"{args.label}-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\n{population:,} subjects; results in {path}\n")
    print(
        "| workers | connections | checks/s | p50 ms | p90 ms | p99 ms | non-2xx "
        "| /healthz/s (16 conn.) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        base = run["baseline_healthz"]["requests_per_s"] or 1
        for r in run["single"]:
            print(
                f"| {run['workers']} | {r['connections']} | {r['requests_per_s']:,.0f} | "
                f"{r.get('p50_ms')} | {r.get('p90_ms')} | {r.get('p99_ms')} | {r['non_2xx']} "
                f"| {base:,.0f} | {r['requests_per_s'] / base:.2f} |"
            )
    print("\n| workers | batch identifiers/s | batch p50 ms | audit entries = checks answered |")
    print("|---|---|---|---|")
    for run in runs:
        a = run["audit"]
        if run["batch"] is None:
            continue
        print(
            f"| {run['workers']} | {run['batch']['identifiers_per_s']:,} | "
            f"{run['batch']['batch_p50_ms']} | "
            f"{a['entries_for_single_checks']:,} = {a['single_checks_answered']:,} |"
        )
    if any(run["public_load"] for run in runs):
        print(
            "\n| workers | idle p99 ms | p99 ms with public readers | ratio | checks/s idle "
            "| checks/s loaded | public pages/s | public statuses |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for run in runs:
            if not run["public_load"]:
                continue
            idle, busy, public = (run["public_load"][k] for k in ("idle", "busy", "public"))
            ratio = (busy.get("p99_ms") or 0) / (idle.get("p99_ms") or 1)
            print(
                f"| {run['workers']} | {idle.get('p99_ms')} | {busy.get('p99_ms')} | "
                f"{ratio:.2f} | {idle['requests_per_s']:,.0f} | {busy['requests_per_s']:,.0f} | "
                f"{public['per_s']} | {public['statuses']} |"
            )
    print(f"\naudit chain: {verified.entries:,} entries, problem: {verified.problem}")


if __name__ == "__main__":
    main()
