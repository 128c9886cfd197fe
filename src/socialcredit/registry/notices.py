"""Notices: what subjects are told, written to the outbox in the same transaction as the change.

- A negative record furnished about a subject ("warning before punishment": at ingest, before
  any list or score it drives is published).
- Placed on a list, taken off a list, a grade changed — whenever the current standings change,
  online or in batch.

The default sender leaves notices in the outbox, where the subject reads them
(`socialcredit notices list`, later the portal). `socialcredit notices send --to file:PATH`
hands the unsent ones to another channel (JSON lines) and marks them sent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from socialcredit.errors import NotFound, UsageError
from socialcredit.policy.model import Catalogue, Scheme
from socialcredit.registry.audit import Reader, record_read
from socialcredit.registry.bulk import insert_from_duckdb
from socialcredit.store.db import Store, now_us, us_to_iso
from socialcredit.store.schema import notices, subjects

COLUMNS = ("subject_id", "created_us", "kind", "scheme_id", "ref", "text")


def register_catalogue_info(con: duckdb.DuckDBPyConnection, catalogue: Catalogue) -> None:
    """Table ``code_info`` (code, title, negative, legal_basis) for notice texts."""
    codes = list(catalogue.codes.values())
    con.register(
        "code_info_arrow",
        pa.table(
            {
                "code": [c.id for c in codes],
                "title": [c.title for c in codes],
                "negative": [c.polarity == "negative" for c in codes],
                "legal_basis": [c.legal_basis for c in codes],
            }
        ),
    )
    con.execute("CREATE OR REPLACE TEMP TABLE code_info AS SELECT * FROM code_info_arrow")


def notify_records(
    store: Store, connection: sa.Connection, con: duckdb.DuckDBPyConnection, catalogue: Catalogue
) -> None:
    """One notice per subject for the negative records appended about it from DuckDB's
    ``fresh`` (with ``subject_keys``), in the ingest's transaction."""
    register_catalogue_info(con, catalogue)
    insert_from_duckdb(
        store,
        connection,
        con,
        "notices",
        f"""
        SELECT m.subject_id, CAST({now_us()} AS BIGINT) AS created_us, 'record' AS kind,
               CAST(NULL AS VARCHAR) AS scheme_id,
               string_agg(f.furnisher || '/' || f.record_id, ' ' ORDER BY f._row) AS ref,
               CASE WHEN count(*) = 1 THEN 'A negative record was furnished about you by '
                    ELSE count(*) || ' negative records were furnished about you by ' END
               || any_value(f.furnisher) || ': '
               || string_agg(
                      c.title || ' (record ' || f.record_id || ', ' || CAST(f.occ AS VARCHAR)
                      || ')', '; ' ORDER BY f._row)
               || '. Your standing shows what each means for you and its legal basis; you may '
               || 'object to a record.' AS text
        FROM fresh f
        JOIN subject_keys m ON m.identifier = f.identifier
        JOIN code_info c ON c.code = f.code
        WHERE c.negative
        GROUP BY m.subject_id
        """,
        COLUMNS,
    )


def _list_text(scheme: Scheme, list_id: str, day: dt.date, listed: bool) -> str:
    lst = next((item for item in scheme.lists if item.id == list_id), None)
    title = lst.title if lst else list_id
    kind = lst.kind if lst else "a"
    named = f"{scheme.id} version {scheme.version}"  # the version that changed the standing
    if listed:
        basis = f" Legal basis: {lst.legal_basis}." if lst else ""
        return (
            f"From {day.isoformat()} you are on the {kind} list “{title}” ({named}).{basis} "
            "You may read why, object, or apply for credit repair."
        )
    return f"From {day.isoformat()} you are no longer on the {kind} list “{title}” ({named})."


def changes(
    scheme: Scheme,
    day: dt.date,
    before: dict[int, tuple[list[str], str | None]],
    after: dict[int, tuple[list[str], str | None]],
) -> list[tuple[Any, ...]]:
    """Notice rows for the subjects whose lists or grade differ between two standings maps
    (subject key → (lists, grade)); a subject absent from one side has no lists and no grade."""
    created = now_us()
    rows: list[tuple[Any, ...]] = []
    for key in sorted(set(before) | set(after)):
        old_lists, old_grade = before.get(key, ([], None))
        new_lists, new_grade = after.get(key, ([], None))
        for list_id in sorted(set(new_lists) - set(old_lists)):
            rows.append(
                (key, created, "listed", scheme.id, list_id, _list_text(scheme, list_id, day, True))
            )
        for list_id in sorted(set(old_lists) - set(new_lists)):
            rows.append(
                (
                    key,
                    created,
                    "delisted",
                    scheme.id,
                    list_id,
                    _list_text(scheme, list_id, day, False),
                )
            )
        if old_grade is not None and new_grade is not None and old_grade != new_grade:
            rows.append(
                (
                    key,
                    created,
                    "grade",
                    scheme.id,
                    None,
                    f"From {day.isoformat()} your grade under {scheme.id} version "
                    f"{scheme.version} is {new_grade} "
                    f"(it was {old_grade}). You may read why.",
                )
            )
    return rows


