#!/usr/bin/env bash
# The whole check: lint, types, the OpenAPI schema, then the suite on SQLite with the
# in-memory channel layer, then again on PostgreSQL with the Redis channel layer.
# Outside CI a missing PostgreSQL or Redis skips the second pass with a warning; with
# CI=true it is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PG_URL=${LUXX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/luxx}
REDIS=${LUXX_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}

bash scripts/ensure-system-packages.sh

# Let Python keep compiled modules in __pycache__ (ignored by git), and pytest its
# rewritten test modules: every step starts many Python processes that import the same
# code, and with PYTHONDONTWRITEBYTECODE set (as in some shells) each compiles it again.
unset PYTHONDONTWRITEBYTECODE

# The linters and the type checker run beside the first pytest step (they only read the
# sources, and use about one core for 20 s); their output and verdict follow that step.
LINT_LOG=$(mktemp)
trap 'rm -f "$LINT_LOG"' EXIT
( { echo "== ruff"; $BIN/ruff check . && $BIN/ruff format --check . && echo "== mypy" && $BIN/mypy .; } >"$LINT_LOG" 2>&1 ) &
LINT_PID=$!
lint_verdict() {
  local status=0
  wait "$LINT_PID" || status=$?
  cat "$LINT_LOG"
  if [ "$status" -ne 0 ]; then
    echo "FAIL: ruff or mypy (above)" >&2
    exit "$status"
  fi
}

# Each pass: most tests in LUXX_TEST_WORKERS processes (they mostly wait on the servers
# they start), then the browser tests in LUXX_E2E_WORKERS processes (each with its own
# server and Chromium), then those that judge time or load, one at a time. The arguments
# of this script go to pytest (exit code 5: nothing of that part selected).
PYTEST_ARGS=("$@")
timed() {  # run a step; print its wall time
  local start=$SECONDS
  "$@" || [ $? -eq 5 ]
  echo "-- $((SECONDS - start)) s"
}
suite() {
  timed "$@" $BIN/pytest -n "${LUXX_TEST_WORKERS:-3}" --dist loadfile -m "not e2e and not serial" "${PYTEST_ARGS[@]}"
  [ -z "${LINT_PID:-}" ] || { lint_verdict; LINT_PID=""; }
  timed "$@" $BIN/pytest -n "${LUXX_E2E_WORKERS:-2}" --dist load -m "e2e and not serial" "${PYTEST_ARGS[@]}"
  timed "$@" $BIN/pytest -m "serial" "${PYTEST_ARGS[@]}"
}

echo "== pytest on SQLite + in-memory channel layer"
suite env -u DATABASE_URL -u REDIS_URL

pg_up() { $BIN/python - "$PG_URL" <<'PY'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1].rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
except Exception as error:
    print(error); sys.exit(1)
PY
}
redis_up() { $BIN/python - "$REDIS" <<'PY'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
except Exception as error:
    print(error); sys.exit(1)
PY
}

if ! pg_up >/dev/null 2>&1 && [ "${CI:-}" = "true" ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start 2>/dev/null || true
  sleep 2
fi
if ! redis_up >/dev/null 2>&1 && [ "${CI:-}" = "true" ]; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no 2>/dev/null || true
  sleep 1
fi

missing=""
pg_up >/dev/null 2>&1 || missing="PostgreSQL at 127.0.0.1:5432"
redis_up >/dev/null 2>&1 || missing="${missing:+$missing and }Redis at 127.0.0.1:6379"
if [ -n "$missing" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: $missing unreachable; CI needs both for the second pass." >&2
    exit 1
  fi
  echo "WARNING: $missing unreachable: skipping the PostgreSQL + Redis pass." >&2
  exit 0
fi

echo "== pytest on PostgreSQL + Redis channel layer"
suite env DATABASE_URL="$PG_URL" REDIS_URL="$REDIS"
echo "== all passed in $SECONDS s"
