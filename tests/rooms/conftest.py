from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from rooms.orchestrator import hub


@pytest.fixture(autouse=True)
def _no_run_outlives_its_test() -> Iterator[None]:
    """Room runs are server-side tasks; the next test (and the database flush) waits until
    the ones this test started have finished."""
    yield
    deadline = time.monotonic() + 15
    while hub.runs and time.monotonic() < deadline:
        time.sleep(0.05)
