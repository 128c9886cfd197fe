"""Upkeep of the derived state: bringing stored current standings back to fresh.

Nothing here is needed for a right answer — readers evaluate stale or pending subjects online
(:mod:`socialcredit.registry.standings.freshness`) — but it keeps answers cheap:

- :func:`catch_up` finishes large batches whose standings are pending: every scheme in force
  is rebuilt in batch from one snapshot that includes them, and they are marked done in the
  transaction that stores the last scheme. One process at a time holds the upkeep lease for
  it; a crashed holder's lease runs out (``LEASE_US``) and the next caller takes over.
- :func:`refresh` (`socialcredit refresh`, the service's upkeep thread, `init`, `policy
  publish`) also re-evaluates the subjects whose stored standings went stale with the
  calendar (``holds_until``) or a new scheme version, online when there are few, in batch
  when there are many.

All of it writes under the derived state's lock only, never the ledger's, and raises only the
derived state's change counter.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from socialcredit import faults
from socialcredit.registry.cases import tell_lapses
from socialcredit.registry.due_process import backfill_lapses
from socialcredit.registry.policies import schemes_in_force
from socialcredit.registry.standings.batch import BatchResult, evaluate_registry
from socialcredit.registry.standings.current import write_current
from socialcredit.registry.standings.freshness import (
    coming_of_age,
    pending_batches,
    pending_subjects,
    stale_rows,
)
from socialcredit.registry.standings.snapshot import ledger_snapshot
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import batches, current_builds, standings, upkeep_lease

LEASE_US = 300 * 1_000_000
# The day each store was last swept for persons who came of age (refresh).
_SWEPT: weakref.WeakKeyDictionary[Store, dt.date] = weakref.WeakKeyDictionary()
Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


# -- the upkeep lease ----------------------------------------------------------------------------


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def held_by_another(holder: str | None, until_us: int, me: str | None = None) -> bool:
    """Whether a lease row is held, live, by someone other than ``me``: not run out, and — when
    its holder ran on this machine — that process still running (a crashed holder's lease
    ends with it)."""
    if holder is None or holder == me or until_us <= now_us():
        return False
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process: alive
            return True
    return True


def claim(store: Store, holder: str) -> bool:
    """Take (or renew) the upkeep lease; False while another live holder has it."""
    now = now_us()
    with store.writing("standings") as connection:
        row = connection.execute(sa.select(upkeep_lease).where(upkeep_lease.c.id == 1)).one()
        if held_by_another(row.holder, int(row.until_us), holder):
            return False
        connection.execute(
            upkeep_lease.update()
            .where(upkeep_lease.c.id == 1)
            .values(holder=holder, until_us=now + LEASE_US)
        )
    return True


def release(store: Store, holder: str) -> None:
    with store.writing("standings") as connection:
        connection.execute(
            upkeep_lease.update()
            .where(upkeep_lease.c.id == 1, upkeep_lease.c.holder == holder)
            .values(holder=None, until_us=0)
        )


# -- rebuilding in batch -------------------------------------------------------------------------


def scheme_ids_now(store: Store) -> list[str]:
    from socialcredit.registry.policies import scheme_ids

    with store.reading() as connection:
        return scheme_ids(connection)


def rebuild_current(
    store: Store,
    settings: Settings,
    schemes: Iterable[str] | None = None,
    *,
    progress: Progress | None = None,
    renew: Callable[[], None] | None = None,
) -> list[BatchResult]:
    """Rebuild the current standings of these schemes (default: all) in batch from one
    snapshot of the ledger. When all are rebuilt, every batch in the snapshot is marked done,
    in the transaction that stores the last scheme."""
    step = progress or _quiet
    known = now_us()
    everything = scheme_ids_now(store)
    wanted = everything if schemes is None else sorted(set(schemes))
    step("snapshot")
    snapshot = ledger_snapshot(store, known)

    def mark_done(connection: sa.Connection) -> None:
        connection.execute(
            batches.update()
            .where(batches.c.standings_done.is_(False), batches.c.last_seq <= snapshot.head_seq)
            .values(standings_done=True)
        )

    results = []
    for index, scheme_id in enumerate(wanted):
        if renew is not None:
            renew()
        step(f"evaluating {scheme_id}")
        last = index == len(wanted) - 1 and set(wanted) >= set(everything)
        results.append(
            evaluate_registry(
                store,
                settings,
                scheme_id,
                known_at_us=known,
                keep_snapshot=False,
                snapshot=snapshot,
                make_current=True,
                after_store=mark_done if last else None,
            )
        )
        faults.point("upkeep.stored")
    return results


def catch_up(store: Store, settings: Settings, *, progress: Progress | None = None) -> str:
    """Finish every batch whose standings are pending (after a large ingest, or a crash);
    returns what was done, for the summary."""
    holder = holder_name()
    rounds = 0
    total = 0
    while True:
        with store.reading() as connection:
            if not pending_batches(connection):
                break
        if not claim(store, holder):
            return (
                "another process holds the upkeep lease and is bringing the standings up to "
                "date; until it has, checks evaluate the batch's subjects online"
            )
        try:
            results = rebuild_current(
                store, settings, progress=progress, renew=lambda: _renew(store, holder)
            )
        finally:
            release(store, holder)
        rounds += 1
        total += sum(r.subjects for r in results)
    if not rounds:
        return "no standings were pending"
    return f"every scheme re-evaluated in batch ({total} standings)"


def _renew(store: Store, holder: str) -> None:
    if not claim(store, holder):
        raise RuntimeError("the upkeep lease was taken over by another process")


# -- refresh --------------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    due: int = 0  # subjects whose stored standings were stale
    pending_batches: int = 0
    schemes_rebuilt: list[str] = field(default_factory=list)
    written: int = 0
    objections_lapsed: int = 0  # subjects told, this time, that an objection lapsed undecided
    repairs_late: int = 0  # subjects told, this time, that a repair decision is late
    reviews_late: int = 0  # subjects told, this time, that a review is late
    corrections_late: int = 0  # subjects told, this time, that a corrected record is late
    lapses_backfilled: int = 0  # open objections from before 0012 given their lapse


def refresh(store: Store, settings: Settings, *, progress: Progress | None = None) -> RefreshResult:
    """Bring every stored current standing back to fresh. Reads first and writes only when
    something is due: schemes never built in their version in force are rebuilt in batch;
    pending batches' subjects (unless another process holds the upkeep lease and is catching
    them up) and stale subjects are re-evaluated online when there are at most
    ``online_update_limit`` of them, else every scheme is rebuilt in batch. (A stored row
    evaluated for a day after today — the clock set back — is left to the readers, which
    freshness sends online, until any other row falls due.) Then tells the subjects of cases
    whose deadline passed (registry.cases.tell_lapses)."""
    step = progress or _quiet
    today, known = settings.today(), now_us()
    outcome = RefreshResult()
    with store.reading() as connection:
        in_force = schemes_in_force(connection, as_of=today, known_us=known)
        built = {
            str(sid): int(version)
            for sid, version in connection.execute(
                sa.select(current_builds.c.scheme_id, current_builds.c.scheme_version)
            )
        }
        rebuild = [a.scheme.id for a in in_force if built.get(a.scheme.id) != a.scheme.version]
        pending = pending_batches(connection)
        lease = connection.execute(sa.select(upkeep_lease).where(upkeep_lease.c.id == 1)).one()
        if pending and held_by_another(lease.holder, int(lease.until_us)):
            pending = []  # another process is catching them up: not done twice
        keys = pending_subjects(connection) if pending else set()
        due: set[int] = set()
        # The first day any stored standing goes stale with the calendar (the holds_until
        # index): before it, with every build in its version in force, there is nothing to
        # scan for — the service asks every minute, so the common answer costs one lookup.
        first_due = connection.scalar(sa.select(sa.func.min(standings.c.holds_until)))
        calm = not rebuild and (first_due is None or str(first_due)[:10] > today.isoformat())
        for applicable in [] if calm else in_force:
            if applicable.scheme.id in rebuild:
                continue
            due.update(
                int(k)
                for k in connection.scalars(
                    sa.select(standings.c.subject_id).where(stale_rows(applicable, today))
                )
            )
        # Persons who came of age under a scheme's min_age have no stored row to go stale:
        # looked for once a day (readers evaluate them online meanwhile).
        if _SWEPT.get(store) != today:
            due.update(coming_of_age(connection, in_force, today))
            _SWEPT[store] = today
    outcome.pending_batches, outcome.due = len(pending), len(due)
    keys |= due
    if len(keys) > settings.online_update_limit:
        rebuild = [a.scheme.id for a in in_force]  # many subjects: everyone in batch
    if rebuild:
        step(f"evaluating {', '.join(rebuild)} in batch")
        for result in rebuild_current(store, settings, rebuild, progress=step):
            outcome.written += result.subjects
            outcome.schemes_rebuilt.append(result.scheme.id)
    if keys and len(keys) <= settings.online_update_limit:
        step(f"re-evaluating {len(keys)} subjects")
        with store.writing("standings") as connection:
            outcome.written += write_current(store, connection, settings, keys)
            ids = [batch_id for batch_id, _, _ in pending]
            if ids:
                connection.execute(
                    batches.update().where(batches.c.id.in_(ids)).values(standings_done=True)
                )
    outcome.lapses_backfilled = backfill_lapses(store, settings)
    lapses = tell_lapses(store, settings)
    outcome.objections_lapsed, outcome.repairs_late = lapses["objection"], lapses["repair"]
    outcome.reviews_late, outcome.corrections_late = lapses["review"], lapses["correction"]
    return outcome
