"""Background work on real worker processes (``manage.py db_worker``), default settings.

- indexing: DOCS Markdown documents of SECTIONS sections each are uploaded (queued) at
  once, then 1 (or 2) worker processes index them; prints documents/s and chunks/s from
  the workers' start to the last document ready;
- recovery: a worker indexing a large document is killed with SIGKILL while a second one
  idles; prints the time from the kill to the task claimed again by the second worker
  (LUXX_WORKER_STALE_SECONDS, 15, plus up to LUXX_WORKER_RECOVER_SECONDS, 5) and to the
  document ready.

SQLite in a fresh data directory unless --database-url names an empty PostgreSQL
database (migrated by this script).

    .venv/bin/python bench/workers.py [--workers 1 2] [--docs 40] [--database-url postgres://...]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def start_worker(env: dict[str, str], concurrency: int = 1) -> subprocess.Popen[bytes]:
    command = [PYTHON, "manage.py", "db_worker", "--concurrency", str(concurrency), "--no-startup-delay", "-v", "0"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait(condition: object, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--sections", type=int, default=300)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="luxx-bench-workers-")
    env = {**os.environ, "LUXX_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "luxx.settings"}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({k: v for k, v in env.items() if k in ("LUXX_DATA_DIR", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django_tasks_db.models import DBTaskResult

    from knowledge.models import Chunk, Document
    from knowledge.services import document_upload
    from tests.support.factories import make_user

    where = "PostgreSQL" if args.database_url else "SQLite"
    for count in args.workers:
        user = make_user()
        for number in range(args.docs):
            body = "\n\n".join(
                f"## Part {number}.{i}\n\nParagraph {i} of document {number} about harbours, ferries, tides and the weather at sea."
                for i in range(args.sections)
            )
            document_upload(user=user, agent=None, name=f"doc-{count}-{number}.md", data=body.encode())
        workers = [start_worker(env) for _ in range(count)]
        started = time.perf_counter()
        pending = Document.objects.filter(user=user, status="processing")
        wait(lambda: not pending.exists())  # noqa: B023 - evaluated within this iteration
        seconds = time.perf_counter() - started
        chunks = Chunk.objects.filter(document__user=user).count()
        print(
            f"indexing, {where}, {count} worker process(es) x 1 thread: {args.docs} documents, {chunks} chunks in {seconds:.1f} s: "
            f"{args.docs / seconds:.2f} documents/s, {chunks / seconds:.0f} chunks/s (including worker start-up)"
        )
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)

    # Recovery: kill the worker indexing a large document; a second one, idle, takes it over.
    user = make_user()
    body = "\n\n".join(f"## Part {i}\n\nParagraph number {i} about the harbour, the ferries and the tides." for i in range(40000))
    first = start_worker(env)
    document = document_upload(user=user, agent=None, name="large.md", data=body.encode())
    task = DBTaskResult.objects.get(task_path="knowledge.tasks.index_document", args_kwargs__args__0=document.pk)
    wait(lambda: DBTaskResult.objects.get(pk=task.pk).status == "RUNNING")
    second = start_worker(env)
    time.sleep(3)  # the second one is up and idle
    os.kill(first.pid, signal.SIGKILL)
    killed = time.perf_counter()
    wait(lambda: len(DBTaskResult.objects.get(pk=task.pk).worker_ids) == 2)
    resumed = time.perf_counter() - killed
    wait(lambda: Document.objects.get(pk=document.pk).status != "processing")
    ready = time.perf_counter() - killed
    print(
        f"recovery, {where}: SIGKILL of the worker indexing a 40,000-chunk document -> task claimed by the other worker "
        f"after {resumed:.1f} s, document {Document.objects.get(pk=document.pk).status} after {ready:.1f} s "
        f"(LUXX_WORKER_STALE_SECONDS=15, LUXX_WORKER_RECOVER_SECONDS=5)"
    )
    second.terminate()
    second.wait(timeout=60)


if __name__ == "__main__":
    main()
