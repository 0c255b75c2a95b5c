from __future__ import annotations

import pytest
from django.core.cache import cache

pytest_plugins = ["tests.support.fakellm", "tests.support.live_server", "tests.support.server_process", "tests.support.tasks"]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Throttle counters live in the cache; every test starts with none."""
    cache.clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need several server processes sharing one database and Redis run in
    the PostgreSQL + Redis pass only (``make test`` runs both passes)."""
    import os

    second_pass = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    if second_pass:
        marker, keyword = pytest.mark.skip(reason="starts its own SQLite set-up: runs in the first pass of make test"), "sqlite_only"
    else:
        marker, keyword = pytest.mark.skip(reason="runs in the PostgreSQL + Redis pass of make test"), "postgres_only"
    for item in items:
        if keyword in item.keywords:
            item.add_marker(marker)
        if item.nodeid.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.e2e)
