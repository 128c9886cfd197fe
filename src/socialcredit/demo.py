"""A synthetic city: generated persons, organisations, records and events, and a demo run that
evaluates every shipped scheme over them and prints a readable summary."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.table import Table

from socialcredit.engines.duckdb_engine import DuckDBEngine
from socialcredit.engines.reference import ReferenceEngine
from socialcredit.evaluation import evaluate_files, parse_known_at
from socialcredit.identifiers import (
    USCC_ALPHABET,
    organisation_check_character,
    person_check_character,
)
from socialcredit.policy.shipped import resolve_catalogue, resolve_scheme, shipped_scheme_ids
from socialcredit.semantics.fields import RECORD_COLUMNS

REGIONS = ("371082", "320324", "110105", "310115", "440305", "510107")  # Rongcheng, Suining, …
FURNISHERS = {
    "court": "rongcheng-court",
    "finance": "rongcheng-bank",
    "market": "rongcheng-samr",
    "gsxt": "shandong-samr",
    "utility": "rongcheng-utilities",
    "traffic": "rongcheng-traffic-police",
    "tax": "shandong-tax",
    "civic": "rongcheng-civil-affairs",
}


def person_id(rng: random.Random) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))
    body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + person_check_character(body)


def organisation_id(rng: random.Random) -> str:
    body = "91" + rng.choice(REGIONS) + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + organisation_check_character(body)


@dataclass(frozen=True)
class Sample:
    records: Path
    events: Path
    subjects: int
    record_count: int
    event_count: int


def generate(
    *, persons: int, organisations: int, seed: int, out_dir: Path, until: dt.date, years: int = 6
) -> Sample:
    """Write records.csv and events.csv for a synthetic city; same seed, same files."""
    rng = random.Random(seed)
    catalogue = resolve_catalogue(None)
    codes = {
        kind: [c for c in catalogue.codes.values() if kind in c.subjects]
        for kind in ("person", "organisation")
    }
    subjects = [(person_id(rng), "person") for _ in range(persons)]
    subjects += [(organisation_id(rng), "organisation") for _ in range(organisations)]
    start = until - dt.timedelta(days=365 * years)
    out_dir.mkdir(parents=True, exist_ok=True)
    records_path, events_path = out_dir / "records.csv", out_dir / "events.csv"
    n_records = n_events = 0
    with (
        records_path.open("w", newline="", encoding="utf-8") as rf,
        events_path.open("w", newline="", encoding="utf-8") as ef,
    ):
        records = csv.writer(rf, lineterminator="\n")
        events = csv.writer(ef, lineterminator="\n")
        records.writerow([*RECORD_COLUMNS, "amount"])
        events.writerow(["furnisher", "record_id", "event", "date", "recorded_at"])
        for subject_id, kind in subjects:
            for _ in range(min(int(rng.expovariate(0.6)), 12)):
                code = rng.choice(codes[kind])
                furnisher = FURNISHERS[code.id.split(".")[0]]
                n_records += 1
                record_id = f"R{n_records:08d}"
                occurred = start + dt.timedelta(days=rng.randrange((until - start).days))
                recorded = occurred + dt.timedelta(days=rng.randrange(1, 30))
                amount = rng.choice(["", "", str(rng.randrange(100, 200_000)), "50000.00"])
                records.writerow(
                    [
                        furnisher,
                        record_id,
                        subject_id,
                        code.id,
                        occurred.isoformat(),
                        f"{recorded.isoformat()}T09:00:00+08:00",
                        amount,
                    ]
                )
                if rng.random() < 0.15:
                    event = rng.choice(["fulfilled", "fulfilled", "repaired", "retracted"])
                    date = recorded + dt.timedelta(days=rng.randrange(1, 400))
                    events.writerow(
                        [
                            furnisher,
                            record_id,
                            event,
                            "" if event == "retracted" else date.isoformat(),
                            f"{date.isoformat()}T10:30:00Z",
                        ]
                    )
                    n_events += 1
    return Sample(records_path, events_path, len(subjects), n_records, n_events)


def run_demo(
    *, persons: int, organisations: int, seed: int, out_dir: Path, as_of: dt.date, console: Console
) -> None:
    """Generate the city, evaluate every shipped scheme, and print what came out."""
    sample = generate(
        persons=persons, organisations=organisations, seed=seed, out_dir=out_dir, until=as_of
    )
    console.print(
        f"[bold]Synthetic city[/bold]: {sample.subjects} subjects, {sample.record_count} records, "
        f"{sample.event_count} events in {out_dir}/"
    )
    catalogue = resolve_catalogue(None)
    evaluate_sample = partial(
        evaluate_files,
        catalogue=catalogue,
        records=sample.records,
        events=sample.events,
        as_of=as_of,
        known_at_us=parse_known_at(f"{as_of.isoformat()}T23:59:59Z"),
    )
    for scheme_id in shipped_scheme_ids():
        scheme = resolve_scheme(scheme_id, catalogue=catalogue)
        out = out_dir / f"standings-{scheme_id}.jsonl"
        report, _ = evaluate_sample(
            scheme=scheme,
            out=out,
            engine=DuckDBEngine(),
            rejects=out_dir / f"rejects-{scheme_id}.csv",
        )
        lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        table = Table(title=f"{scheme.id}: {scheme.title}", title_justify="left")
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("subjects evaluated", str(report.subjects))
        if scheme.score:
            grades = Counter(line["grade"] for line in lines)
            for band in scheme.score.grades:
                table.add_row(f"grade {band.grade}", str(grades.get(band.grade, 0)))
        sizes = Counter(list_id for line in lines for list_id in line["lists"])
        for lst in scheme.lists:
            table.add_row(f"{lst.kind} list {lst.id}", str(sizes.get(lst.id, 0)))
        measures = Counter(m for line in lines for m in line["measures"])
        for measure in scheme.measures:
            table.add_row(f"{measure.kind} {measure.id}", str(measures.get(measure.id, 0)))
        console.print(table)

    # A few explained standings from the reference engine, the way a subject would read them.
    scheme = resolve_scheme("rongcheng-person", catalogue=catalogue)
    explained = out_dir / "explained-rongcheng-person.jsonl"
    evaluate_sample(scheme=scheme, out=explained, engine=ReferenceEngine(), explain=True)
    lines = [json.loads(line) for line in explained.read_text(encoding="utf-8").splitlines()]
    lines.sort(key=lambda line: (line["score"], line["subject_id"]))
    console.print(f"\n[bold]Three explained standings under {scheme.id}[/bold] (as of {as_of}):")
    for line in (lines[0], lines[len(lines) // 2], lines[-1]):
        console.print(
            f"\n{line['subject_id']}: score {line['score']}, grade {line['grade']}, "
            f"lists {line['lists'] or 'none'}, measures {line['measures'] or 'none'}"
        )
        for item in line["explanation"]["records"]:
            console.print(
                f"  {item['points']:+d} {catalogue.codes[item['code']].title} "
                f"({item['furnisher']}/{item['record_id']}), counts until {item['ends']}; "
                f"basis: {item['legal_basis']}",
                markup=False,
            )
        for code, adjustment in line["explanation"]["cap_adjustments"].items():
            console.print(f"  {adjustment:+d} cap on {code}")
    console.print(f"\nAll standings and rejects are in {out_dir}/")
