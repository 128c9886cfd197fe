"""Publication tiers and credit repair, as dated versions of the instruments that set them.

The shipped rules (``socialcredit/data/repair.yaml``) say, per severity, how long a record is
public at most and how long it must have been public before its subject may apply for repair.
They changed legal basis on 2026-04-01, when the Credit Repair Management Measures (NDRC Order
No. 36) repealed NDRC Order No. 58: a repair application, a decision and a report each cite the
version in force on their day (:func:`rules_on`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from socialcredit.policy.instruments import Basis, Instrument, parse_basis, shipped_register
from socialcredit.policy.model import Duration, Severity

SEVERITIES: tuple[Severity, ...] = ("minor", "general", "serious")


@dataclass(frozen=True)
class PublicationTier:
    severity: Severity
    published: bool  # False: not published in principle
    publication: Duration  # the longest a record of the tier is public
    repair_after: Duration | None  # the shortest it must have been public first (None: at once)

    def repair_from(self, published_on: dt.date) -> dt.date:
        """The first day a repair of a record published on ``published_on`` may be applied for."""
        return published_on if self.repair_after is None else self.repair_after.after(published_on)


@dataclass(frozen=True)
class RepairRules:
    effective: dt.date
    until: dt.date | None  # exclusive: the next version's effective day
    basis: Basis
    tiers: dict[str, PublicationTier]

    def cite(self) -> str:
        return self.basis.display()


def _duration(value: Any, where: str) -> Duration:
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"{where}: expected one of {{days|months|years: N}}")
    ((unit, n),) = value.items()
    if unit not in ("days", "months", "years") or not isinstance(n, int) or n < 1:
        raise ValueError(f"{where}: expected one of {{days|months|years: N}} with N >= 1")
    return Duration(n, unit)


def parse_rules(text: str, register: dict[str, Instrument]) -> tuple[RepairRules, ...]:
    """The versions of a rules document, oldest first. A malformed document is a bug in the
    shipped data, so it raises, naming the version and the field."""
    doc = yaml.safe_load(text)
    raw = doc.get("versions") if isinstance(doc, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ValueError("repair rules: expected a non-empty list under versions:")
    found: list[RepairRules] = []
    for index, item in enumerate(raw):
        where = f"versions[{index}]"
        effective = item.get("effective")
        if not isinstance(effective, dt.date):
            raise ValueError(f"{where}.effective: expected a date")
        if found and effective <= found[-1].effective:
            raise ValueError(f"{where}.effective: versions must be in order of effective day")
        basis = parse_basis(item.get("legal_basis"), register, effective)
        if isinstance(basis, str):
            raise ValueError(f"{where}.legal_basis: {basis}")
        tiers_raw = item.get("tiers") or {}
        if set(tiers_raw) != set(SEVERITIES):
            raise ValueError(f"{where}.tiers: expected exactly {', '.join(SEVERITIES)}")
        tiers: dict[str, PublicationTier] = {}
        for severity in SEVERITIES:
            tier = tiers_raw[severity]
            at = f"{where}.tiers.{severity}"
            tiers[severity] = PublicationTier(
                severity=severity,
                published=bool(tier.get("published", True)),
                publication=_duration(tier.get("publication"), f"{at}.publication"),
                repair_after=(
                    None
                    if tier.get("repair_after") is None
                    else _duration(tier["repair_after"], f"{at}.repair_after")
                ),
            )
        if found:
            previous = found[-1]
            found[-1] = RepairRules(previous.effective, effective, previous.basis, previous.tiers)
        found.append(RepairRules(effective, None, basis, tiers))
    return tuple(found)


@cache
def shipped_rules() -> tuple[RepairRules, ...]:
    text = (resources.files("socialcredit") / "data" / "repair.yaml").read_text("utf-8")
    return parse_rules(text, shipped_register())


def rules_on(day: dt.date, versions: tuple[RepairRules, ...] | None = None) -> RepairRules:
    """The version in force on ``day``; before the first, the first (the registry holds no
    earlier rules, and the tiers did not change)."""
    versions = versions or shipped_rules()
    current = versions[0]
    for version in versions:
        if version.effective <= day:
            current = version
    return current
