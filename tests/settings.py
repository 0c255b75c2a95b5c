"""Settings for the test suite: the real settings, with a throw-away data directory,
a fast password hasher and test-only views. DATABASE_URL / REDIS_URL still choose the
database and channel layer, so the same suite runs on SQLite and on PostgreSQL + Redis."""

import os
import secrets
import tempfile

os.environ.setdefault("LUXX_DATA_DIR", tempfile.mkdtemp(prefix="luxx-test-"))
os.environ.setdefault("LUXX_AUTH_THROTTLE_RATE", "10000/min")
os.environ.setdefault("LUXX_CHANNEL_PREFIX", f"luxx-test-{os.getpid()}")
# One random key per test run, shared with the server processes the tests start.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

from luxx.settings import *  # noqa: F403
from luxx.settings import LUXX_DATA_DIR

LUXX_TEST_VIEWS = True
# Prices are read when used: a test that sets one sees it at once.
LUXX_PRICE_CACHE_SECONDS = 0.0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not the shared-cache in-memory database: live servers in threads then get
    # SQLite's real locking (WAL + busy timeout) instead of shared-cache table locks.
    DATABASES["default"]["TEST"] = {"NAME": str(LUXX_DATA_DIR / "test.sqlite3")}  # noqa: F405
else:
    # The same backend, emptying tables faster between tests (tests/support/postgresql).
    DATABASES["default"]["ENGINE"] = "tests.support.postgresql"  # noqa: F405
