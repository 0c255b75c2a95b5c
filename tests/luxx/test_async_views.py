"""Requests to the async API views run Django's thread-sensitive calls on one shared thread
(luxx.asyncapi), not on a thread started for each request; other views keep Django's own."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.signals import request_finished, request_started

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def signal_threads() -> Iterator[list[tuple[str, str]]]:
    """(signal, name of the thread its receivers ran on), for every request served."""
    seen: list[tuple[str, str]] = []

    def started(**kwargs: Any) -> None:
        seen.append(("started", threading.current_thread().name))

    def finished(**kwargs: Any) -> None:
        seen.append(("finished", threading.current_thread().name))

    request_started.connect(started, weak=False)
    request_finished.connect(finished, weak=False)
    yield seen
    request_started.disconnect(started)
    request_finished.disconnect(finished)


def _wait_for(seen: list[tuple[str, str]], count: int) -> None:
    """Django sends ``request_finished`` after the response has gone out: wait for the last."""
    deadline = time.monotonic() + 10
    while len(seen) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(seen) == count


def test_the_streaming_views_share_one_thread_for_djangos_calls(live_url: str, signal_threads: list[tuple[str, str]]) -> None:
    with httpx.Client(base_url=live_url, timeout=10) as client:
        for _ in range(3):
            assert client.post("/api/messages/stream", json={"conversation_id": "x", "content": "hi"}).status_code == 401
            assert client.get("/api/messages/x/events").status_code == 401
            assert client.post("/api/v1/conversations/x/messages", json={"content": "hi"}).status_code == 401

    _wait_for(signal_threads, 18)
    assert {name for _, name in signal_threads} == {"luxx-async-views_0"}


def test_other_views_keep_a_thread_of_their_own(live_url: str, signal_threads: list[tuple[str, str]]) -> None:
    with httpx.Client(base_url=live_url, timeout=10) as client:
        for _ in range(2):
            assert client.get("/api/health").status_code == 200
        for _ in range(2):
            assert client.get("/api/v1/conversations/x/messages").status_code == 401

    _wait_for(signal_threads, 8)
    started = [name for signal, name in signal_threads if signal == "started"]  # in the order of the requests
    assert "luxx-async-views_0" not in started[:2]  # the health checks: a sync view
    assert set(started[2:]) == {"luxx-async-views_0"}  # the v1 history is served by the async view
