"""The catalogue and schemes shipped with socialcredit, loaded by name or by path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from socialcredit.errors import UsageError
from socialcredit.policy.loader import load_catalogue, load_scheme, parse_catalogue, parse_scheme
from socialcredit.policy.model import Catalogue, Scheme

_DATA = resources.files("socialcredit") / "data"


def shipped_scheme_ids() -> list[str]:
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in (_DATA / "schemes").iterdir()
        if entry.name.endswith(".yaml")
    )


def shipped_catalogue() -> Catalogue:
    text = (_DATA / "catalogue.yaml").read_text(encoding="utf-8")
    return parse_catalogue(text, source="shipped:catalogue.yaml")


def resolve_catalogue(name_or_path: str | None) -> Catalogue:
    """A catalogue file, or the shipped catalogue when no path (or ``shipped``) is given."""
    if name_or_path in (None, "shipped"):
        return shipped_catalogue()
    return load_catalogue(Path(str(name_or_path)))


def resolve_scheme(name_or_path: str, *, catalogue: Catalogue) -> Scheme:
    """A scheme by shipped id (``spc-defaulters``) or by file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_scheme(path, catalogue=catalogue)
    if name_or_path in shipped_scheme_ids():
        text = (_DATA / "schemes" / f"{name_or_path}.yaml").read_text(encoding="utf-8")
        return parse_scheme(
            text,
            catalogue=catalogue,
            source=f"shipped:{name_or_path}.yaml",
        )
    raise UsageError(
        f"no scheme file or shipped scheme named {name_or_path!r}; "
        f"shipped schemes: {', '.join(shipped_scheme_ids())}"
    )


def shipped_catalogue_text() -> str:
    return (_DATA / "catalogue.yaml").read_text(encoding="utf-8")


def shipped_scheme_texts() -> dict[str, str]:
    """Each shipped scheme's YAML text by id."""
    return {
        scheme_id: (_DATA / "schemes" / f"{scheme_id}.yaml").read_text(encoding="utf-8")
        for scheme_id in shipped_scheme_ids()
    }
