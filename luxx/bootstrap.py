"""What a Luxx process needs on disk before Django starts: its data directory and its
secret key.

This module imports nothing from Django, so ``manage.py`` can use it before the settings
are loaded. The secret key comes from the environment (``SECRET_KEY``) or from the file
``secret_key`` in the data directory, which ``manage.py migrate`` (the first step of every
set-up, ``make run`` included) creates with a random value: every install differs, and
nothing about the key can be derived from the install's path or name.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"
# Anything starting with these is a placeholder, never a secret (the first is what Luxx
# derived from its install path before keys were generated; the second is Django's).
INSECURE_KEY_PREFIXES = ("luxx-insecure-", "django-insecure-")


def data_dir() -> Path:
    return Path(os.environ.get("LUXX_DATA_DIR") or BASE_DIR / "data").resolve()


def ensure_data_dirs(root: Path) -> None:
    """Create the data directory and the folders Luxx writes into.

    The data directory is readable by its owner only (0711: others may pass through it,
    which the sandbox's unprivileged uid needs to reach its workspace below it)."""
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    if root.stat().st_uid == os.geteuid() and stat.S_IMODE(root.stat().st_mode) != 0o711:
        root.chmod(0o711)
    for name in ("uploads", "staticfiles"):
        (root / name).mkdir(mode=0o700, exist_ok=True)


def ensure_private_file(path: Path) -> None:
    """Make ``path`` readable and writable by its owner only (0600), creating it empty if
    it is missing: the SQLite database, which SQLite itself would create with the umask's
    mode (usually 0644, readable by every local user who can name it). SQLite gives its
    -wal and -shm files the database file's mode; existing ones are tightened too."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)
        except FileNotFoundError:
            continue


def read_secret_key(root: Path) -> str:
    """The key kept in the data directory, or "" when there is none."""
    try:
        return (root / SECRET_KEY_FILE).read_text().strip()
    except FileNotFoundError:
        return ""


def create_secret_key(root: Path) -> str:
    """The data directory's key, generated (0600, owner only) if it has none yet.

    Two processes starting at once agree: the key is written to a file of its own and
    linked into place, which fails when another process linked its key first."""
    ensure_data_dirs(root)
    existing = read_secret_key(root)
    if existing:
        return existing
    path = root / SECRET_KEY_FILE
    key = secrets.token_urlsafe(50)
    fd, scratch = tempfile.mkstemp(dir=root, prefix=".secret_key-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        try:
            os.link(scratch, path)
        except FileExistsError:
            return read_secret_key(root)
    finally:
        os.unlink(scratch)
    return key


def legacy_secret_key() -> str:
    """The key Luxx derived from its install path before it generated keys: anyone who
    guesses the path can compute it, so it must never sign or encrypt anything new."""
    return INSECURE_KEY_PREFIXES[0] + hashlib.sha256(str(BASE_DIR).encode()).hexdigest()


def is_insecure_key(key: str) -> bool:
    return not key or key.startswith(INSECURE_KEY_PREFIXES)
