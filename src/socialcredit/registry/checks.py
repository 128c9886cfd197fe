"""Point-of-service checks: which joint measures apply to a subject at one relying agency now.

A check reads the subject's stored current standings — or, where freshness says they may not
be handed out (stale: a new day, a new scheme version; pending: a large batch not yet caught
up), evaluates the subject online from the ledger instead, read-only — keeps the measures of
schemes in force whose ``agency`` is the asking agency and whose lists or grades the subject is
on, and says what triggers each — and whether a record that could cause it is under an open
objection (a record whose code the triggering code list names; for a grade or a grade list, a
record the scheme's score rules count). A check never writes anything but its audit entry.

Every check of a subject the registry holds data on is a read of that subject's data: it is
recorded in the access audit (actor, role, purpose, what), and the answer is handed over only
once the entry is committed — through a :class:`~socialcredit.registry.audit.GroupCommitter`
when many checks run at once, so that one commit serves many.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from socialcredit.errors import UsageError
from socialcredit.identifiers import check
from socialcredit.policy.model import CodeList, Scheme
from socialcredit.registry.audit import ReadEntry, Reader
from socialcredit.registry.policies import Applicable, schemes_in_force
from socialcredit.registry.standings.current import evaluate_current
from socialcredit.registry.standings.freshness import Stored, is_stale, pending_batches
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import ledger, objections, policy_versions, standings, subjects

MAX_BATCH = 10_000
_CHUNK = 1_000


@dataclass(frozen=True)
class Trigger:
    """What makes a measure apply: a list the subject is on, or its grade."""

    scheme: str
    list_id: str | None
    grade: str | None
    under_objection: bool
    objections: tuple[int, ...] = ()


@dataclass(frozen=True)
class Applied:
    """One measure that applies at the agency now."""

    scheme: str
    scheme_version: int
    measure: str
    title: str
    kind: str
    legal_basis: str
    triggered_by: tuple[Trigger, ...]

    @property
    def under_objection(self) -> bool:
        return any(t.under_objection for t in self.triggered_by)


@dataclass(frozen=True)
class CheckResult:
    subject: str
    kind: str | None
    as_of: dt.date
    known: bool  # does the registry hold data on the subject at all
    measures: tuple[Applied, ...] = ()
    error: str | None = None  # the identifier is not valid


@dataclass(frozen=True)
class _AgencyMeasure:
    applicable: Applicable
    measure_id: str
    title: str
    kind: str
    legal_basis: str
    lists: frozenset[str]
    grades: frozenset[str]


@dataclass
class _Policies:
    day: dt.date
    latest_policy: int
    schemes: dict[str, Applicable]
    by_agency: dict[str, list[_AgencyMeasure]] = field(default_factory=dict)
    codes: dict[tuple[str, str | None], frozenset[str]] = field(default_factory=dict)


def _trigger_codes(scheme: Scheme, list_id: str | None) -> frozenset[str]:
    """The codes whose records can cause a listing on ``list_id`` (None: the grade)."""
    for lst in scheme.lists:
        if lst.id == list_id and isinstance(lst, CodeList):
            return frozenset(lst.codes)
    return frozenset(rule.code for rule in scheme.score.rules) if scheme.score else frozenset()


_UNION = """
SELECT 'S', s.identifier, s.id, s.kind, t.scheme_id, t.scheme_version,
       CAST(t.as_of AS TEXT), t.grade, t.lists, CAST(t.holds_until AS TEXT)
FROM subjects s LEFT JOIN standings t ON t.subject_id = s.id AND t.scheme_id IN ({schemes})
WHERE s.identifier IN ({marks})
UNION ALL
SELECT 'O', s.identifier, s.id, NULL, l.code, o.id, NULL, NULL, NULL, NULL
FROM subjects s JOIN objections o ON o.subject_id = s.id JOIN ledger l ON l.seq = o.record_seq
WHERE s.identifier IN ({marks}) AND o.outcome IS NULL
UNION ALL
SELECT 'B', s.identifier, s.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM subjects s JOIN ledger l ON l.subject_id = s.id
WHERE EXISTS (SELECT 1 FROM batches WHERE NOT standings_done)
  AND s.identifier IN ({marks})
  AND l.batch_id IN (SELECT id FROM batches WHERE NOT standings_done)
