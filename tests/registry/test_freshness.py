"""Freshness has one owner: the rule for one stored row (`is_stale`, what checks use) and the
same rule as SQL over the standings table (`stale_rows`, what refresh, public lists and verify
use) pick the same rows."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from socialcredit.registry.policies import scheme_at
from socialcredit.registry.standings.freshness import Stored, is_stale, stale_rows
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import standings

TODAY = dt.date(2026, 12, 1)
ADULT, FIRM = "11010519491231002X", "91350100M000100Y43"
MINOR = "371082201006013217"  # born 2010-06-01: 18 from 2028-06-02
days = st.integers(-40, 40).map(lambda n: TODAY + dt.timedelta(days=n))
row = st.tuples(st.integers(1, 3), days, st.one_of(st.none(), days))


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(row, min_size=1, max_size=12))
def test_the_sql_rule_is_the_python_rule(
    store: Store, settings: Settings, rows: list[tuple[int, dt.date, dt.date | None]]
) -> None:
    with store.reading() as connection:
        applicable = scheme_at(connection, "spc-defaulters", as_of=TODAY, known_us=now_us())
    with store.writing("standings") as connection:
        connection.execute(standings.delete().where(standings.c.scheme_id == "spc-defaulters"))
        connection.execute(
            standings.insert(),
            [
                {
                    "scheme_id": "spc-defaulters",
                    "subject_id": 1_000 + i,
                    "scheme_version": version,
                    "as_of": as_of,
                    "known_us": 0,
                    "score": None,
                    "grade": None,
                    "lists": "[]",
                    "measures": "[]",
                    "holds_until": until,
                }
                for i, (version, as_of, until) in enumerate(rows)
            ],
        )
    with store.reading() as connection:
        by_sql = set(
            connection.scalars(
                sa.select(standings.c.subject_id).where(stale_rows(applicable, TODAY))
            )
        )
    by_python = {
        1_000 + i
        for i, (version, as_of, until) in enumerate(rows)
        if is_stale(
            Stored(version, as_of.isoformat(), until.isoformat() if until else None),
            applicable,
            ADULT,
            "person",
            TODAY.isoformat(),
            pending=False,
        )
    }
    assert by_sql == by_python
    # pending, or no stored row, is stale whatever the row says; another kind never is
    fresh = Stored(applicable.scheme.version, TODAY.isoformat(), None)
    assert not is_stale(fresh, applicable, ADULT, "person", TODAY.isoformat(), pending=False)
    assert is_stale(fresh, applicable, ADULT, "person", TODAY.isoformat(), pending=True)
    assert is_stale(None, applicable, FIRM, "organisation", TODAY.isoformat(), pending=False)
    # a minor is outside the SPC list's population (min_age 18): nothing to go stale, until
    # the day after the 18th birthday, when the missing row is stale
    assert not is_stale(None, applicable, MINOR, "person", TODAY.isoformat(), pending=False)
    assert not is_stale(None, applicable, MINOR, "person", "2028-06-01", pending=False)
    assert is_stale(None, applicable, MINOR, "person", "2028-06-02", pending=False)
