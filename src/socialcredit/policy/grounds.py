"""Grounds: what kind of conduct a code records, and which grounds the law forbids outright."""

from __future__ import annotations

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
