from __future__ import annotations

import pytest
from django.core.cache import cache

pytest_plugins = ["tests.support.fakellm", "tests.support.live_server"]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Throttle counters live in the cache; every test starts with none."""
    cache.clear()
