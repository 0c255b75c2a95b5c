"""Running queued tasks in tests with the real worker code, and tasks made for tests.

``run_queued_tasks()`` runs django-tasks-db's worker loop in the calling thread until no
task is ready, so it sees the test's own transaction. ``task_worker`` runs Luxx's worker
pool (threads, beats, periodic duties) beside a live server, as ``manage.py db_worker``
does in its own process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from worker.durable import GiveUp, durable_task
from worker.pool import WorkerPool


def run_queued_tasks(*, max_tasks: int = 1000) -> int:
    """Run every ready task (and those they enqueue) in this thread; answer how many ran."""
    before = DBTaskResult.objects.exclude(status=TaskResultStatus.READY).count()
    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id="tests/0",
        excluded_queue_names=[],
    )
    worker.run()
    return DBTaskResult.objects.exclude(status=TaskResultStatus.READY).count() - before


def wait_until_idle(timeout: float = 20) -> None:
    """Until no task is ready or running (tasks deferred to later do not count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not DBTaskResult.objects.filter(status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]).exists():
            return
        time.sleep(0.05)
    raise AssertionError("tasks still queued or running")


class PoolInThread:
    def __init__(self, concurrency: int = 4) -> None:
        self.pool = WorkerPool(concurrency=concurrency, queue_names=["*"], interval=0.05, startup_delay=False)
        self.thread = threading.Thread(target=self.pool.run, name="test-worker-pool", daemon=True)

    def __enter__(self) -> PoolInThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.stop()
        self.thread.join(timeout=30)


FAST = {"LUXX_WORKER_BEAT_SECONDS": 0.2, "LUXX_WORKER_RECOVER_SECONDS": 0.2, "LUXX_TASK_RETRY_SECONDS": 0.1}


@pytest.fixture
def task_worker(transactional_db: None) -> Iterator[PoolInThread]:
    """A worker pool in this process beside the live server, stopped (after its running
    tasks) before the database is flushed."""
    with override_settings(**FAST), PoolInThread() as pool:
        yield pool


# Tasks for the tests of the queue itself. They record what happened in files, which
# worker processes and the test process all see.


def _append(path: str, line: str) -> None:
    with Path(path).open("a") as file:
        file.write(line + "\n")


def _record_give_up(give_up: GiveUp, path: str, *args: Any, **kwargs: Any) -> None:
    _append(path, f"gave up after {give_up.attempts}: {give_up.reason}")


@durable_task(attempts=3, on_give_up=_record_give_up)
def always_fails(path: str) -> None:
    _append(path, "attempt")
    raise RuntimeError("the disk is full")


@durable_task()
def records(path: str, word: str) -> str:
    _append(path, word)
    return word


@durable_task(attempts=2, on_give_up=_record_give_up)
def sleeps(path: str, seconds: float) -> None:
    _append(path, "started")
    time.sleep(seconds)
    _append(path, "finished")


@durable_task()
def tick() -> None:
    """A periodic task for the tests of the schedule."""
