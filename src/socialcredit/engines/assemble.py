"""Standings with explanations, assembled from the SQL engine's tables (``contributions`` and
``standings``) the same way for every engine that runs :mod:`socialcredit.engines.sql`."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from socialcredit.policy.model import Scheme
from socialcredit.semantics.reference import Standing, measure_triggers

# Runs a query and yields its rows as {column: value}.
RowsOf = Callable[[str], Iterable[dict[str, Any]]]


def explained_standings(rows_of: RowsOf, scheme: Scheme, prefix: str = "") -> list[Standing]:
    """Every standing with its explanation, in ``sid`` order (identifier order), from the
    scheme's ``{prefix}contributions`` and ``{prefix}standings``."""
    rules = scheme.score.rules if scheme.score else ()
    code_lists = scheme.code_lists
    counted_columns = [f"p{i}" for i in range(len(rules))] + [
        f"l{i}" for i in range(len(code_lists))
    ]
    counted: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if counted_columns:
        where = " OR ".join(f"{c} IS NOT NULL" for c in counted_columns)
        query = (
            f"SELECT * FROM {prefix}contributions WHERE {where} ORDER BY sid, furnisher, record_id"
        )
        for row in rows_of(query):
            item: dict[str, Any] = {
                "furnisher": row["furnisher"],
                "record_id": row["record_id"],
                "code": row["code"],
                "points": None,
                "legal_basis": None,
                "ends": None,
                "lists": {},
            }
            for index, rule in enumerate(rules):
                if row[f"p{index}"] is not None:
                    item.update(
                        points=int(row[f"p{index}"]),
                        legal_basis=rule.legal_basis,
                        ends=_iso(row[f"pe{index}"]),
                    )
            for index, lst in enumerate(code_lists):
                if row[f"l{index}"] is not None:
                    item["lists"][lst.id] = _iso(row[f"l{index}"])
            item["lists"] = dict(sorted(item["lists"].items()))
            counted[row["sid"]].append(item)

    standings = []
    for row in rows_of(f"SELECT * FROM {prefix}standings ORDER BY sid"):
        caps = {}
        for index, rule in enumerate(rules):
            total = int(row[f"s{index}"] or 0)
            if rule.cap is not None and abs(total) > rule.cap:
                caps[rule.label] = (rule.cap if total > 0 else -rule.cap) - total
        list_dates = {
            lst.id: {"since": _iso(row[f"since{i}"]), "until": _iso(row[f"until{i}"])}
            for i, lst in enumerate(code_lists)
        }
        held = list(row["lists"])
        # A red list a barred subject is not on (rule 14) is no reason for a record.
        records = []
        for item in counted.get(row["sid"], []):
            lists = {i: end for i, end in item["lists"].items() if i in held}
            if item["points"] is not None or lists:
                records.append({**item, "lists": lists})
        standings.append(
            Standing(
                subject_id=row["subject_id"],
                kind=row["kind"],
                score=None if row["score"] is None else int(row["score"]),
                grade=row["grade"],
                lists=tuple(held),
                measures=tuple(row["measures"]),
                explanation={
                    "records": records,
                    "cap_adjustments": dict(sorted(caps.items())),
                    "lists": {i: list_dates.get(i, {"since": None, "until": None}) for i in held},
                    "measures": measure_triggers(
                        scheme, set(held), row["grade"], barred=bool(row["barred"])
                    ),
                },
            )
        )
    return standings


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None
