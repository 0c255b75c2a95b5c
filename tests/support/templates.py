"""Migrated databases made once per test run and copied for every server that needs one.

The browser tests' servers each need a freshly migrated database of their own (one per
pytest-xdist worker). Migrating takes seconds of CPU every time, so the first worker that
needs one runs ``manage.py migrate`` (with the same settings and environment) into a
template, under a lock, and every server gets a copy of it: SQLite's backup of the
template file, or PostgreSQL's ``CREATE DATABASE ... TEMPLATE``. The copy is the
migrated database, rows written by migrations and ``post_migrate`` included.

The templates live as long as the test run: the pytest process that starts the run
(the xdist controller, or the only process) names a folder for them in
``LUXX_TEST_TEMPLATES``, which its workers inherit, and removes the folder and drops the
PostgreSQL templates at its end. Nothing is kept from one run to the next.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = "LUXX_TEST_TEMPLATES"
_OWNER = "LUXX_TEST_TEMPLATES_OWNER"


def pytest_configure(config: pytest.Config) -> None:
    if ENV not in os.environ:
        os.environ[ENV] = tempfile.mkdtemp(prefix="luxx-templates-")
        os.environ[_OWNER] = str(os.getpid())


def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get(_OWNER) != str(os.getpid()):
        return
    folder = Path(os.environ.pop(ENV))
    os.environ.pop(_OWNER)
    for marker in folder.glob("*.pg"):
        admin_url, name = marker.read_text().split("\n", 1)
        _drop_postgres(admin_url, name)
    shutil.rmtree(folder, ignore_errors=True)


def _folder() -> Path:
    folder = os.environ.get(ENV)
    if not folder:  # outside a pytest run (a script): a folder of its own
        folder = os.environ[ENV] = tempfile.mkdtemp(prefix="luxx-templates-")
    return Path(folder)


@contextmanager
def _locked(key: str) -> Iterator[Path]:
    folder = _folder()
    with (folder / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _key(env: dict[str, str]) -> str:
    """Templates differ by the settings they migrate with and the database server."""
    wanted = (env.get("DJANGO_SETTINGS_MODULE", ""), env.get("DATABASE_URL", "").rsplit("/", 1)[0])
    return hashlib.sha256(repr(wanted).encode()).hexdigest()[:12]


def _migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def copy_migrated_sqlite(env: dict[str, str], data_dir: Path) -> None:
    """Put a migrated copy of the SQLite database of ``env`` (no DATABASE_URL) in
    ``data_dir`` as ``luxx.sqlite3``, where Luxx keeps it."""
    assert not env.get("DATABASE_URL")
    key = _key(env)
    with _locked(key) as folder:
        template = folder / f"{key}.sqlite3"
        if not template.exists():
            build_dir = Path(tempfile.mkdtemp(prefix="build-", dir=folder))
            _migrate(env | {"LUXX_DATA_DIR": str(build_dir)})
            _backup(build_dir / "luxx.sqlite3", template)
            shutil.rmtree(build_dir, ignore_errors=True)
    _backup(template, data_dir / "luxx.sqlite3")


def _backup(source: Path, target: Path) -> None:
    """A consistent copy (the write-ahead log included), readable by its owner only as
    Luxx makes its database."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    target.chmod(0o600)


def create_migrated_postgres(env: dict[str, str], name: str) -> None:
    """Create database ``name`` on the server of ``env["DATABASE_URL"]`` as a copy of a
    database migrated with ``env``."""
    import psycopg

    base, _ = env["DATABASE_URL"].rsplit("/", 1)
    admin_url = base + "/postgres"
    key = _key(env)
    with _locked(key) as folder:
        marker = folder / f"{key}.pg"
        template = f"luxx_tpl_{os.getpid()}_{key}"
        if marker.exists():
            template = marker.read_text().split("\n", 1)[1]
        else:
            with psycopg.connect(admin_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{template}"')
                connection.execute(f'CREATE DATABASE "{template}"')
            try:
                _migrate(env | {"DATABASE_URL": f"{base}/{template}"})
            except BaseException:
                _drop_postgres(admin_url, template)
                raise
            # Dropped at the end of the run (pytest_unconfigure).
            marker.write_text(f"{admin_url}\n{template}")
        # Under the lock: PostgreSQL refuses to copy a template another session is in.
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def _drop_postgres(admin_url: str, name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:
        pass
