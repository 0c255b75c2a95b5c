"""The SQLite database (and its -wal and -shm files) is readable by its owner only, as
the data directory and the secret key are."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What a server process does first: load the settings, connect, write (WAL mode); then
# the modes of the database, -wal and -shm files while they exist (SQLite removes the
# last two when the last connection closes).
WRITE = (
    "import django; django.setup()\n"
    "from django.db import connection\n"
    "with connection.cursor() as cursor:\n"
    "    cursor.execute('CREATE TABLE IF NOT EXISTS probe (x)')\n"
    "    cursor.execute('INSERT INTO probe VALUES (1)')\n"
    "import os, stat\n"
    "for suffix in ('', '-wal', '-shm'):\n"
    "    print(oct(stat.S_IMODE(os.stat(connection.settings_dict['NAME'] + suffix).st_mode)))\n"
)


def start_once(data_dir: Path) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="luxx.settings", LUXX_DATA_DIR=str(data_dir), SECRET_KEY=secrets.token_urlsafe(50), DEBUG="false")
    done = subprocess.run(
        [sys.executable, "-c", WRITE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0o022)
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    modes = start_once(tmp_path / "data")

    assert modes == ["0o600", "0o600", "0o600"]
    assert mode(tmp_path / "data" / "luxx.sqlite3") == 0o600


def test_an_existing_database_readable_by_others_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start_once(data)
    (data / "luxx.sqlite3").chmod(0o644)

    modes = start_once(data)

    assert modes == ["0o600", "0o600", "0o600"]
