"""A plain-language summary of a scheme, fit for publication: every rule, list and measure
with its legal basis."""

from __future__ import annotations

from socialcredit.policy.model import Catalogue, CodeList, Duration, Rule, Scheme


def _years(length: Duration) -> str:
    if length.months is None:
        return f"{length.n} days (about {length.n / 365.25:.1f} years)"
    return str(length)


def _rule_points(rule: Rule) -> str:
    if rule.points is not None:
        return f"{rule.points:+d} points"
    return "points by amount: " + ", ".join(
        f"{t.points:+d} from {t.min_amount}" for t in rule.tiers
    )


def describe_scheme(scheme: Scheme, catalogue: Catalogue) -> str:
    lines = [f"{scheme.id} v{scheme.version}: {scheme.title}"]
    lines.append(f"  applies to: {', '.join(scheme.subjects)}")
    if scheme.jurisdiction:
        lines.append(f"  jurisdiction: {scheme.jurisdiction}")
    if scheme.scope.regions:
        lines.append(f"  regions: {', '.join(scheme.scope.regions)} (division codes)")
    if scheme.scope.min_age is not None:
        lines.append(f"  persons of {scheme.scope.min_age} or older only")
    lines.append(
        f"  every effect at most {scheme.max_effect_years} years"
        + (f" ({scheme.max_effect.legal_basis})" if scheme.max_effect else "")
    )
    if scheme.effective_from:
        lines.append(f"  effective from: {scheme.effective_from.isoformat()}")
    lines.append(
        "  under objection: a record has no effect until the objection is decided"
        if scheme.objection_suspends_effect
        else "  under objection: a record keeps its effect until the objection is decided"
    )
    if scheme.score:
        score = scheme.score
        lines.append(f"  score: base {score.base}, bounded to [{score.min}, {score.max}]")
        bands = ", ".join(f"{g.grade} from {g.min}" for g in score.grades)
        lines.append(f"  grades (best first): {bands}")
        for rule in score.rules:
            code = catalogue.codes[rule.code]
            extra = []
            if rule.cap is not None:
                extra.append(f"at most {rule.cap} points in total")
            if rule.ends_on_fulfilment:
                extra.append("ends when the obligation is fulfilled")
            lines.append(
                f"  - {code.title} ({rule.code}): {_rule_points(rule)} for "
                f"{_years(rule.valid)}" + (f"; {'; '.join(extra)}" if extra else "")
            )
            lines.append(f"      legal basis: {rule.legal_basis}")
    for lst in scheme.lists:
        visibility = "public" if lst.public else "not public"
        if isinstance(lst, CodeList):
            entry = f"records of {', '.join(lst.codes)}"
            if lst.min_amount is not None:
                entry += f" with amount at least {lst.min_amount}"
            entry += f", for {_years(lst.duration)}"
            if lst.ends_on_fulfilment:
                entry += " or until fulfilled"
        else:
            entry = f"grade {' or '.join(lst.grades)}"
            if lst.exclusive_of:
                entry += f", unless on {', '.join(lst.exclusive_of)}"
        lines.append(f"  {lst.kind} list {lst.id} ({visibility}): {lst.title}; entry: {entry}")
        lines.append(f"      legal basis: {lst.legal_basis}")
    for measure in scheme.measures:
        triggers = [*(f"list {i}" for i in measure.lists), *(f"grade {g}" for g in measure.grades)]
        lines.append(
            f"  {measure.kind} {measure.id} at {measure.agency}: {measure.title}; "
            f"while on {' or '.join(triggers)}"
        )
        lines.append(f"      legal basis: {measure.legal_basis}")
    return "\n".join(lines)
