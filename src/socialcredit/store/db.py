"""Connecting to the store, migrating it, and the transactions ingest and reads need.

One codebase serves SQLite (the embedded default) and PostgreSQL (production). The differences
that matter live here: how a writer takes the ledger's lock, and how bulk rows get in fast
(``executemany`` on SQLite, ``COPY`` on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from socialcredit.errors import SocialCreditError, UsageError

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def now_us() -> int:
    """Now, as microseconds since the epoch (UTC)."""
    return (dt.datetime.now(dt.UTC) - EPOCH) // dt.timedelta(microseconds=1)


def us_to_datetime(value: int) -> dt.datetime:
    """An instant in microseconds as an aware UTC datetime."""
    return EPOCH + dt.timedelta(microseconds=value)


def us_to_iso(value: int) -> str:
    """An instant in microseconds as ISO 8601 UTC, e.g. 2026-11-23T08:00:00.123456Z."""
    moment = EPOCH + dt.timedelta(microseconds=value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StoreError(SocialCreditError):
    """The store cannot be used: not reachable, not initialised, or at another schema version."""

    status = 503
    code = "store_unavailable"


def engine_url(url: str) -> str:
    """Accept the URLs people write: ``postgresql://`` means psycopg 3 here."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("sqlite:", "postgresql+psycopg:")):
        return url
    raise UsageError(
        f"unsupported database URL {url!r}: use sqlite:///FILE or postgresql://USER@HOST/DB"
    )


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("socialcredit.store") / "migrations")
    )
    config.attributes["connection"] = connection
    return config


class Store:
    """A handle on one store. Cheap to make; connections are pooled by SQLAlchemy."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(
            engine_url(url),
            connect_args={"timeout": 120} if url.startswith("sqlite") else {},
        )
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # -- schema ------------------------------------------------------------------------------

    def migrate(self) -> tuple[str | None, str]:
        """Create or upgrade the schema to the newest migration; (from, to) revisions."""
        with self._connect() as connection, connection.begin():
            before = MigrationContext.configure(connection).get_current_revision()
            config = _alembic_config(connection)
            command.upgrade(config, "head")
            head = ScriptDirectory.from_config(config).get_current_head()
        return before, str(head)

    def check_ready(self) -> None:
        """Refuse to work on a store that `socialcredit init` has not brought up to date."""
        with self._connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            head = ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()
        if current is None:
            raise StoreError(f"the store {self.describe()} is empty: run `socialcredit init` first")
        if current != head:
            raise StoreError(
                f"the store {self.describe()} is at schema revision {current}, this socialcredit "
                f"needs {head}: run `socialcredit init` to migrate it"
            )

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        try:
            connection = self.engine.connect()
        except sa.exc.OperationalError as error:
            raise StoreError(f"cannot open the store {self.describe()}: {error.orig}") from None
        with connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A read transaction that sees one consistent state of the store."""
        with self._connect() as connection:
            if self.dialect == "postgresql":
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    @contextmanager
    def writing(self, *locks: str) -> Iterator[sa.Connection]:
        """A write transaction: everything in it commits together or not at all. ``locks``
        names the writer locks it holds from the start (PostgreSQL ``LOCK TABLE ... IN SHARE
        ROW EXCLUSIVE MODE``: one writer each, readers never blocked), always taken in the
        order of :data:`LOCK_ORDER` so that two writers never wait for each other. (SQLite has
        one writer for the whole file: every write transaction is ``BEGIN IMMEDIATE``.) The
        chains' appenders and the standings writer take their own lock too (:meth:`lock`)."""
        unknown = [name for name in locks if name not in LOCK_ORDER]
        if unknown:
            raise ValueError(f"no writer lock {unknown[0]!r}")
        with self._connect() as connection:
            connection = connection.execution_options(sqlite_immediate=True)
            connection.info["socialcredit_locks"] = []  # per transaction (info is per DBAPI)
            try:
                with connection.begin():
                    for name in sorted(set(locks), key=LOCK_ORDER.index):
                        self.lock(connection, name)
                    yield connection
            finally:
                connection.info.pop("socialcredit_locks", None)

    def lock(self, connection: sa.Connection, name: str) -> None:
        """Take a writer lock inside ``connection``'s write transaction (:func:`lock`)."""
        lock(connection, name)

    @staticmethod
    def raise_generation(connection: sa.Connection, which: int) -> None:
        """Raise a change counter (schema.LEDGER_GENERATION or STANDINGS_GENERATION) in this
        transaction: copies of the current standings held in memory are then stale."""
        connection.exec_driver_sql(f"UPDATE generation SET value = value + 1 WHERE id = {which}")

    # -- bulk paths --------------------------------------------------------------------------

    def bulk_insert(
        self,
        connection: sa.Connection,
        table: sa.Table | str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
    ) -> None:
        """Insert many rows fast inside ``connection``'s transaction: COPY on PostgreSQL,
        executemany on SQLite. Values are Python values (dates as ISO text are fine)."""
        names = ", ".join(columns)
        name = table if isinstance(table, str) else table.name
        raw: Any = connection.connection.driver_connection
        if self.dialect == "postgresql":
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            raw.executemany(f"INSERT INTO {name} ({names}) VALUES ({marks})", rows)

    def adbc_connect(self) -> Any:
        """An ADBC connection to PostgreSQL, for reading whole tables as Arrow (snapshots).

        Not for SQLite: ADBC bundles its own SQLite library, and two SQLite libraries in one
        process break each other's POSIX file locks."""
        if self.dialect != "postgresql":
            raise StoreError("ADBC snapshots are for PostgreSQL only")
        import adbc_driver_postgresql.dbapi as adbc_pg

        url = self.engine.url.set(drivername="postgresql")
        return adbc_pg.connect(url.render_as_string(hide_password=False))


# The writer locks, in the order a transaction takes them: the ledger's writer, then the
# derived state's (current standings and their notices), then the chains of the audit and admin
# logs, then the case tables (reviews, reports, the notices outbox's sending).
LOCK_ORDER = ("ledger", "standings", "audit_log", "admin_log", "reviews", "reports", "notices")


def lock(connection: sa.Connection, name: str) -> None:
    """Take a writer lock inside ``connection``'s write transaction (again is a no-op). Locks
    must be taken in :data:`LOCK_ORDER`; taking an earlier one after a later one could
    deadlock two writers, and is refused. (SQLite's write transaction holds the whole file.)"""
    held: list[str] | None = connection.info.get("socialcredit_locks")
    if held is None:
        raise RuntimeError("a writer lock is taken inside store.writing() only")
    if name in held:
        return
    if held and LOCK_ORDER.index(name) < LOCK_ORDER.index(held[-1]):
        raise RuntimeError(f"writer lock {name!r} taken after {held[-1]!r}: out of order")
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE")
    held.append(name)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling defers it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA page_size=16384")  # takes effect when the file is created
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB: index inserts of large batches
    # What is deleted or overwritten is overwritten with zeros in the file, so that an erased
    # record's content (registry.retention) is not left in a free page
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
