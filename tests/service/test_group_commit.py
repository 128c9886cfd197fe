"""The audit's group commit: many callers, one transaction per group, every entry durable and
chained before its caller goes on; a failed commit fails every caller of its group."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from socialcredit.registry.audit import GroupCommitter, ReadEntry, Reader, verify_audit
from socialcredit.store.db import Store
from socialcredit.store.schema import audit_log, subjects

from .conftest import ALICE, Keys

DESK = Reader("desk 4", "agency", "boarding")


def key_of(store: Store, identifier: str) -> int:
    with store.reading() as connection:
        return int(
            connection.scalar(sa.select(subjects.c.id).where(subjects.c.identifier == identifier))
        )


def entries(store: Store) -> int:
    with store.reading() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(audit_log)) or 0)


def test_many_callers_share_commits_and_every_entry_is_chained(store: Store, keys: Keys) -> None:
    alice = key_of(store, ALICE)
    committer = GroupCommitter(store)
    before = entries(store)
    seqs: list[int] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(25):
            got = committer.record([ReadEntry(DESK, alice, ALICE, "check")])
            with lock:
                seqs.extend(got)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committer.close()
    assert len(seqs) == len(set(seqs)) == 400
    assert sorted(seqs) == list(range(before + 1, before + 401))
    assert entries(store) == before + 400
    assert committer.commits < 400  # callers shared commits
    assert verify_audit(store).problem is None


def test_a_failed_commit_fails_every_caller_and_writes_nothing(store: Store, keys: Keys) -> None:
    alice = key_of(store, ALICE)
    committer = GroupCommitter(store, linger=0)
    before = entries(store)
    broken = ReadEntry(DESK, None, ALICE, "check")  # type: ignore[arg-type]
    with pytest.raises(Exception, match=r"(?i)null|constraint"):
        committer.record([ReadEntry(DESK, alice, ALICE, "check"), broken])
    assert entries(store) == before
    # the writer goes on with the next group
    assert committer.record([ReadEntry(DESK, alice, ALICE, "check")]) == [before + 1]
    committer.close()
    assert verify_audit(store).problem is None
