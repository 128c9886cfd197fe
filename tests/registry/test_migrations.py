"""`init` brings a store made by an earlier release up to the current schema."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from socialcredit.registry.admin import init_store
from socialcredit.settings import Settings
from socialcredit.store.db import Store, _alembic_config


def test_init_migrates_a_store_of_the_first_release(store_url: str) -> None:
    store = Store(store_url)
    try:
        with store.engine.begin() as connection:
            config = _alembic_config(connection)
            head = ScriptDirectory.from_config(config).get_current_head()
            command.upgrade(config, "0001")
        done = init_store(store, Settings(database_url=store_url))
        assert (done.schema_from, done.schema_to) == ("0001", head)
        store.check_ready()
        again = init_store(store, Settings(database_url=store_url))
        assert again.schema_from == again.schema_to == head
        assert not any(p.new for p in again.published)
    finally:
        store.engine.dispose()
