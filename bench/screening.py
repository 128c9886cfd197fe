"""The screening API (issue #16 part 3) over loopback against `socialcredit serve` with the
demo city.

    python bench/screening.py [--persons 50000] [--requests 40] [--per-request 100] [--reuse]

1. Builds the demo city (bench/service.py's `build`: the generator and ingest of `make demo`)
   into bench/data-screening/, or reuses it (--reuse), and creates an agency key.
2. Builds the screening index in process and times it: what the first request after every
   change to the registry pays (registry.screening.Screening).
3. Starts `socialcredit serve` (one worker, rate limits lifted), warms it up (one request
   builds the worker's index), then one client sends --requests requests of --per-request
   queries each, one after another, for:
   - **identifiers**: `POST /match/public` with Company queries by `registrationNumber`, half
     listed organisations' codes, half codes of organisations the registry holds but does not
     list;
   - **names**: the same with `name` only: listed organisations' names as held, without their
     legal form, and in pinyin, and unlisted organisations' names;
   - **agency identifiers**: `POST /match/agency-…` with the agency's key, Person queries by
     `idNumber` for persons the registry holds: each query a point-of-service check, audited.
   Queries/s over the wall time of the requests.
4. Baseline in the same run: the same queries matched in process (`registry.screening.match`
   over the same index, no HTTP, no JSON), so that the ratio says what the service adds.

Results print as a Markdown table and go to bench/out/screening-DATE.json. The client shares
the machine's cores with the server (say so when reporting).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from pypinyin import lazy_pinyin
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import AGENCY, build, serve
from socialcredit.registry.access import create_key
from socialcredit.registry.screening import (
    agency_dataset,
    build_index,
    match,
    parse_query,
)
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import subjects

HERE = Path(__file__).resolve().parent
FORMS = ("有限责任公司", "股份有限公司", "有限公司", "公司")


def _bare(name: str) -> str:
    for form in FORMS:
        if name.endswith(form):
            return name[: -len(form)]
    return name


def queries(store: Store, index: Any, count: int) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(7)
    listed = [c for c in index.candidates if c.kind == "organisation"]
    codes = {c.identifier for c in listed}
    with store.reading() as connection:
        rows = connection.execute(
            sa.select(subjects.c.identifier, subjects.c.name, subjects.c.kind)
        ).all()
    others = [r for r in rows if r.kind == "organisation" and r.identifier not in codes and r.name]
    persons = [r.identifier for r in rows if r.kind == "person"]
    rng.shuffle(others)
    rng.shuffle(persons)

    def company(**properties: list[str]) -> dict[str, Any]:
        return {"schema": "Company", "properties": properties}

    ids = [
        company(registrationNumber=[listed[i % len(listed)].identifier or ""])
        if i % 2 == 0
        else company(registrationNumber=[others[i % len(others)].identifier])
        for i in range(count)
    ]
    names = []
    for i in range(count):
        if i % 2:
            names.append(company(name=[others[i % len(others)].name]))
            continue
        name = listed[i % len(listed)].caption
        variant = (i // 2) % 3
        if variant == 1:
            name = _bare(name)
        elif variant == 2:
            name = " ".join(lazy_pinyin(_bare(name)))
        names.append(company(name=[name]))
    people = [
        {"schema": "Person", "properties": {"idNumber": [persons[i % len(persons)]]}}
        for i in range(count)
    ]
    return {"identifiers": ids, "names": names, "agency identifiers": people}


def in_process(index: Any, batch: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for number, item in enumerate(batch):
        match(index, parse_query(item, f"q{number}"))
    return len(batch) / (time.perf_counter() - start)


def over_http(
    port: int, path: str, batch: list[dict[str, Any]], per_request: int, headers: dict[str, str]
) -> dict[str, Any]:
    chunks = [batch[i : i + per_request] for i in range(0, len(batch), per_request)]
    found = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, headers=headers) as client:
        warm = client.post(path, json={"queries": {"w": batch[0]}})
        warm.raise_for_status()
        start = time.perf_counter()
        for chunk in chunks:
            answer = client.post(path, json={"queries": {str(i): q for i, q in enumerate(chunk)}})
            answer.raise_for_status()
            found += sum(1 for r in answer.json()["responses"].values() if r["results"])
        wall = time.perf_counter() - start
    return {
        "queries": len(batch),
        "requests": len(chunks),
        "seconds": round(wall, 3),
        "queries_per_s": round(len(batch) / wall, 1),
        "with_a_result": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--per-request", type=int, default=100)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--data", type=Path, default=HERE / "data-screening")
    parser.add_argument("--port", type=int, default=8311)
    args = parser.parse_args()
    console = Console()
    args.data.mkdir(parents=True, exist_ok=True)
    db_url = build(args.data, args.persons, args.reuse, console)
    settings = Settings(database_url=db_url)
    store = Store(db_url)
    key = create_key(store, settings, role="agency", by="bench", agency=AGENCY).token
    start = time.perf_counter()
    index = build_index(store, settings)
    built = time.perf_counter() - start
    listed = len(index.candidates)
    count = args.requests * args.per_request
    batches = queries(store, index, count)
    store.engine.dispose()
    results: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.node()} ({platform.processor() or platform.machine()}), "
        f"{__import__('os').cpu_count()} cores",
        "persons": args.persons,
        "listed": listed,
        "index_build_s": round(built, 2),
        "runs": {},
    }
    process = serve(db_url, 1, args.port)
    try:
        for what, batch in batches.items():
            agency = what.startswith("agency")
            path = f"/match/{agency_dataset(AGENCY)}" if agency else "/match/public"
            headers = {"Authorization": f"ApiKey {key}"} if agency else {}
            run = over_http(args.port, path, batch, args.per_request, headers)
            if not agency:
                run["in_process_queries_per_s"] = round(in_process(index, batch), 1)
                run["ratio_http_to_in_process"] = round(
                    run["queries_per_s"] / run["in_process_queries_per_s"], 3
                )
            results["runs"][what] = run
    finally:
        process.terminate()
        process.wait(timeout=30)
    console.print(
        f"index of {listed:,} listed subjects built in {results['index_build_s']} s "
        f"({args.persons:,} persons in the city)"
    )
    console.print("| queries | over HTTP (queries/s) | in process (queries/s) | with a result |")
    console.print("| --- | --- | --- | --- |")
    for what, run in results["runs"].items():
        console.print(
            f"| {what} | {run['queries_per_s']:,} | {run.get('in_process_queries_per_s', '—')} "
            f"| {run['with_a_result']}/{run['queries']} |"
        )
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / f"screening-{results['date']}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
