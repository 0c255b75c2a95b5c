"""A fresh checkout set up the way the README's first command does it: no bubblewrap, no
SECRET_KEY, no data directory. It must migrate, generate its own key and serve."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from luxx.bootstrap import BASE_DIR, legacy_secret_key

# A fresh checkout on SQLite, whatever the pass's database: the second pass would repeat the first.
pytestmark = pytest.mark.sqlite_only


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fresh_env(bin_dir: Path) -> dict[str, str]:
    """What a newcomer's shell has: none of Luxx's variables, and a PATH without bwrap."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LUXX_", "DJANGO_"))}
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DEBUG"):
        env.pop(name, None)
    env["PATH"] = str(bin_dir)
    return env


@pytest.fixture
def fresh_checkout(tmp_path: Path) -> Iterator[Path]:
    """The files of this working tree that git would commit (tracked, or new and not
    ignored), as a clone would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=BASE_DIR, capture_output=True, check=True
    ).stdout
    root = tmp_path / "luxx"
    for name in filter(None, listed.decode().split("\0")):
        source = BASE_DIR / name
        if source.is_file():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    yield root


def test_a_fresh_checkout_without_bubblewrap_migrates_and_serves(fresh_checkout: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = _fresh_env(bin_dir)

    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=fresh_checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "bwrap is not installed" in migrate.stderr
    data = fresh_checkout / "data"
    assert stat.S_IMODE((data / "secret_key").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o711

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "luxx.asgi:application"],
        cwd=fresh_checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    status = response.status
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=20)
    assert "No directory at" not in stderr
    assert "Traceback" not in stderr


def _settings_probe(cwd: Path, env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**env, "DJANGO_SETTINGS_MODULE": "luxx.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_each_install_generates_its_own_key_and_none_is_the_derived_one(tmp_path: Path) -> None:
    env = _fresh_env(tmp_path)
    keys = []
    for name in ("one", "two"):
        data = tmp_path / name
        # The set-up's first command makes the key before it migrates anything (its plan
        # is enough here; the test above runs a whole migration).
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--plan", "-v", "0"],
            cwd=BASE_DIR,
            env={**env, "LUXX_DATA_DIR": str(data)},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert migrate.returncode == 0, migrate.stderr
        probe = _settings_probe(BASE_DIR, {**env, "LUXX_DATA_DIR": str(data)}, "settings.SECRET_KEY")
        keys.append(probe.stdout.strip())

    assert keys[0] != keys[1]
    assert legacy_secret_key() not in keys
    assert all(len(key) >= 50 for key in keys)


def test_a_server_without_a_key_refuses_to_start_unless_debugging(tmp_path: Path) -> None:
    env = {**_fresh_env(tmp_path), "LUXX_DATA_DIR": str(tmp_path / "empty")}

    refused = _settings_probe(BASE_DIR, env, "settings.SECRET_KEY")
    debugging = _settings_probe(BASE_DIR, {**env, "DEBUG": "true"}, "len(settings.SECRET_KEY)")

    assert refused.returncode != 0
    assert "No secret key: set SECRET_KEY, or run `manage.py migrate`" in refused.stderr
    assert debugging.returncode == 0, debugging.stderr
    assert int(debugging.stdout) >= 50
