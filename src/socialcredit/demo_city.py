"""A synthetic city that looks real, for `socialcredit demo-data` and `make demo`.

Persons with valid resident identity numbers and Chinese names, organisations with valid unified
social credit codes and company names (Faker's zh_CN locale), and the institutions that furnish
the shipped catalogue's codes at plausible yearly rates: a court, the tax bureau, the market
regulator, traffic police, two banks, the heating and water utility, civil affairs and a charity
federation. Some records are later fulfilled, repaired or withdrawn. Same seed, same city.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker

from socialcredit.identifiers import (
    USCC_ALPHABET,
    organisation_check_character,
    person_check_character,
)

# Rongcheng (Weihai, Shandong) and its neighbours.
REGIONS = ("371082", "371002", "371003", "371083")


@dataclass(frozen=True)
class FurnisherSpec:
    id: str
    name: str
    prefix: str  # of its record ids
    codes: tuple[str, ...]


FURNISHERS = (
    FurnisherSpec(
        "rongcheng-court",
        "荣成市人民法院",
        "RCFY",
        ("court.judgment_default", "court.breach_found", "court.unpaid_debt", "court.arrears"),
    ),
    FurnisherSpec("shandong-tax", "国家税务总局荣成市税务局", "RCSW", ("tax.a_grade_taxpayer",)),
    FurnisherSpec(
        "rongcheng-samr",
        "荣成市市场监督管理局",
        "RCSJ",
        (
            "market.pyramid_fraud",
            "market.counterfeit",
            "gsxt.annual_report_missing",
            "gsxt.serious_illegal",
        ),
    ),
    FurnisherSpec(
        "rongcheng-traffic-police",
        "荣成市公安局交通警察大队",
        "RCJJ",
        (
            "traffic.ticket",
            "traffic.red_light",
            "traffic.offence_minor",
            "traffic.offence_serious",
            "traffic.offence_criminal",
        ),
    ),
    FurnisherSpec(
        "icbc-rongcheng",
        "中国工商银行荣成支行",
        "ICBC",
        ("finance.obligation_default", "finance.loan_arrears"),
    ),
    FurnisherSpec(
        "rongcheng-rcb",
        "荣成农村商业银行",
        "RCNS",
        ("finance.loan_arrears", "finance.private_lending_breach", "finance.illegal_fundraising"),
    ),
    FurnisherSpec(
        "rongcheng-utilities",
        "荣成市热力与供水公司",
        "RCGR",
        (
            "utility.late_fees",
            "utility.heating_tampering",
            "utility.theft",
            "utility.equipment_damage",
        ),
    ),
    FurnisherSpec(
        "rongcheng-civil-affairs", "荣成市民政局", "RCMZ", ("civic.honour", "civic.heroic_act")
    ),
    FurnisherSpec("rongcheng-charity", "荣成市慈善总会", "RCCS", ("civic.volunteer_service",)),
)

# Expected records per subject per year, by code: (rate, kind, amount range or None).
RATES: dict[str, tuple[float, str, tuple[int, int] | None]] = {
    "court.judgment_default": (0.004, "person", (20_000, 2_000_000)),
    "court.breach_found": (0.006, "person", (5_000, 300_000)),
    "court.unpaid_debt": (0.004, "person", (1_000, 100_000)),
    "court.arrears": (0.003, "person", (1_000, 80_000)),
    "finance.obligation_default": (0.006, "person", (5_000, 500_000)),
    "finance.loan_arrears": (0.03, "person", (500, 60_000)),
    "finance.private_lending_breach": (0.002, "person", (10_000, 400_000)),
    "finance.illegal_fundraising": (0.0003, "person", (100_000, 5_000_000)),
    "market.pyramid_fraud": (0.0003, "person", None),
    "market.counterfeit": (0.0005, "person", None),
    "utility.late_fees": (0.04, "person", (50, 3_000)),
    "utility.heating_tampering": (0.002, "person", None),
    "utility.theft": (0.0008, "person", (200, 20_000)),
    "utility.equipment_damage": (0.0008, "person", (500, 30_000)),
    "traffic.ticket": (0.12, "person", (50, 200)),
    "traffic.red_light": (0.05, "person", (200, 200)),
    "traffic.offence_minor": (0.03, "person", None),
    "traffic.offence_serious": (0.006, "person", None),
    "traffic.offence_criminal": (0.0008, "person", None),
    "civic.honour": (0.004, "person", None),
    "civic.heroic_act": (0.0005, "person", None),
    "civic.volunteer_service": (0.05, "person", None),
}
ORGANISATION_RATES: dict[str, tuple[float, tuple[int, int] | None]] = {
    "court.judgment_default": (0.012, (50_000, 20_000_000)),
    "court.arrears": (0.01, (10_000, 2_000_000)),
    "gsxt.annual_report_missing": (0.06, None),
    "gsxt.serious_illegal": (0.004, None),
    "tax.a_grade_taxpayer": (0.12, None),
    "utility.late_fees": (0.05, (500, 50_000)),
    "civic.honour": (0.01, None),
}
# What happens later: (probability, event, days after occurrence (min, max)).
FOLLOW_UPS: dict[str, tuple[tuple[float, str, int, int], ...]] = {
    "court.judgment_default": ((0.55, "fulfilled", 30, 700), (0.05, "repaired", 400, 900)),
    "court.unpaid_debt": ((0.6, "fulfilled", 20, 400),),
    "court.arrears": ((0.6, "fulfilled", 20, 400),),
    "finance.obligation_default": ((0.5, "fulfilled", 30, 500), (0.08, "repaired", 200, 700)),
    "finance.loan_arrears": ((0.8, "fulfilled", 5, 120),),
    "utility.late_fees": ((0.85, "fulfilled", 3, 90),),
    "gsxt.annual_report_missing": ((0.5, "repaired", 60, 400),),
    "traffic.offence_serious": ((0.1, "repaired", 365, 900),),
}
RETRACTED = 0.01  # furnisher withdrawals and upheld objections


@dataclass
class City:
    persons: int = 0
    organisations: int = 0
    records: int = 0
    events: int = 0
    furnishers: list[FurnisherSpec] = field(default_factory=list)


def person_id(rng: random.Random) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))
    body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + person_check_character(body)


def organisation_id(rng: random.Random) -> str:
    body = "91" + rng.choice(REGIONS) + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + organisation_check_character(body)


def _unique(make: Callable[[random.Random], str], rng: random.Random, n: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < n:
        seen.add(make(rng))
    return sorted(seen)


def generate_city(
    out_dir: Path,
    *,
    persons: int,
    organisations: int,
    years: int,
    seed: int,
    until: dt.date,
    progress: Callable[[str], None] | None = None,
) -> City:
    """Write furnishers.csv, records/FURNISHER.csv and events/FURNISHER.csv under ``out_dir``."""
    step = progress or (lambda _message: None)
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    step("subjects")
    people = _unique(person_id, rng, persons)
    firms = _unique(organisation_id, rng, organisations)
    names = {p: fake.name() for p in people}
    names.update({f: fake.company() for f in firms})
    # A tenth of the city is five times as likely to be recorded: records cluster.
    weighted_people = people + [p for p in people if rng.random() < 0.1] * 4
    weighted_firms = firms + [f for f in firms if rng.random() < 0.1] * 4
    start = until - dt.timedelta(days=365 * years)
    span = (until - start).days

    city = City(persons=persons, organisations=organisations, furnishers=list(FURNISHERS))
    (out_dir / "records").mkdir(parents=True, exist_ok=True)
    (out_dir / "events").mkdir(parents=True, exist_ok=True)
    with (out_dir / "furnishers.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "name", "codes"])
        for spec in FURNISHERS:
            writer.writerow([spec.id, spec.name, ",".join(spec.codes)])

    def plan(code: str) -> list[tuple[str, tuple[int, int] | None]]:
        """(subject, amount range) for every record of a code over the whole history."""
        found: list[tuple[str, tuple[int, int] | None]] = []
        if code in RATES:
            rate, _, amounts = RATES[code]
            count = _count(rng, rate * len(people) * years)
            found += [(rng.choice(weighted_people), amounts) for _ in range(count)]
        if code in ORGANISATION_RATES:
            rate, amounts = ORGANISATION_RATES[code]
            count = _count(rng, rate * len(firms) * years)
            found += [(rng.choice(weighted_firms), amounts) for _ in range(count)]
        return found

    for spec in FURNISHERS:
        step(spec.id)
        rows: list[tuple[str, str, dt.date, str]] = []
        events: list[list[str]] = []
        for code in spec.codes:
            for subject, amounts in plan(code):
                occurred = start + dt.timedelta(days=rng.randrange(span))
                amount = ""
                if amounts is not None:
                    low, high = amounts
                    amount = str(rng.randrange(low, high + 1)) if high > low else str(low)
                rows.append((subject, code, occurred, amount))
        rows.sort(key=lambda r: (r[2], r[0]))  # a furnisher's register runs in date order
        with (out_dir / "records" / f"{spec.id}.csv").open(
            "w", encoding="utf-8", newline=""
        ) as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(
                ["record_id", "subject_id", "code", "occurred_on", "amount", "subject_name"]
            )
            for number, (subject, code, occurred, amount) in enumerate(rows, start=1):
                record_id = f"{spec.prefix}-{occurred.year}-{number:07d}"
                writer.writerow(
                    [record_id, subject, code, occurred.isoformat(), amount, names[subject]]
                )
                if rng.random() < RETRACTED:
                    events.append([record_id, "retracted", ""])
                    continue
                for probability, event, low, high in FOLLOW_UPS.get(code, ()):
                    if rng.random() < probability:
                        date = occurred + dt.timedelta(days=rng.randrange(low, high + 1))
                        if date <= until:
                            events.append([record_id, event, date.isoformat()])
                        break
        with (out_dir / "events" / f"{spec.id}.csv").open(
            "w", encoding="utf-8", newline=""
        ) as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["record_id", "event", "date"])
            writer.writerows(events)
        city.records += len(rows)
        city.events += len(events)
    return city


def _count(rng: random.Random, expected: float) -> int:
    """A count near ``expected`` (±10 %), at least 0."""
    return max(0, round(expected * rng.uniform(0.9, 1.1)))
