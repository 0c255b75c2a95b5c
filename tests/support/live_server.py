"""A real ASGI server (uvicorn) running Luxx in a thread of the test process, so it
shares the test database. Tests that use it need ``django_db(transaction=True)``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn


class LiveASGIServer:
    def __init__(self) -> None:
        from luxx.asgi import application

        config = uvicorn.Config(application, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-asgi", daemon=True)

    def start(self) -> None:
        # Import every view (and the SDKs behind them) now, not inside the first
        # request, whose client would otherwise wait for the imports.
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the live ASGI server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def live_asgi_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[LiveASGIServer]:
    server = LiveASGIServer()
    server.start()
    yield server
    server.stop()
    _drop_server_thread_connections(django_db_blocker)


def _drop_server_thread_connections(django_db_blocker: Any) -> None:
    """The server's worker threads keep database connections that this thread cannot
    close; on PostgreSQL they would keep the test database from being dropped."""
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture
def live_url(live_asgi_server: LiveASGIServer, transactional_db: None) -> str:
    return live_asgi_server.url
