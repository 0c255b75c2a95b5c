"""Luxx served by a real server process (daphne or uvicorn), for defects that live in
the server: how it reads request bodies, which address it reports for the client.

The process runs on its own SQLite database in a throw-away data directory, migrated
once per test session, so it never touches the suite's test database. Tests read that
database with ``sqlite3`` when they need to see what the server recorded.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# How each server is started in production-like form. uvicorn's own X-Forwarded-For
# handling is off: Luxx reads the client address itself (LUXX_TRUSTED_PROXIES).
SERVER_COMMANDS = {
    "daphne": [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "{port}", "luxx.asgi:application"],
    "uvicorn": [
        str(BIN / "uvicorn"),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--no-proxy-headers",
        "--lifespan",
        "off",
        "luxx.asgi:application",
    ],
}


@dataclass(frozen=True)
class ServerProcess:
    kind: str
    url: str
    port: int
    data_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "luxx.sqlite3"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="luxx.settings",
        LUXX_DATA_DIR=str(data_dir),
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
        LUXX_AUTH_THROTTLE_RATE="10000/min",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def migrated_data_dir() -> Path:
    data_dir = Path(tempfile.mkdtemp(prefix="luxx-server-"))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=server_environment(data_dir), check=True)
    return data_dir


@contextmanager
def serving(kind: str, data_dir: Path, **extra: str) -> Iterator[ServerProcess]:
    port = _free_port()
    command = [part.format(port=port) for part in SERVER_COMMANDS[kind]]
    log = open(data_dir / f"{kind}-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=server_environment(data_dir, **extra), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a loaded CI machine can take a while to import everything
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{kind} exited early; see {log.name}")
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not start; see {log.name}")
            time.sleep(0.2)
        yield ServerProcess(kind=kind, url=url, port=port, data_dir=data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def server_data_dir() -> Path:
    return migrated_data_dir()


@pytest.fixture(scope="session", params=["daphne", "uvicorn"])
def server_process(request: pytest.FixtureRequest, server_data_dir: Path) -> Iterator[ServerProcess]:
    """Luxx under each server in turn (LUXX_MAX_UPLOAD_MB=1, so upload limits are quick to reach)."""
    with serving(request.param, server_data_dir, LUXX_MAX_UPLOAD_MB="1") as server:
        yield server