UNION ALL
SELECT 'P', NULL, (SELECT max(id) FROM policy_versions), NULL, NULL, NULL, NULL, NULL, NULL, NULL
"""


@dataclass
class Prepared:
    """A check read from the store, before its audit entries are made durable."""

    results: list[CheckResult]
    entries: list[ReadEntry]
    unsure: list[int]  # subjects to evaluate online first (prepared with online=False)


Rows = dict[
    int, dict[str, tuple[Any, ...]]
]  # key -> scheme -> (version, as_of, grade, lists, until)
Read = tuple[int, dict[str, tuple[int, str]], Rows, dict[int, Any], set[int]]


@dataclass
class _Index:
    """The current standings of every subject, as the store held them at one generation."""

    generation: tuple[int, int]  # the ledger's and the derived state's
    latest_policy: int
    pending: bool  # batches were pending: the index does not answer
    keys: dict[str, tuple[int, str]]  # identifier -> (subject key, kind)
    rows: dict[int, dict[str, tuple[Any, ...]]]  # key -> scheme -> standing row
    objected: dict[int, dict[str, list[int]]]  # key -> code -> open objection ids
    seconds: float  # how long it took to load


_GENERATION = (
    "SELECT (SELECT value FROM generation WHERE id = 1), (SELECT value FROM generation WHERE "
    "id = 2), (SELECT max(id) FROM policy_versions)"
)


class Checker:
    """Answers checks for one store. Thread-safe.

    With ``index`` (the service), the checker keeps the current standings of every subject in
    memory, loaded in one read transaction together with the registry's generation. A check
    then reads only the generation (one short statement): while it is the index's, the index
    *is* the store's current state and answers; once a write has raised it, checks read from
    the store until a fresh index is loaded in the background. Without an index, or while it
    is stale, reads take one SQL statement per 1,000 identifiers (subjects, current standings,
    open objections and the newest policy version, one consistent snapshot) on a connection
    each thread keeps. The schemes in force are kept in memory and reloaded when a policy is
    published or the day changes."""

    def __init__(self, store: Store, settings: Settings, *, index: bool = False) -> None:
        self.store = store
        self.settings = settings
        self._policies: _Policies | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[Any] = []  # every thread's, to close at the end
        self._statements: dict[tuple[int, int], str] = {}
        self._use_index = index and settings.check_index_max_subjects > 0
        self._index: _Index | None = None
        self._loader: threading.Thread | None = None
        self._next_load = 0.0  # monotonic time before which no new load starts
        self.index_loads = 0
        self.index_answers = 0  # checks answered from the index (a statistic)

    # -- the schemes in force ---------------------------------------------------------------

    def _policies_for(self, latest: int) -> _Policies:
        day = self.settings.today()
        cached = self._policies
        if cached is not None and cached.day == day and cached.latest_policy == latest:
            return cached
        with self._lock, self.store.reading() as connection:
            found = schemes_in_force(connection, as_of=day, known_us=now_us())
            policies = _Policies(day, latest, {a.scheme.id: a for a in found})
            for applicable in found:
                scheme = applicable.scheme
                for m in scheme.measures:
                    policies.by_agency.setdefault(m.agency, []).append(
                        _AgencyMeasure(
                            applicable,
                            m.id,
                            m.title,
                            m.kind,
                            m.legal_basis,
                            frozenset(m.lists),
                            frozenset(m.grades),
                        )
                    )
                    for list_id in (*m.lists, None):
                        policies.codes[(scheme.id, list_id)] = _trigger_codes(scheme, list_id)
            self._policies = policies
            return policies

    def agencies(self) -> list[str]:
        with self.store.reading() as connection:
            latest = int(connection.scalar(sa.select(sa.func.max(policy_versions.c.id))) or 0)
        return sorted(self._policies_for(latest).by_agency)

    # -- reading ----------------------------------------------------------------------------

    def _cursor(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # One DB-API connection per thread, kept: a check costs one statement, no pool.
            connection = self.store.engine.raw_connection()
            if self.store.dialect == "postgresql":
                connection.driver_connection.autocommit = True  # type: ignore[union-attr]
            # Its own, never back in the pool: a pooled connection left in autocommit mode
            # would make a later write transaction's BEGIN a no-op.
            connection.detach()
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection.cursor()

    def close(self) -> None:
        """Close every thread's connection (the service is stopping)."""
        self._use_index = False
        loader = self._loader
        if loader is not None:
            loader.join()
        with self._lock:
            found, self._connections = self._connections, []
        for connection in found:
            with contextlib.suppress(Exception):  # already broken: nothing to release
                connection.close()
        self._local = threading.local()

    def _statement(self, count: int, schemes: int) -> str:
        found = self._statements.get((count, schemes))
        if found is None:
            mark = "%s" if self.store.dialect == "postgresql" else "?"
            found = _UNION.format(
                marks=", ".join([mark] * count), schemes=", ".join([mark] * max(1, schemes))
            )
            self._statements[(count, schemes)] = found
        return found

    def _read(self, identifiers: Sequence[str], schemes: Sequence[str]) -> Read:
        """The newest policy version's id, subjects (key, kind), their current standings under
        ``schemes``, their open objections (code → objection ids) and which of them have an
        entry in a pending batch — one statement, one consistent snapshot."""
        keys: dict[str, tuple[int, str]] = {}
        rows: Rows = {}
        objected: dict[int, dict[str, list[int]]] = {}
        pending: set[int] = set()
        latest = 0
        unique = list(dict.fromkeys(identifiers)) or ["-"]
        cursor = self._cursor()
        try:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                wanted = list(schemes) or ["-"]
                cursor.execute(
                    self._statement(len(chunk), len(wanted)), (*wanted, *chunk, *chunk, *chunk)
                )
                for tag, ident, key, kind, name, number, as_of, grade, lists, until in cursor:
                    if tag == "S":
                        keys[ident] = (int(key), kind)
                        if name is not None:
                            rows.setdefault(int(key), {})[name] = (
                                int(number),
                                as_of[:10],
                                grade,
                                lists,
                                None if until is None else until[:10],
                            )
                    elif tag == "O":
                        objected.setdefault(int(key), {}).setdefault(name, []).append(int(number))
                    elif tag == "B":
                        pending.add(int(key))
                    else:
                        latest = int(key or 0)
        except BaseException:
            self._local.connection = None  # a broken connection is not kept
            raise
        finally:
            cursor.close()
        return latest, keys, rows, objected, pending

    def _online(self, keys: list[int]) -> tuple[Rows, dict[int, dict[str, list[int]]]]:
        """These subjects' current standings evaluated online from the ledger (read-only),
        with their open objections, in one read transaction."""
        today, known = self.settings.today(), now_us()
        rows: Rows = {key: {} for key in keys}
        objected: dict[int, dict[str, list[int]]] = {}
        with self.store.reading() as connection:
            current = evaluate_current(connection, self.settings, keys, today=today, known=known)
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                for key, code, number in connection.execute(
                    sa.select(objections.c.subject_id, ledger.c.code, objections.c.id)
                    .join(ledger, ledger.c.seq == objections.c.record_seq)
                    .where(objections.c.outcome.is_(None), objections.c.subject_id.in_(chunk))
                ):
                    objected.setdefault(int(key), {}).setdefault(code, []).append(int(number))
        for r in current.rows:
            until = r[9]
            rows[int(r[1])][r[0]] = (
                int(r[2]),
                r[3].isoformat(),
                r[6],
                r[7],
                None if until is None else until.isoformat(),
            )
        return rows, objected

    # -- the index ---------------------------------------------------------------------------

    def start(self) -> None:
        """Begin loading the index in the background (checks read from the store meanwhile)."""
        self._load_in_background()

    def load_index(self) -> _Index | None:
        """Load the index now (in the calling thread); None when the registry has more
        subjects than ``check_index_max_subjects``."""
        started = time.monotonic()
        interned: dict[Any, Any] = {}

        def intern(value: Any) -> Any:
            return interned.setdefault(value, value)

        with self.store.reading() as connection:
            ledger_gen, standings_gen, latest = connection.exec_driver_sql(_GENERATION).one()
            pending = bool(pending_batches(connection))
            count = connection.scalar(sa.select(sa.func.count()).select_from(subjects)) or 0
            if count > self.settings.check_index_max_subjects:
                return None
            keys = {
                r[0]: (int(r[1]), intern(r[2]))
                for r in connection.execute(
                    sa.select(subjects.c.identifier, subjects.c.id, subjects.c.kind)
                )
            }
            rows: dict[int, dict[str, tuple[Any, ...]]] = {}
            for key, scheme, version, as_of, grade, lists, until in connection.execute(
                sa.select(
                    standings.c.subject_id,
                    standings.c.scheme_id,
                    standings.c.scheme_version,
                    sa.cast(standings.c.as_of, sa.Text),
                    standings.c.grade,
                    standings.c.lists,
                    sa.cast(standings.c.holds_until, sa.Text),
                )
            ):
                rows.setdefault(int(key), {})[intern(scheme)] = (
                    intern(int(version)),
                    intern(as_of[:10]),
                    intern(grade),
                    intern(lists),
                    None if until is None else intern(until[:10]),
                )
            objected: dict[int, dict[str, list[int]]] = {}
            for key, code, number in connection.execute(
                sa.select(objections.c.subject_id, ledger.c.code, objections.c.id)
                .join(ledger, ledger.c.seq == objections.c.record_seq)
                .where(objections.c.outcome.is_(None))
            ):
                objected.setdefault(int(key), {}).setdefault(code, []).append(int(number))
        index = _Index(
            (int(ledger_gen or 0), int(standings_gen or 0)),
            int(latest or 0),
            pending,
            keys,
            rows,
            objected,
            time.monotonic() - started,
        )
        with self._lock:  # a load that began earlier never replaces a newer index
            if self._index is None or self._index.generation <= index.generation:
                self._index = index
            self.index_loads += 1
        return index

    def index_current(self) -> bool:
        """Is there an index, and is it the store's current state?"""
        index = self._index
        if index is None:
            return False
        with self.store.reading() as connection:
            ledger_gen, standings_gen, _latest = connection.exec_driver_sql(_GENERATION).one()
        return index.generation == (int(ledger_gen or 0), int(standings_gen or 0))

    def _load_in_background(self) -> None:
        """Start loading a fresh index unless one is loading; loads are spaced by at least
        a second and five times the last load's time, so that a registry being written to
        all the time is not reloaded all the time."""
        with self._lock:
            now = time.monotonic()
            if not self._use_index or self._loader is not None or now < self._next_load:
                return
            self._loader = threading.Thread(target=self._load, name="check-index", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        started = time.monotonic()
        try:
            self.load_index()
        except Exception:  # checks go on reading from the store; the next check tries again
            self._index = None
        finally:
            with self._lock:
                took = time.monotonic() - started
                self._next_load = time.monotonic() + max(1.0, 5 * took)
                self._loader = None

    def _from_index(self, identifiers: Sequence[str], schemes: Sequence[str]) -> Read | None:
        """What :meth:`_read` returns, from the index — if the index is current (and was
        loaded with no batch pending)."""
        index = self._index
        if not self._use_index:
            return None
        cursor = self._cursor()
        try:
            ledger_gen, standings_gen, _latest = cursor.execute(_GENERATION).fetchone()
        except BaseException:
            self._local.connection = None  # a broken connection is not kept
            raise
        finally:
            cursor.close()
        if index is None or index.generation != (int(ledger_gen or 0), int(standings_gen or 0)):
            self._load_in_background()
            return None
        if index.pending:
            return None
        self.index_answers += 1
        known = index.keys
        keys = {i: known[i] for i in identifiers if i in known}
        rows: dict[int, dict[str, Any]] = {}
        objected: dict[int, Any] = {}
        for key, _kind in keys.values():
            mine = index.rows.get(key)
            if mine is not None:
                wanted = {sid: mine[sid] for sid in schemes if sid in mine}
                if wanted:
                    rows[key] = wanted
            contested = index.objected.get(key)
            if contested is not None:
                objected[key] = contested
        return index.latest_policy, keys, rows, objected, set()

    # -- answering --------------------------------------------------------------------------

    def prepare(
        self, agency: str, identifiers: Sequence[str], *, reader: Reader, online: bool = True
    ) -> Prepared:
        """Read and answer a check, without recording it: the caller makes ``entries``
        durable before handing ``results`` over. Subjects whose stored standing freshness
        refuses are evaluated online first (a read transaction); with ``online=False`` the
        answer is only what the stored standings can give, and ``unsure`` names the subjects
        to ask again for, with ``online=True`` (in a thread: the service's event loop)."""
        if len(identifiers) > MAX_BATCH:
            raise UsageError(
                f"at most {MAX_BATCH:,} identifiers per check, not {len(identifiers):,}"
            )
        unique = list(dict.fromkeys(identifiers))
        policies = self._policies
        schemes = self._agency_schemes(policies, agency) if policies is not None else []
        latest, keys, rows, objected, pending = self._read_current(unique, schemes)
        if policies is None or policies.latest_policy != latest or policies.day != self._today():
            policies = self._policies_for(latest)  # a policy was published, or a day began
            schemes = self._agency_schemes(policies, agency)
            latest, keys, rows, objected, pending = self._read_current(unique, schemes)
        measures = policies.by_agency.get(agency)
        if measures is None:
            raise UsageError(f"no scheme in force names the agency {agency!r}")
        day = policies.day.isoformat()
        relevant = [policies.schemes[sid] for sid in schemes]
        unsure = [
            key
            for identifier, (key, kind) in keys.items()
            if self._unsure(rows.get(key, {}), relevant, identifier, kind, day, key in pending)
        ]
        if unsure:
            if not online:
                return Prepared([], [], unsure)
            fresh, contested = self._online(unsure)
            rows.update(fresh)
            for key in unsure:
                objected[key] = contested.get(key, {})
        what = f"check at {agency}"
        entries = [
            ReadEntry(reader, key, identifier, what) for identifier, (key, _) in keys.items()
        ]
        # Identifiers in the registry were validated when first furnished; only the others are
        # checked here (python-stdnum costs more than the rest of a check).
        verdicts = {i: check(i) for i in unique if i not in keys}
        results = []
        for identifier in identifiers:
            found = keys.get(identifier)
            if found is None:
                verdict = verdicts[identifier]
                if verdict.kind is None:
                    reason = f"not a valid identifier: {verdict.reason}"
                    results.append(CheckResult(identifier, None, policies.day, False, error=reason))
                else:
                    results.append(CheckResult(identifier, verdict.kind, policies.day, False))
                continue
            key, kind = found
            mine = rows.get(key)
            applied = (
                self._applied(measures, mine, objected.get(key, {}), policies)
                if mine is not None and any(r[3] != "[]" or r[2] is not None for r in mine.values())
                else ()
            )
            results.append(CheckResult(identifier, kind, policies.day, True, applied))
        return Prepared(results, entries, [])

    def _read_current(self, identifiers: Sequence[str], schemes: Sequence[str]) -> Read:
        found = self._from_index(identifiers, schemes)
        return found if found is not None else self._read(identifiers, schemes)

    def _today(self) -> dt.date:
        return self.settings.today()

    @staticmethod
    def _agency_schemes(policies: _Policies, agency: str) -> list[str]:
        return sorted({m.applicable.scheme.id for m in policies.by_agency.get(agency, [])})

    @staticmethod
    def _unsure(
        rows: dict[str, Any],
        schemes: list[Applicable],
        identifier: str,
        kind: str,
        day: str,
        pending: bool,
    ) -> bool:
        """Whether freshness refuses any of the subject's stored standings under ``schemes``."""
        for applicable in schemes:
            row = rows.get(applicable.scheme.id)
            stored = None if row is None else Stored(row[0], row[1], row[4])
            if is_stale(stored, applicable, identifier, kind, day, pending=pending):
                return True
        return False

    @staticmethod
    def _applied(
        measures: list[_AgencyMeasure],
        rows: dict[str, Any],
        objected: dict[str, list[int]],
        policies: _Policies,
    ) -> tuple[Applied, ...]:
        if not rows:
            return ()
        applied = []
        for m in measures:
            sid = m.applicable.scheme.id
            row = rows.get(sid)
            if row is None:
                continue
            _version, _as_of, grade, lists_json, _until = row
            on = (
                [lst for lst in json.loads(lists_json) if lst in m.lists]
                if lists_json != "[]"
                else []
            )
            triggers: list[tuple[str | None, str | None]] = [(lst, None) for lst in on]
            if grade is not None and grade in m.grades:
                triggers.append((None, grade))
            if not triggers:
                continue
            found = []
            for list_id, by_grade in triggers:
                codes = policies.codes.get((sid, list_id), frozenset())
                ids = tuple(sorted(i for code in codes for i in objected.get(code, [])))
                found.append(Trigger(sid, list_id, by_grade, bool(ids), ids))
            applied.append(
                Applied(
                    sid,
                    m.applicable.scheme.version,
                    m.measure_id,
                    m.title,
                    m.kind,
                    m.legal_basis,
                    tuple(found),
                )
            )
        return tuple(applied)


def _measure_json(a: Applied) -> dict[str, Any]:
    return {
        "scheme": a.scheme,
        "scheme_version": a.scheme_version,
        "measure": a.measure,
        "title": a.title,
        "kind": a.kind,
        "legal_basis": a.legal_basis,
        "under_objection": a.under_objection,
        "triggered_by": [
            {
                "list": t.list_id,
                "grade": t.grade,
                "under_objection": t.under_objection,
                "objections": list(t.objections),
            }
            for t in a.triggered_by
        ],
    }


_MEASURES_TEXT: dict[tuple[Applied, ...], str] = {}


def result_text(result: CheckResult) -> str:
    """A check result as the API's JSON text. Fast for the batch: the measures' JSON is the
    same for every subject with the same measures and triggers, and is made once."""
    if result.error is not None:
        return json.dumps({"subject": result.subject, "error": result.error}, ensure_ascii=False)
    measures = "[]"
    if result.measures:
        cached = _MEASURES_TEXT.get(result.measures)
        if cached is None:
            cached = json.dumps(
                [_measure_json(a) for a in result.measures],
                ensure_ascii=False,
                separators=(",", ":"),
            )
            if len(_MEASURES_TEXT) < 10_000:
                _MEASURES_TEXT[result.measures] = cached
        measures = cached
    subject = (
        f'"{result.subject}"'
        if result.known  # an identifier from the registry: digits and capitals only
        else json.dumps(result.subject, ensure_ascii=False)
    )
    kind = "null" if result.kind is None else f'"{result.kind}"'
    known = "true" if result.known else "false"
    return (
        f'{{"subject":{subject},"kind":{kind},"as_of":"{result.as_of.isoformat()}",'
        f'"known":{known},"measures":{measures}}}'
    )


def result_json(result: CheckResult) -> dict[str, Any]:
    """A check result as the API returns it, as data."""
    found: dict[str, Any] = json.loads(result_text(result))
    return found
