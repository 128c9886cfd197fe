"""The register of legal instruments a policy may cite, and legal bases that name them.

A structured legal basis is an instrument id, a space and a locator (``"spc-2017-7 art. 1"``),
or a mapping ``{instrument: ID, locator: "art. 3 item 1"}``. The shipped register is
``socialcredit/data/instruments.yaml``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, cast, get_args

import yaml

Level = Literal[
    "law",
    "administrative_regulation",
    "local_regulation",
    "judicial_interpretation",
    "departmental_rule",
    "central_policy",
    "normative_document",
]
LEVELS: tuple[Level, ...] = get_args(Level)
# What may set a scheme's own effect limit above five years (policy language v2, rule 7).
STATUTORY: tuple[Level, ...] = (
    "law",
    "administrative_regulation",
    "local_regulation",
    "judicial_interpretation",
)
# What a black list or a restriction must rest on (Guobanfa [2020] No. 49: no punishment without
# a basis in law, regulation or a central policy document).
PUNITIVE: tuple[Level, ...] = (*STATUTORY, "central_policy")


@dataclass(frozen=True)
class Instrument:
    id: str
    title: str
    issuer: str
    level: Level
    adopted: dt.date
    effective: dt.date
    repealed: dt.date | None = None

    def in_force(self, day: dt.date) -> bool:
        return self.effective <= day and (self.repealed is None or day < self.repealed)


@dataclass(frozen=True)
class Basis:
    instrument: Instrument
    locator: str

    def __str__(self) -> str:
        return f"{self.instrument.id} {self.locator}"

    def display(self) -> str:
        """What a reader is shown: the instrument's title and the locator."""
        return f"{self.instrument.title}, {self.locator}"


def parse_register(text: str) -> dict[str, Instrument]:
    """The instruments of a register document, by id (a malformed register is a bug in the
    shipped data, so it raises)."""
    doc = yaml.safe_load(text)
    found: dict[str, Instrument] = {}
    for item in doc["instruments"]:
        level = item["level"]
        if level not in LEVELS:
            raise ValueError(f"instrument {item['id']}: unknown level {level!r}")
        if item["id"] in found:
            raise ValueError(f"instrument {item['id']} appears twice")
        found[item["id"]] = Instrument(
            id=item["id"],
            title=item["title"],
            issuer=item["issuer"],
            level=cast(Level, level),
            adopted=item["adopted"],
            effective=item["effective"],
            repealed=item.get("repealed"),
        )
    return found


@cache
def shipped_register() -> dict[str, Instrument]:
    text = (resources.files("socialcredit") / "data" / "instruments.yaml").read_text("utf-8")
    return parse_register(text)


def parse_basis(value: object, register: dict[str, Instrument], day: dt.date | None) -> Basis | str:
    """The instrument and locator a legal basis names, or why it names none: not of the
    form, an unknown instrument, or one not in force on ``day`` (None: not repealed)."""
    if isinstance(value, dict):
        instrument_id, locator = value.get("instrument"), value.get("locator")
        extra = sorted(set(value) - {"instrument", "locator"})
        if extra or not isinstance(instrument_id, str) or not isinstance(locator, str):
            return "expected {instrument: ID, locator: TEXT} or 'ID LOCATOR'"
    elif isinstance(value, str):
        instrument_id, _, locator = value.strip().partition(" ")
    else:
        return "expected 'INSTRUMENT-ID LOCATOR' or {instrument: ID, locator: TEXT}"
    if not locator.strip():
        return (
            f"{value!r} names no locator: give the instrument id, a space and the article "
            "(such as 'spc-2017-7 art. 1')"
        )
    instrument = register.get(instrument_id)
    if instrument is None:
        return (
            f"{instrument_id!r} is not in the instruments register "
            "(socialcredit/data/instruments.yaml); register the instrument or fix the id"
        )
    if day is not None and not instrument.in_force(day):
        return f"{instrument_id} ({instrument.title}) is not in force on {day.isoformat()}"
    if day is None and instrument.repealed is not None:
        return f"{instrument_id} ({instrument.title}) was repealed on {instrument.repealed}"
    return Basis(instrument, locator.strip())
