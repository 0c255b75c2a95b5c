from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from tests.support.tasks import FAST, PoolInThread, wait_until_idle


@pytest.fixture(autouse=True)
def _a_worker_runs_the_rooms(transactional_db: None) -> Iterator[PoolInThread]:
    """Room runs execute on a worker: one runs in this process beside the live server.
    The next test (and the database flush) waits until the runs this test started have
    finished."""
    with override_settings(**FAST), PoolInThread() as pool:
        yield pool
        try:
            wait_until_idle(timeout=15)
        except AssertionError:
            pass  # a run the test left going is stopped with the pool
