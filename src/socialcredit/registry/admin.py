"""Bringing a store up: migrations, the shipped policies, current standings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from socialcredit.errors import UsageError
from socialcredit.registry import adminlog
from socialcredit.registry.impact import impact_of
from socialcredit.registry.policies import Published, policy_kind, publish_file, publish_shipped
from socialcredit.registry.standings.upkeep import refresh
from socialcredit.settings import Settings
from socialcredit.store.db import Store


@dataclass(frozen=True)
class Initialised:
    schema_from: str | None
    schema_to: str
    published: list[Published]
    evaluated: list[str]
    adopted: int = 0  # objects of an older store recorded in the admin log as its baseline


def init_store(store: Store, settings: Settings) -> Initialised:
    """Create or migrate the schema, adopt an older store's credentials, furnishers and
    policies into the admin log (once), publish the shipped catalogue and schemes (texts
    already published are no-ops), and evaluate the current standings of any scheme that
    needs it."""
    before, after = store.migrate()
    with store.writing("standings", "admin_log") as connection:
        adopted = adminlog.adopt(connection)
        published = publish_shipped(connection, settings.today())
    evaluated = refresh(store, settings).schemes_rebuilt
    return Initialised(before, after, published, evaluated, adopted)


def scheme_texts(paths: Sequence[Path]) -> dict[Path, str]:
    """The texts of the scheme files among ``paths`` (catalogues left out)."""
    found = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot read {path}: {error.strerror}") from None
        if policy_kind(text, str(path)) == "scheme":
            found[path] = text
    return found


def publish_files(
    store: Store,
    settings: Settings,
    paths: Sequence[Path],
    *,
    reason: str,
    by: str = "socialcredit",
) -> tuple[list[Published], list[str]]:
    """Validate and publish policy files, all or none, recording who published them and why;
    when any is new, re-evaluate the current standings of the schemes it changes. Returns what
    was published and what was evaluated. Each new scheme version is recorded with its impact
    across the registry (:mod:`socialcredit.registry.impact`), computed just before."""
    impacts = {
        path: impact_of(store, settings, text, source=str(path)).to_json()
        for path, text in scheme_texts(paths).items()
    }
    with store.writing("standings", "admin_log") as connection:
        published = [
            publish_file(
                connection,
                path,
                by=by,
                today=settings.today(),
                notice_days=settings.policy_notice_days,
                reason=reason,
                impact=impacts.get(path),
            )
            for path in paths
        ]
    rebuilt = refresh(store, settings).schemes_rebuilt if any(p.new for p in published) else []
    return published, rebuilt
