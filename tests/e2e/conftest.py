"""Browser tests: Debian's Chromium driven by Playwright against a real daphne server.

The server runs as a subprocess with a throw-away data directory and its own database,
migrated first, so these tests never touch the suite's test database: SQLite in the first
pass; in the PostgreSQL + Redis pass a fresh PostgreSQL database on the same server and
the Redis channel layer (with its own prefix), so the browser tests cover that stack too.
Each pytest-xdist worker starts its own server. The fake LLM runs in this process
(``fake_llm`` fixture) and is reached over HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import templates

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-42"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _server_database() -> Iterator[dict[str, str]]:
    """The server's database settings: none (SQLite in its data directory) in the first
    pass; in the PostgreSQL + Redis pass a fresh database, dropped at the end."""
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        yield {}
        return
    import psycopg

    name = f"luxx_e2e_{uuid.uuid4().hex[:12]}"
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    try:
        yield {"DATABASE_URL": database_url.rsplit("/", 1)[0] + f"/{name}", "LUXX_CHANNEL_PREFIX": name}
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_server() -> Iterator[str]:
    """A freshly migrated database with a throw-away data directory, then serve Luxx with
    daphne on a free port and a worker (``manage.py db_worker``), as ``make run`` does
    (with a fast password hasher: ``tests/e2e/server_settings.py``); yield its URL and
    stop both at the end."""
    with _server_database() as database, _serving(database) as url:
        yield url


@contextmanager
def _serving(database: dict[str, str]) -> Iterator[str]:
    data_dir = tempfile.mkdtemp(prefix="luxx-e2e-")
    # The code sandbox runs as an unprivileged uid that must reach the workspaces below.
    Path(data_dir).chmod(0o711)
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "LUXX_CHANNEL_PREFIX"}}
    if database:
        env.update(database, REDIS_URL=os.environ.get("REDIS_URL", ""))
    env.update(
        DJANGO_SETTINGS_MODULE="tests.e2e.server_settings",
        LUXX_DATA_DIR=data_dir,
        LUXX_AUTH_THROTTLE_RATE="10000/min",
        # Every test registers its own user; all of them may point a provider at the
        # fake LLM on the loopback address (normally only admins may).
        LUXX_PROVIDER_PRIVATE_URLS="all",
        LUXX_MCP_PRIVATE_URLS="all",
        DEBUG="false",
        PYTHONUNBUFFERED="1",
    )
    bin_dir = Path(sys.executable).parent
    # A copy of a database migrated once for the whole run with these settings (the
    # same as migrating this one, without paying for it in every worker).
    if database:
        templates.create_migrated_postgres(env, database["DATABASE_URL"].rsplit("/", 1)[1])
    else:
        templates.copy_migrated_sqlite(env, Path(data_dir))
    port = _free_port()
    log = open(Path(data_dir) / "daphne.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(bin_dir / "daphne"), "--application-close-timeout", "3600", "-b", "127.0.0.1", "-p", str(port), "luxx.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--concurrency", "4"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a loaded machine: the first request imports the URLconf
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited early; see {log.name}")
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("daphne did not start")
            time.sleep(0.2)
        yield url
    finally:
        for child in (process, worker):
            child.terminate()
        for child in (process, worker):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        log.close()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    with running_server() as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/ensure-system-packages.sh installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageErrors(list):
    """Uncaught script errors of a page; a test ends by asserting there were none."""


def _track_errors(page: Any) -> None:
    page.errors = PageErrors()
    page.on("pageerror", lambda error: page.errors.append(str(error)))


@pytest.fixture
def new_page(browser: Any, server_url: str) -> Iterator[Any]:
    contexts = []

    def make(*, width: int = 1280, height: int = 800, locale: str = "en-US", color_scheme: str = "light") -> Any:
        context = browser.new_context(
            base_url=server_url, viewport={"width": width, "height": height}, locale=locale, color_scheme=color_scheme
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        context.on("page", _track_errors)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def register(page: Any, username: str | None = None) -> str:
    """Create an account through the registration form; the session is then signed in."""
    username = username or unique("user")
    page.goto("/register/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/")
    return username


def api(page: Any, method: str, path: str, body: Any = None) -> Any:
    """Call the JSON API from the page, with its session and CSRF token; return `data`."""
    result = page.evaluate(
        """async ([method, path, body]) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch(path, {method, headers: {"Content-Type": "application/json", "X-CSRFToken": token},
                                                body: body === null ? undefined : JSON.stringify(body)});
            return {status: response.status, payload: await response.json()};
        }""",
        [method, path, body],
    )
    assert result["status"] < 400, result
    return result["payload"]["data"]


def add_fake_provider(page: Any, fake_llm: Any) -> dict[str, Any]:
    return api(
        page,
        "POST",
        "/api/providers/",
        {
            "name": "Fake",
            "provider_type": "openai",
            "base_url": fake_llm.base_url + "/v1",
            "api_key": "fake",
            "default_model": "fake-model",
            "is_default": True,
        },
    )
