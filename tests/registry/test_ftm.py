"""The public lists as FollowTheMoney entities (issue #16 part 2), on SQLite and PostgreSQL:
the file is read back with ``followthemoney`` itself and every property value is compared with
what the registry shows publicly (FtM's cleaning drops values it cannot read silently, so a file
that merely loads proves nothing)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import sqlalchemy as sa
from followthemoney import model
from stdnum.cn import uscc

from socialcredit.registry.ftm import _organisation, export_ftm
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.policies import schemes_in_force
from socialcredit.registry.publication import public_list, public_view
from socialcredit.registry.standings.online import subject_key
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import furnishers

from .conftest import ACME, ALICE, write_csv
from .test_publication import HEADER, fill

SPC = ("spc-defaulters", "dishonest-judgment-defaulters")
GSXT = ("gsxt-enterprises", "abnormal-operations")


def _read_back(path: Path) -> dict[str, dict[str, list[str]]]:
    """Every entity in the file, as followthemoney reads it: id -> property -> values."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        proxy = model.get_proxy(data, cleaned=False)  # cleaned again, as a reader would
        assert proxy.schema.name == data["schema"]
        found[str(proxy.id)] = {"schema": [proxy.schema.name], **proxy.properties}
    return found


def test_public_lists_leave_as_ftm_entities_that_followthemoney_reads_back_unchanged(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    today = settings.today()
    fill(store, settings, tmp_path, today)
    out = tmp_path / "lists.ftm.json"
    done = export_ftm(store, settings, out)
    assert (done.organisations, done.persons, done.sanctions) == (1, 1, 3)
    assert done.usc_dropped == 0
    entities = _read_back(out)
    with store.reading() as connection:
        alice = subject_key(connection, ALICE)
        names = dict(connection.execute(sa.select(furnishers.c.id, furnishers.c.name)).all())
        schemes = {
            a.scheme.id: a.scheme
            for a in schemes_in_force(connection, as_of=today, known_us=now_us())
        }
    base = settings.public_url.rstrip("/")

    # The organisation: once, with its code in both places and its public page.
    acme = public_view(store, settings, ACME)
    assert entities[f"sc-org-{ACME}"] == {
        "schema": ["Company"],
        "name": [acme.name],
        "registrationNumber": [ACME],
        "uscCode": [ACME],
        "country": ["cn"],
        "jurisdiction": ["cn"],
        "topics": ["reg.action"],
        "sourceUrl": [f"{base}/public/subjects/{ACME}"],
    }
    # The person: only what the public list shows — the masked name, no identifier.
    [member] = [m for m in public_list(store, settings, *SPC).members if m.kind == "person"]
    assert entities[f"sc-person-{alice}"] == {
        "schema": ["Person"],
        "name": [member.name],
        "country": ["cn"],
        "topics": ["reg.action"],
    }
    text = out.read_text(encoding="utf-8")
    assert ALICE not in text and "张三丰" not in text and member.identifier not in text
    assert not re.search(r"\d{17}[\dX]", text.replace(ACME, "")), "a resident number"

    # One sanction per listing, with the list, the measures, the dates and (for the
    # organisation) the published records behind it.
    def sanction(entity: str, scheme: str, list_id: str) -> dict[str, list[str]]:
        return entities[f"{entity}.{scheme}.{list_id}"]

    for scheme_id, list_id in (SPC, GSXT):
        scheme = schemes[scheme_id]
        lst = next(item for item in scheme.lists if item.id == list_id)
        listed = next(x for x in acme.listings if (x.scheme, x.list_id) == (scheme_id, list_id))
        records = [r for r in acme.records if r.code in getattr(lst, "codes", ())]
        assert records, (scheme_id, records)
        expected = {
            "schema": ["Sanction"],
            "entity": [f"sc-org-{ACME}"],
            "program": [lst.title],
            "programId": [f"{scheme_id}/{list_id}"],
            "programUrl": [f"{base}/public/lists/{scheme_id}/{list_id}"],
            "summary": [f"Legal basis: {lst.legal_basis}"],
            "provisions": [
                f"{m.title} ({m.agency})" for m in scheme.measures if list_id in m.lists
            ],
            "startDate": [listed.since],
            "listingDate": [listed.since],
            "country": ["cn"],
            "reason": [f"{r.title} ({r.legal_basis})" for r in records],
            "authority": sorted({names[r.furnisher] for r in records}),
            "authorityId": [r.record_id for r in records],
        }
        if listed.until is not None:
            last = dt.date.fromisoformat(listed.until) - dt.timedelta(days=1)
            expected["endDate"] = [last.isoformat()]
        got = sanction(f"sc-org-{ACME}", scheme_id, list_id)
        got["authority"] = sorted(got["authority"])
        assert got == expected, scheme_id
        assert expected["provisions"], "a black list triggers measures"
    person = sanction(f"sc-person-{alice}", *SPC)
    assert person["entity"] == [f"sc-person-{alice}"]
    assert person["startDate"] == [member.since]
    for private in ("reason", "authority", "authorityId"):
        assert private not in person  # not public for a person

    # Stable: the same registry gives the same file, byte for byte.
    again = export_ftm(store, settings, tmp_path / "again.ftm.json")
    assert again.path.read_bytes() == out.read_bytes()
    # One scheme only.
    only = export_ftm(store, settings, tmp_path / "gsxt.ftm.json", scheme_id=GSXT[0])
    assert (only.lists, only.sanctions) == (3, 1)
    assert not (tmp_path / ".lists.ftm.json.partial").exists()


def test_a_code_ftm_refuses_stays_in_registration_number() -> None:
    """FtM drops a Unified Social Credit Code its own check refuses: the registry's code is
    still in registrationNumber, and the export counts the drop."""
    good, kept = _organisation(ACME, "荣成某某海产有限公司", "http://x/public/subjects/1")
    assert kept and good.get("uscCode") == [ACME]
    wrong = ACME[:-1] + ("0" if ACME[-1] != "0" else "1")
    bad, kept = _organisation(wrong, "某公司", "http://x/public/subjects/2")
    assert not kept and bad.get("uscCode") == []
    assert bad.get("registrationNumber") == [wrong]


def test_a_change_while_the_file_is_written_starts_it_again(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """The file shows one state of the registry: a batch that lands while the lists are read
    makes the export start again, and the file has it."""
    today = settings.today()
    fill(store, settings, tmp_path, today)
    other = "91350100M000200Y43"
    other = other[:-1] + uscc.calc_check_digit(other[:-1])
    landed: list[int] = []

    def meanwhile(_step: str) -> None:
        if not landed:
            rows = [("late-1", other, "court.judgment_default", today.isoformat(), "9", "迟到公司")]
            path = write_csv(tmp_path / "late.csv", HEADER, rows)
            landed.append(
                ingest_records(store, path, settings=settings, furnisher_id="court").accepted
            )

    done = export_ftm(store, settings, tmp_path / "lists.ftm.json", progress=meanwhile)
    assert landed == [1]
    assert f"sc-org-{other}" in _read_back(done.path)
