"""What the usage ledger adds to a chat turn, measured on the database alone: the
admission UPDATE in a turn's set-up transaction, and the rows and counter settling that
the reply writer's group commit adds per reply (50 finals a commit).

    .venv/bin/python bench/ledger.py                      # SQLite, a throw-away data directory
    .venv/bin/python bench/ledger.py --database postgres  # a throw-away PostgreSQL database

``bench/stream.py`` measures whole streams (run it on main and on a branch to compare).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEASURE = """
import time
from accounts.models import User
from agents.runtime import CallUsage
from django.db import connection
from luxx.db import write_transaction
from usage.services import LedgerEntry, ledger_write, reserve_for_turn

N, BATCH = 500, 50
user = User.objects.create(username="bench", email="bench@example.com", permission_level=3)
def admit():
    return reserve_for_turn(user=user, provider_id=None, model="m", prompt_estimate=100, max_tokens=1000, stream=True)
with write_transaction():
    admit()
    started = time.perf_counter()
    reservations = [admit() for _ in range(N)]
    admission = (time.perf_counter() - started) / N
with write_transaction():
    started = time.perf_counter()
    for start in range(0, N, BATCH):
        ledger_write([
            LedgerEntry(user_id=user.pk, provider_id=None, model="m", kind="chat", calls=[CallUsage(100, 200)], reservation=r)
            for r in reservations[start:start + BATCH]
        ])
    final = (time.perf_counter() - started) / N
print(f"{connection.vendor}: admission {admission * 1e6:.0f} us per turn (one UPDATE in the set-up transaction); "
      f"ledger {final * 1e6:.0f} us per turn in a group commit of {BATCH} finals (one INSERT and one executemany UPDATE per commit)")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    from bench.stream import drop_postgres_database, postgres_database

    data_dir = tempfile.mkdtemp(prefix="luxx-bench-ledger-")
    Path(data_dir).chmod(0o711)
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="luxx.settings", LUXX_DATA_DIR=data_dir, SECRET_KEY="bench-ledger-secret-key-0123456789")
    pg_name = ""
    if args.database == "postgres":
        env["DATABASE_URL"], pg_name = postgres_database(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", MEASURE], cwd=ROOT, env=env, check=True)
    finally:
        if pg_name:
            drop_postgres_database(env["DATABASE_URL"], pg_name)


if __name__ == "__main__":
    main()
