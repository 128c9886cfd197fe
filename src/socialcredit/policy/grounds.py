"""Grounds: what kind of conduct a code records, and which grounds the law forbids outright."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yaml

ALLOWED: dict[str, str] = {
    "judicial": "failure to perform a court judgment or ruling",
    "tax": "tax obligations",
    "financial": "loans, credit, guarantees, insurance and other financial obligations",
    "contract": "performance of contracts",
    "regulatory": "administrative and market-regulation obligations",
    "traffic_safety": "road traffic safety",
    "environment": "environmental protection",
    "labour": "obligations to employees (wages, social insurance, safety at work)",
    "product_safety": "product and food safety, counterfeits",
    "civic_merit": "recognised civic merit (honours, volunteering, heroic acts)",
}

# Each prohibited ground with the reason the registry refuses it. A code with one of these
# grounds can never be loaded, whatever its legal basis says.
PROHIBITED: dict[str, str] = {
    "political": "political opinion or expression is protected and never a credit matter",
    "petition_protest": "petitioning, protest and assembly are protected rights",
    "religion": "religion or belief is a protected characteristic",
    "ethnicity": "ethnicity or origin is a protected characteristic",
    "family_planning": "family planning and reproduction are private decisions",
    "health": "health or disability is a protected characteristic",
    "sexual_orientation": "sexual orientation is a protected characteristic",
    "union_membership": "trade-union membership is a protected right",
    "relatives": "a subject answers only for its own conduct, never a relative's",
    "biometric": "biometric data is never ingested",
    "location": "location data is never ingested",
    "communications": "communications data is never ingested",
}


def ground_problem(code_id: str, ground: object) -> str | None:
    """Why a ground is refused for a code, or None when it is allowed."""
    if isinstance(ground, str) and ground in ALLOWED:
        return None
    if isinstance(ground, str) and ground in PROHIBITED:
        return (
            f"code {code_id!r} has the prohibited ground {ground!r}: {PROHIBITED[ground]}; "
            "such a code cannot be part of any catalogue"
        )
    return f"unknown ground {ground!r} for code {code_id!r}; allowed grounds: " + ", ".join(
        sorted(ALLOWED)
    )


@cache
def prohibited_terms() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """The shipped term lists: for each prohibited ground, its Chinese and English terms."""
    text = (resources.files("socialcredit") / "data" / "prohibited-terms.yaml").read_text("utf-8")
    doc = yaml.safe_load(text)
    unknown = sorted(set(doc) - set(PROHIBITED))
    if unknown:
        raise ValueError(f"prohibited-terms.yaml: grounds {unknown} are not prohibited grounds")
    return {
        ground: (tuple(str(t) for t in terms["zh"]), tuple(str(t) for t in terms["en"]))
        for ground, terms in doc.items()
    }


@cache
def _english_pattern(term: str) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z0-9])" + re.escape(term), re.IGNORECASE)


def screen_text(text: str) -> tuple[str, str] | None:
    """The first (term, ground) of the term lists that ``text`` contains, else None. Chinese
    terms match as substrings; English terms case-insensitively at the start of a word."""
    for ground, (chinese, english) in prohibited_terms().items():
        for term in chinese:
            if term in text:
                return term, ground
        for term in english:
            if _english_pattern(term).search(text):
                return term, ground
    return None


def screen_problem(text: str) -> str | None:
    """Why a title or description is refused by the text screen, else None."""
    found = screen_text(text)
    if found is None:
        return None
    term, ground = found
    return (
        f"names {term!r}, a term of the prohibited ground {ground!r} ({PROHIBITED[ground]}); "
        "such conduct can never be recorded, listed or punished, whatever ground is declared"
    )
