"""Shared by every test package: the longest files run first.

`make test` runs two xdist workers, one file per worker at a time (`--dist loadfile`), in
collection order. A long file collected late leaves one worker busy alone at the end (the Spark
file, ~9 minutes, made the tail), so the files below, the longest, are collected first."""

from __future__ import annotations

import pytest

FIRST = (
    "tests/engines/test_spark.py",
    "tests/registry/test_export_and_spark.py",
    "tests/registry/test_upkeep_property.py",
    "tests/registry/test_cli.py",
    "tests/registry/test_crash.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return FIRST.index(path) if path in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: the rest keep their order
