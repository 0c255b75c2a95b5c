from __future__ import annotations

import pytest
from django.core.cache import cache

pytest_plugins = [
    "tests.support.fakellm",
    "tests.support.fastflush",
    "tests.support.live_server",
    "tests.support.server_process",
    "tests.support.tasks",
    "tests.support.templates",
]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Throttle counters live in the cache; every test starts with none."""
    cache.clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need several server processes sharing one database and Redis run in
    the PostgreSQL + Redis pass only, and tests that start their own SQLite set-up
    whatever the pass's database in the first pass only (``make test`` runs both passes):
    the other pass deselects them."""
    import os

    second_pass = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    other_pass = "sqlite_only" if second_pass else "postgres_only"
    kept, deselected = [], []
    for item in items:
        if item.nodeid.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.e2e)
        (deselected if other_pass in item.keywords else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    # The modules with tests of the pass's own (several server processes, or a whole
    # set-up started by the test) are the longest; dealt first to the xdist workers
    # (``--dist loadfile`` deals modules in this order), they do not end the step alone.
    first = {item.path for item in items if "postgres_only" in item.keywords or "sqlite_only" in item.keywords}
    items.sort(key=lambda item: item.path not in first)
