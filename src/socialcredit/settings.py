"""The registry's settings: one place, read from options, the environment or a ``.env`` file."""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from socialcredit.policy.deadlines import DEADLINES


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class Settings(BaseSettings):
    """Every setting has a ``SOCIALCREDIT_`` environment variable, e.g.
    ``SOCIALCREDIT_DATABASE_URL``."""

    model_config = SettingsConfigDict(env_prefix="SOCIALCREDIT_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///socialcredit.db",
        description="SQLAlchemy URL of the store: sqlite:///FILE or postgresql://USER@HOST/DB.",
    )
    timezone: str = Field(
        default="UTC", description="The registry's time zone: what 'today' means for --as-of."
    )
    policy_notice_days: int = Field(
        default=30,
        ge=0,
        description=(
            "Days' notice before a harsher grade band, measure or population of a new scheme "
            "version may take effect (its effective_from is at least this long after publication)."
        ),
    )
    online_update_limit: int = Field(
        default=2_000,
        ge=0,
        description=(
            "After an ingest, up to this many affected subjects are re-evaluated one by one with "
            "the reference engine; more, and every scheme is re-evaluated in batch."
        ),
    )

    publication_days_minor: int = Field(
        default=0, ge=0, le=92, description="How long a minor record is public (at most 3 months)."
    )
    publication_days_general: int = Field(
        default=365, ge=90, le=366, description="How long a general record is public (3-12 months)."
    )
    publication_days_serious: int = Field(
        default=1095,
        ge=365,
        le=1096,
        description="How long a serious record is public (1-3 years).",
    )

    publication_notice_days: int = Field(
        default=0,
        ge=0,
        le=90,
        description=(
            "Days a new listing waits before it is published (the subject is told at once; "
            "evaluation is never delayed)."
        ),
    )
    registry_id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$",
        description="This registry's id in exchanges with peer registries (what they register "
        "it as with `peer add`).",
    )
    exchange_key_file: Path | None = Field(
        default=None,
        description="The registry's Ed25519 private key (PEM) that signs exchange files "
        "(`socialcredit key exchange-init`).",
    )
    holidays_file: Path | None = Field(
        default=None,
        description="YAML calendar of public holidays and make-up working days for deadlines.",
    )
    objection_days: int = Field(
        default=5,
        ge=1,
        description="Working days to decide an objection (at most 20 days: the credit-reporting "
        "regulation, art. 25).",
    )
    repair_feedback_days: int = Field(
        default=10,
        ge=1,
        description="Working days to answer a repair application (at most 10).",
    )
    repair_decision_days: int = Field(
        default=3,
        ge=1,
        description="Working days to decide a repair after referral (at most 3).",
    )
    correction_days: int = Field(
        default=3,
        ge=1,
        description="Working days for a furnisher to send the corrected record after a review "
        "found its record wrong and retracted it (at most 3).",
    )
    review_days: int = Field(
        default=15,
        ge=1,
        description="Working days for a human review of a standing (at most 20 days).",
    )
    registry_name: str = Field(
        default="socialcredit registry",
        min_length=1,
        description="The registry's name, printed on every report it issues.",
    )
    free_reports_per_year: int = Field(
        default=2,
        ge=2,
        description="Free reports per subject and calendar year (the law: at least 2).",
    )

    # -- the HTTP service (socialcredit serve) ----------------------------------------------
    access_log_queries: bool = Field(
        default=False,
        description="Keep query strings in the access log (off: a query may carry a purpose).",
    )
    access_log_identifiers: bool = Field(
        default=False,
        description="Keep identifiers whole in the access log (off: masked as the public lists "
        "mask a person's; who read whose data is the audit's to record).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses of the reverse proxies whose X-Forwarded-For "
        "is believed (rate limits then count the visitor's address); none by default, so a "
        "client cannot choose its own address.",
    )
    max_batch_bytes: int = Field(
        default=256 * 2**20,
        ge=2**10,
        description="The largest CSV or JSON-lines batch the API takes (bytes); a larger body "
        "is refused with 413 before it is read. Send larger ones with `socialcredit ingest`.",
    )
    max_json_batch_bytes: int = Field(
        default=16 * 2**20,
        ge=2**10,
        description="The largest JSON-array batch the API takes (bytes): JSON lines or CSV "
        "carry the same rows at a lower cost.",
    )
    max_request_bytes: int = Field(
        default=2**20,
        ge=2**10,
        description="The largest body of any other request (batch checks, forms, decisions); "
        "10,000 identifiers to check take about 250 KiB.",
    )
    max_policy_bytes: int = Field(
        default=2**20, ge=2**10, description="The largest policy document the API takes (bytes)."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where people reach the portal: the base of the sign-in links it issues.",
    )
    rate_public_per_second: float = Field(
        default=20, gt=0, description="Public pages and API: requests per second per address."
    )
    rate_public_burst: int = Field(default=60, ge=1, description="Public: the burst allowed.")
    public_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Public requests a worker works on at once; the others wait their turn "
        "(no thread), so that public readers never crowd out agencies' checks.",
    )
    rate_checks_per_second: float = Field(
        default=5_000, gt=0, description="Checks: requests per second per agency key."
    )
    rate_checks_burst: int = Field(default=10_000, ge=1, description="Checks: the burst allowed.")
    rate_reports_per_second: float = Field(
        default=0.2,
        gt=0,
        description="Credit reports (a PDF takes seconds): per key or portal session.",
    )
    rate_reports_burst: int = Field(default=5, ge=1, description="Reports: the burst allowed.")
    rate_batches_per_second: float = Field(
        default=10, gt=0, description="Batch checks (up to 10,000 subjects each): per key."
    )
    rate_batches_burst: int = Field(default=40, ge=1, description="Batch checks: the burst.")
    rate_submissions_per_second: float = Field(
        default=2, gt=0, description="Submissions of records or events: per furnisher key."
    )
    rate_submissions_burst: int = Field(default=20, ge=1, description="Submissions: the burst.")
    upkeep_seconds: float = Field(
        default=60,
        ge=0,
        description="Each service worker brings stale or pending current standings up to date "
        "at start and then this often (0: never; `socialcredit refresh` from cron instead). "
        "Answers are right either way; the upkeep keeps them cheap.",
    )
    check_index_max_subjects: int = Field(
        default=1_000_000,
        ge=0,
        description="Each service worker keeps the current standings of up to this many "
        "subjects in memory for checks (about 900 bytes a subject under five schemes); a "
        "larger registry, or 0, reads every check from the store.",
    )
    key_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How long a worker trusts an API key it has looked up (a revocation takes "
        "effect within this time).",
    )
    secure_cookies: bool = Field(
        default=False, description="Mark the portal's cookies Secure (set it behind HTTPS)."
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="OpenID Connect issuer URL of a national e-ID: subjects may sign in with it.",
    )
    oidc_client_id: str | None = Field(default=None, description="OpenID Connect client id.")
    oidc_client_secret: str | None = Field(default=None, description="OpenID Connect secret.")
    oidc_state_secret: str | None = Field(
        default=None,
        description="Signs the OpenID Connect state cookie; set it when serving with several "
        "workers (default: random per worker).",
    )
    oidc_identifier_claim: str = Field(
        default="resident_id",
        description="The ID token claim that carries the subject's 18-character identifier.",
    )

    @field_validator(*DEADLINES)
    @classmethod
    def _within_the_law(cls, value: int, info: ValidationInfo) -> int:
        """A deadline may be shortened, never lengthened past its legal maximum."""
        refusal = DEADLINES[str(info.field_name)].refusal(value)
        if refusal:
            raise ValueError(refusal)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai"
            ) from None
        return value

    def model_post_init(self, context: object, /) -> None:
        if "SOCIALCREDIT_MAX_EFFECT_DAYS" in os.environ:
            raise ValueError(
                "SOCIALCREDIT_MAX_EFFECT_DAYS is gone: the effect limit is five years, or a "
                "scheme's own max_effect ({years: N, legal_basis: ...}, at most ten years) for "
                "that scheme only; unset it"
            )

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """Today's date in the registry's time zone."""
        return (now or dt.datetime.now(dt.UTC)).astimezone(_zone(self.timezone)).date()
