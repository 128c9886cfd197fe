"""The store's tables (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Instants are integers: microseconds since 1970-01-01T00:00:00Z (``*_us``), exact and the same on
both backends. Dates are SQL dates. Lists of ids are JSON text.

The ledger is append-only: ingest only inserts, and :mod:`socialcredit.registry.ledger` chains
every entry's hash to the previous one so that an edit, a deletion or a reordering is detected.
"""

from __future__ import annotations

import sqlalchemy as sa

# A 64-bit key that is SQLite's rowid alias there (only INTEGER PRIMARY KEY is).
BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def key_text(length: int | None = None) -> sa.types.TypeEngine[str]:
    """Text compared byte by byte: identifiers and keys, never natural-language text. (SQLite
    compares bytes already; PostgreSQL needs the "C" collation, which is also much faster to
    index than a locale's.)"""
    base: sa.types.TypeEngine[str] = sa.String(length) if length else sa.Text()
    exact = sa.String(length, collation="C") if length else sa.Text(collation="C")
    return base.with_variant(exact, "postgresql")


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # catalogue | scheme
    sa.Column("policy_id", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("effective_from", sa.Date),
    sa.Column("published_us", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("published_by", sa.String(200)),  # who published it (NULL before migration 0010)
    sa.Column("reason", sa.Text),  # why (required since 0010)
    sa.Column("changes", sa.Text),  # JSON: its changes against the version before
    sa.Column("impact", sa.Text),  # JSON: what it changed across the registry (registry.impact)
    sa.UniqueConstraint("kind", "policy_id", "version"),
)

furnishers = sa.Table(
    "furnishers",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("codes", sa.Text, nullable=False),  # JSON array, sorted
    sa.Column("added_us", sa.BigInteger, nullable=False),
)

subjects = sa.Table(
    "subjects",
    metadata,
    sa.Column("id", BigKey, primary_key=True, autoincrement=False),
    sa.Column("identifier", key_text(18), nullable=False, unique=True),
    sa.Column("kind", sa.String(12), nullable=False),
    # Organisations' names are public data; persons' names are not (never on a public page).
    sa.Column("name", sa.Text),
    sa.Column("region", sa.String(6)),
    sa.Column("first_recorded_us", sa.BigInteger, nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("furnisher", sa.String(100), sa.ForeignKey("furnishers.id"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # records | events | decision
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("received_us", sa.BigInteger, nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("noop", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("first_seq", sa.BigInteger),
    sa.Column("last_seq", sa.BigInteger),
    sa.Column("last_hash", sa.String(64)),
    sa.Column("standings_done", sa.Boolean, nullable=False, default=False),
    sa.UniqueConstraint("furnisher", "kind", "digest"),
    # the batches whose standings are pending: every check asks whether there are any
    sa.Index(
        "ix_batches_pending",
        "id",
        sqlite_where=sa.text("NOT standings_done"),
        postgresql_where=sa.text("NOT standings_done"),
    ),
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("seq", BigKey, primary_key=True, autoincrement=False),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), nullable=False),
    sa.Column("entry", sa.String(6), nullable=False),  # record | event
    sa.Column("furnisher", key_text(100), nullable=False),
    sa.Column("record_id", key_text(), nullable=False),
    sa.Column("subject_id", sa.BigInteger, nullable=False),
    # records
    sa.Column("code", sa.String(100)),
    sa.Column("occurred_on", sa.Date),
    sa.Column("amount", sa.Text),  # exactly as furnished (a checked decimal); null when absent
    # events
    sa.Column("event", sa.String(32)),
    sa.Column("event_date", sa.Date),
    sa.Column("record_seq", sa.BigInteger),
    sa.Column("recorded_us", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # v3 entries (migration 0013): the chain covers ``personal``, SHA-256 over ``salt`` and
    # the personal content (registry.ledger.PERSONAL_FIELDS); an erased entry has its content
    # and salt blanked and keeps the digest (registry.retention)
    sa.Column("salt", sa.String(64)),
    sa.Column("personal", sa.String(64)),
    # a record's decision day, when furnished (publication starts there; chained in v3)
    sa.Column("decided_on", sa.Date),
    # an entry imported from a peer registry (migration 0014, registry.exchange): the registry
    # that first recorded it, its seq and recorded time there, and the peer that delivered it
    # (chained in v4)
    sa.Column("origin_registry", sa.String(100)),
    sa.Column("origin_seq", sa.BigInteger),
    sa.Column("origin_recorded_us", sa.BigInteger),
    sa.Column("via_peer", sa.String(100)),
    sa.Index(
        "uq_ledger_record_key",
        "furnisher",
        "record_id",
        unique=True,
        sqlite_where=sa.text("entry = 'record'"),
        postgresql_where=sa.text("entry = 'record'"),
    ),
    sa.Index("ix_ledger_subject_id", "subject_id"),
    sa.Index(
        "ix_ledger_record_seq",
        "record_seq",
        sqlite_where=sa.text("record_seq IS NOT NULL"),
        postgresql_where=sa.text("record_seq IS NOT NULL"),
    ),
)

# The current standing of every evaluated subject under every published scheme.
standings = sa.Table(
    "standings",
    metadata,
    sa.Column("scheme_id", sa.String(100), primary_key=True),
    sa.Column("subject_id", sa.BigInteger, primary_key=True),
    sa.Column("scheme_version", sa.Integer, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("known_us", sa.BigInteger, nullable=False),
    sa.Column("score", sa.Integer),
    sa.Column("grade", sa.String(16)),
    sa.Column("lists", sa.Text, nullable=False),
    sa.Column("measures", sa.Text, nullable=False),
    # The first date on which the standing may change without new data; null: never.
    sa.Column("holds_until", sa.Date),
    sa.Index("ix_standings_holds_until", "holds_until"),
    sa.Index("ix_standings_subject_id", "subject_id"),  # a subject's standings: checks
)

# Each list a current standing holds, with its dates: what public lists are read from (one
# indexed query, in identifier order). Written with ``standings``, in the same transaction.
standing_lists = sa.Table(
    "standing_lists",
    metadata,
    sa.Column("scheme_id", sa.String(100), primary_key=True),
    sa.Column("list_id", sa.String(100), primary_key=True),
    sa.Column("identifier", key_text(18), primary_key=True),
    sa.Column("subject_id", sa.BigInteger, nullable=False),
    sa.Column("since", sa.Date),  # null for a grade list
    sa.Column("until", sa.Date),  # exclusive; null for a grade list
    sa.Index("ix_standing_lists_subject_id", "subject_id"),
)

# Change counters, one row each: id 1 the ledger's (raised by every transaction that appends to
# the ledger), id 2 the derived state's (raised by every transaction that writes current
# standings). A copy of the current standings held in memory knows in one read whether it is
# still current.
generation = sa.Table(
    "generation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger, nullable=False),
)
LEDGER_GENERATION, STANDINGS_GENERATION = 1, 2

# Which scheme version the current standings of each scheme were last built for, in batch, and
# from which ledger head (a build from an older snapshot never replaces a newer one).
current_builds = sa.Table(
    "current_builds",
    metadata,
    sa.Column("scheme_id", sa.String(100), primary_key=True),
    sa.Column("scheme_version", sa.Integer, nullable=False),
    sa.Column("built_us", sa.BigInteger, nullable=False),
    sa.Column("ledger_seq", sa.BigInteger),
)

# Who is bringing the derived state up to date after a large batch: a lease, so that two
# processes do not rebuild the same standings at once, and a crashed holder's lease runs out.
upkeep_lease = sa.Table(
    "upkeep_lease",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("holder", sa.Text),
    sa.Column("until_us", sa.BigInteger, nullable=False),
)

# The anchored head of each hash chain (ledger, audit_log, admin_log), written in the same
# transaction as every append, and the first entry hashed with the v2 and the v3 encoding.
chain_heads = sa.Table(
    "chain_heads",
    metadata,
    sa.Column("chain", sa.String(16), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("v2_from", sa.BigInteger, nullable=False),
    sa.Column("v3_from", sa.BigInteger, nullable=False),  # the ledger's only
)

# The records erased after their retention period (registry.retention), by the digest of
# their key (furnisher, record id) so that the same record is refused when it is furnished
# again; no link to the subject.
erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("record_seq", BigKey, primary_key=True, autoincrement=False),
    sa.Column("furnisher", sa.String(100), nullable=False),
    sa.Column("key_digest", sa.String(64), nullable=False),
    sa.Column("erased_on", sa.Date, nullable=False),
    sa.Column("basis", sa.Text, nullable=False),
    sa.Column("erased_us", sa.BigInteger, nullable=False),
    sa.Index("ix_erasures_key_digest", "key_digest"),
)

# Other registries this one exchanges records with (registry.exchange), their Ed25519 public
# keys (PEM) and addresses; the agreements, versioned, that say which codes flow each way; and
# every delta file made for or imported from a peer (its cursor range and digest).
peers = sa.Table(
    "peers",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("added_us", sa.BigInteger, nullable=False),
)

agreements = sa.Table(
    "agreements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agreement_id", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("peer", sa.String(100), sa.ForeignKey("peers.id"), nullable=False),
    sa.Column("published_us", sa.BigInteger, nullable=False),
    sa.Column("published_by", sa.String(200), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.UniqueConstraint("agreement_id", "version"),
)

exchanges = sa.Table(
    "exchanges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("peer", sa.String(100), sa.ForeignKey("peers.id"), nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),  # out | in
    sa.Column("since", sa.BigInteger, nullable=False),
    sa.Column("until", sa.BigInteger, nullable=False),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),  # SHA-256 of the signed manifest
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("batch_id", sa.Integer),  # in: the batch that appended its entries
    sa.Index("ix_exchanges_peer_direction", "peer", "direction"),
)

# Every security- or law-relevant write, append-only and hash-chained: credentials created,
# used and revoked, portal sessions started and ended, furnishers and their codes, policy
# versions published. ``state`` is the object's state after the write (canonical JSON), so
# that `verify` can compare the tables with what the log says they hold.
admin_log = sa.Table(
    "admin_log",
    metadata,
    sa.Column("seq", BigKey, primary_key=True, autoincrement=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("object", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_admin_log_object", "object"),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("scheme_id", sa.String(100), nullable=False),
    sa.Column("scheme_version", sa.Integer, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("known_us", sa.BigInteger, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("subjects", sa.Integer, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),  # JSON: grade distribution and list sizes
)

snapshot_standings = sa.Table(
    "snapshot_standings",
    metadata,
    sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), primary_key=True),
    sa.Column("subject_id", sa.BigInteger, primary_key=True),
    sa.Column("score", sa.Integer),
    sa.Column("grade", sa.String(16)),
    sa.Column("lists", sa.Text, nullable=False),
    sa.Column("measures", sa.Text, nullable=False),
)

# Who read whose data, when and why: append-only and hash-chained like the ledger.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", BigKey, primary_key=True, autoincrement=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("subject_id", sa.BigInteger, nullable=False),
    sa.Column("what", sa.Text, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_subject_id", "subject_id"),
)

# What subjects are told, and when it went out. The default sender leaves notices here for the
# subject to read; another sender marks them sent.
notices = sa.Table(
    "notices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subject_id", sa.BigInteger, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    # record | listed | delisted | grade | objection | repair | review
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("scheme_id", sa.String(100)),
    sa.Column("ref", sa.Text),  # the record (furnisher/record_id) or list it is about
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sent_us", sa.BigInteger),
    sa.Column("channel", sa.String(32)),
    sa.Index("ix_notices_subject_id", "subject_id"),
    sa.Index("ix_notices_sent_us", "sent_us"),
)

# Requests that a human review a standing (the right to refuse purely automated decisions).
reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subject_id", sa.BigInteger, nullable=False),
    sa.Column("scheme_id", sa.String(100)),  # null: every scheme
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("requested_us", sa.BigInteger, nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("outcome", sa.String(16)),  # confirmed | corrected; null while open
    sa.Column("decision_reason", sa.Text),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_us", sa.BigInteger),
    sa.Column("record_seq", sa.BigInteger),  # corrected: the record found wrong (retracted)
    sa.Column("lapse_told_us", sa.BigInteger),  # the subject told the review is late
    sa.Index("ix_reviews_subject_id", "subject_id"),
)

# A review found a record wrong: it was retracted, and its furnisher is to send the corrected
# record by ``due`` (registry.corrections); replacement_seq: the record that corrects it.
corrections = sa.Table(
    "corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("review_id", sa.Integer, nullable=False),
    sa.Column("subject_id", sa.BigInteger, nullable=False),
    sa.Column("record_seq", sa.BigInteger, nullable=False),
    sa.Column("furnisher", sa.String(100), nullable=False),
    sa.Column("requested_us", sa.BigInteger, nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("replacement_seq", sa.BigInteger),
    sa.Column("completed_by", sa.Text),
    sa.Column("completed_us", sa.BigInteger),
    sa.Column("lapse_told_us", sa.BigInteger),  # the subject told the correction is late
    sa.Index("ix_corrections_furnisher", "furnisher"),
)

# Objections to records, and applications for credit repair: the due-process queues.
objections = sa.Table(
    "objections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subject_id", sa.BigInteger, nullable=False),
    sa.Column("record_seq", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("filed_us", sa.BigInteger, nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("outcome", sa.String(16)),  # upheld | rejected; null while open
    sa.Column("decision_reason", sa.Text),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_us", sa.BigInteger),
    sa.Column("lapse_told_us", sa.BigInteger),  # the subject told it lapsed undecided
    sa.Index("ix_objections_subject_id", "subject_id"),
)

repairs = sa.Table(
    "repairs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subject_id", sa.BigInteger, nullable=False),
    sa.Column("record_seq", sa.BigInteger, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("commitment", sa.Boolean, nullable=False),
    sa.Column("applied_us", sa.BigInteger, nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("outcome", sa.String(16)),  # granted | denied; null while open
    sa.Column("decision_reason", sa.Text),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_us", sa.BigInteger),
    sa.Column("lapse_told_us", sa.BigInteger),  # the subject told the decision is late
    # The file found complete (by whom, on which day): the decision is due by decision_due.
    sa.Column("complete_on", sa.Date),
    sa.Column("completed_by", sa.Text),
    sa.Column("decision_due", sa.Date),
    sa.Index("ix_repairs_subject_id", "subject_id"),
)

# Every report issued to (or about) a subject: the free allowance per year is counted here.
reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subject_id", sa.BigInteger, nullable=False),
    sa.Column("issued_us", sa.BigInteger, nullable=False),
    sa.Column("year", sa.Integer, nullable=False),  # calendar year in the registry's time zone
    sa.Column("format", sa.String(8), nullable=False),  # html | pdf | json
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("free", sa.Boolean, nullable=False),
    # the requester's role (migration 0011): only the subject's own requests (and those of
    # before, NULL) count against the free reports of the year
    sa.Column("role", sa.String(16)),
    sa.Index("ix_reports_subject_id_year", "subject_id", "year"),
)

# Credentials: API keys (shown once, stored as a SHA-256 of the secret, revocable) and the
# one-time sign-in links of subjects (``kind`` = login; used once, then spent). A key is bound to
# one role and, by role, to one furnisher, one agency or one subject.
credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),  # key | login
    sa.Column("prefix", key_text(16), nullable=False, unique=True),  # the public part
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("furnisher_id", sa.String(100)),
    sa.Column("agency", sa.Text),
    sa.Column("subject", key_text(18)),
    sa.Column("peer_id", sa.String(100)),  # a peer key's registry (migration 0015)
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("expires_us", sa.BigInteger),
    sa.Column("used_us", sa.BigInteger),
    sa.Column("revoked_us", sa.BigInteger),
)

# Portal sessions: a browser signed in with a key or a sign-in link. The cookie carries the
# session's secret; the store keeps its SHA-256, the CSRF token of its forms and its expiry.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("credential_id", sa.Integer, sa.ForeignKey("credentials.id"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
    sa.Column("ended_us", sa.BigInteger),
)