def changes_sql(scheme: Scheme, day: dt.date) -> str:
    """The same as :func:`changes`, in DuckDB, between tables ``old_standings`` and ``result``
    (sid, lists as JSON text, grade)."""
    titles = {lst.id: (lst.title, lst.kind, lst.legal_basis) for lst in scheme.lists}
    if titles:
        values = ", ".join(
            "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in (i, *t)) + ")"
            for i, t in titles.items()
        )
        lists_info = f"(VALUES {values}) AS li(list_id, title, kind, legal_basis)"
    else:
        lists_info = (
            "(SELECT NULL::VARCHAR AS list_id, NULL::VARCHAR AS title, NULL::VARCHAR AS kind, "
            "NULL::VARCHAR AS legal_basis WHERE FALSE) li"
        )
    d, s = day.isoformat(), scheme.id.replace("'", "''")
    named = f"{s} version {scheme.version}"
    created = now_us()
    return f"""
    WITH old AS (
        SELECT sid, from_json(lists, '["VARCHAR"]') AS lists, grade FROM old_standings
    ), new AS (
        SELECT sid, from_json(lists, '["VARCHAR"]') AS lists, grade FROM result
    ), both_sides AS (
        SELECT coalesce(n.sid, o.sid) AS sid, coalesce(o.lists, []) AS old_lists,
               coalesce(n.lists, []) AS new_lists, o.grade AS old_grade, n.grade AS new_grade
        FROM new n FULL OUTER JOIN old o ON o.sid = n.sid
    ), moved AS (
        SELECT sid, unnest(list_filter(new_lists, lambda x: NOT list_contains(old_lists, x)))
                   AS list_id, TRUE AS listed FROM both_sides
        UNION ALL
        SELECT sid, unnest(list_filter(old_lists, lambda x: NOT list_contains(new_lists, x))),
               FALSE FROM both_sides
    )
    SELECT m.sid AS subject_id, CAST({created} AS BIGINT) AS created_us,
           CASE WHEN m.listed THEN 'listed' ELSE 'delisted' END AS kind,
           '{s}' AS scheme_id, m.list_id AS ref,
           CASE WHEN m.listed
                THEN 'From {d} you are on the ' || li.kind || ' list “' || li.title
                     || '” ({named}). '
                     || 'Legal basis: ' || li.legal_basis || '. You may read why, object, or '
                     || 'apply for credit repair.'
                ELSE 'From {d} you are no longer on the ' || li.kind || ' list “' || li.title
                     || '” ({named}).'
           END AS text
    FROM moved m JOIN {lists_info} ON li.list_id = m.list_id
    UNION ALL
    SELECT sid, CAST({created} AS BIGINT), 'grade', '{s}', NULL,
           'From {d} your grade under {named} is ' || new_grade || ' (it was ' || old_grade
           || '). You may read why.'
    FROM both_sides
    WHERE old_grade IS NOT NULL AND new_grade IS NOT NULL AND old_grade <> new_grade
    """


# A notice carrying a credential (a sign-in link the subject asked for): its text goes out only
# through the channel (:func:`send`); every page, report and API answer shows this instead, so
# that no one who reads a subject's notices — an operator issuing a report — can sign in as
# the subject.
SIGN_IN = "sign_in"
SIGN_IN_SHOWN = "A one-time sign-in link was sent to you through your notice channel."


def shown_text(kind: str, text: str) -> str:
    """A notice's text as the pages, reports and API show it (a credential never)."""
    return SIGN_IN_SHOWN if kind == SIGN_IN else text


def insert_rows(store: Store, connection: sa.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    store.bulk_insert(connection, notices, COLUMNS, rows)


@dataclass(frozen=True)
class Notice:
    id: int
    created_us: int
    kind: str
    scheme_id: str | None
    ref: str | None
    text: str
    sent_us: int | None
    channel: str | None


def notices_of(store: Store, reader: Reader, identifier: str) -> list[Notice]:
    """A subject's notices, oldest first (a read of the subject's data: audited)."""
    with store.reading() as connection:
        key = connection.scalar(sa.select(subjects.c.id).where(subjects.c.identifier == identifier))
        if key is None:
            raise NotFound(f"the registry holds no records about {identifier}")
        rows = connection.execute(
            sa.select(notices).where(notices.c.subject_id == key).order_by(notices.c.id)
        ).all()
    record_read(store, reader, int(key), identifier, "notices")
    return [
        Notice(
            r.id,
            r.created_us,
            r.kind,
            r.scheme_id,
            r.ref,
            shown_text(r.kind, r.text),
            r.sent_us,
            r.channel,
        )
        for r in rows
    ]


def send(store: Store, to: str) -> int:
    """Hand every unsent notice to a channel and mark it sent. Channels: ``file:PATH`` (JSON
    lines appended, one per notice). Returns how many were sent."""
    if not to.startswith("file:") or len(to) <= 5:
        raise UsageError(f"unknown channel {to!r}: use file:PATH (JSON lines)")
    path = Path(to[5:])
    with store.writing("notices") as connection:
        rows = connection.execute(
            sa.select(notices, subjects.c.identifier)
            .join(subjects, subjects.c.id == notices.c.subject_id)
            .where(notices.c.sent_us.is_(None))
            .order_by(notices.c.id)
        ).all()
        if not rows:
            return 0
        sent = now_us()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            for r in rows:
                handle.write(
                    json.dumps(
                        {
                            "notice": r.id,
                            "subject_id": r.identifier,
                            "created": us_to_iso(r.created_us),
                            "kind": r.kind,
                            "scheme": r.scheme_id,
                            "ref": r.ref,
                            "text": r.text,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
        connection.execute(
            notices.update()
            .where(notices.c.id.in_([r.id for r in rows]))
            .values(sent_us=sent, channel="file")
        )
    return len(rows)
