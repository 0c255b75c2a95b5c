"""The queue: retries with back-off then a recorded failure, tasks of dead workers handed
back, periodic tasks once per period, the admin's list."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from tests.support import tasks as test_tasks
from tests.support.factories import make_admin
from tests.support.tasks import FAST, PoolInThread, run_queued_tasks
from worker import recovery
from worker.durable import ATTEMPT, backoff_seconds
from worker.models import Schedule, WorkerProcess
from worker.pool import due

pytestmark = pytest.mark.django_db(transaction=True)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(condition: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@override_settings(LUXX_TASK_RETRY_SECONDS=7)
def test_the_back_off_doubles_from_the_configured_wait() -> None:
    assert [backoff_seconds(attempt) for attempt in (1, 2, 3)] == [7.0, 14.0, 28.0]


def test_a_task_that_always_fails_is_retried_then_recorded_as_failed_and_the_queue_goes_on(tmp_path: Path) -> None:
    # Given a task that always fails, and an ordinary task queued behind it
    log = tmp_path / "log"
    test_tasks.always_fails.enqueue(str(log))
    test_tasks.records.enqueue(str(log), "served")

    # When a worker runs the queue
    with override_settings(**FAST), PoolInThread(concurrency=1):
        wait_for(lambda: any(line.startswith("gave up") for line in lines(log)))
        wait_for(lambda: DBTaskResult.objects.filter(task_path__endswith="always_fails", status="FAILED").count() == 3)

    # Then it ran three times, each attempt recorded as failed with its traceback, later
    # ones deferred by the back-off; the give-up handler had the reason; the other task ran
    assert lines(log).count("attempt") == 3
    assert "served" in lines(log)
    assert lines(log)[-1] == "gave up after 3: RuntimeError: the disk is full"
    attempts = list(DBTaskResult.objects.filter(task_path="tests.support.tasks.always_fails").order_by("enqueued_at"))
    assert [a.args_kwargs["kwargs"].get(ATTEMPT) for a in attempts] == [None, 2, 3]
    assert all(a.status == TaskResultStatus.FAILED and "RuntimeError: the disk is full" in a.traceback for a in attempts)
    assert attempts[1].run_after >= attempts[0].started_at + timedelta(seconds=0.1)
    assert attempts[2].run_after >= attempts[1].started_at + timedelta(seconds=0.2)
    assert DBTaskResult.objects.get(task_path="tests.support.tasks.records").status == TaskResultStatus.SUCCESSFUL


def _running(task: Any, *, worker: str, **kwargs: Any) -> DBTaskResult:
    result = task.enqueue(**kwargs)
    DBTaskResult.objects.filter(pk=result.id).update(status=TaskResultStatus.RUNNING, worker_ids=[worker], started_at=timezone.now())
    return DBTaskResult.objects.get(pk=result.id)


def test_a_task_whose_worker_stopped_beating_is_handed_back_under_the_same_id(tmp_path: Path) -> None:
    # Given tasks running on a worker silent for too long, on a live one, and on one gone
    now = timezone.now()
    WorkerProcess.objects.create(pk="dead", hostname="h", pid=1, seen_at=now - timedelta(seconds=60))
    WorkerProcess.objects.create(pk="alive", hostname="h", pid=2, seen_at=now)
    on_dead = _running(test_tasks.records, worker="dead/0", path=str(tmp_path / "a"), word="a")
    on_alive = _running(test_tasks.records, worker="alive/3", path=str(tmp_path / "b"), word="b")
    on_gone = _running(test_tasks.records, worker="gone/1", path=str(tmp_path / "c"), word="c")

    # When the recovery runs
    handed_back = recovery.requeue_lost()

    # Then the two whose worker is dead are ready again, and run to the end when claimed
    assert handed_back == 2
    statuses = dict(DBTaskResult.objects.values_list("pk", "status"))
    assert [statuses[r.pk] for r in (on_dead, on_alive, on_gone)] == ["READY", "RUNNING", "READY"]
    assert run_queued_tasks() == 2
    assert (lines(tmp_path / "a"), lines(tmp_path / "c")) == (["a"], ["c"])
    assert DBTaskResult.objects.get(pk=on_dead.pk).worker_ids == ["dead/0", "tests/0"]


def test_a_task_that_lost_its_worker_on_its_last_attempt_is_recorded_as_failed(tmp_path: Path) -> None:
    # Given a task with two attempts whose result was claimed twice, both workers now dead
    log = tmp_path / "log"
    result = test_tasks.sleeps.enqueue(str(log), 0)
    DBTaskResult.objects.filter(pk=result.id).update(status=TaskResultStatus.RUNNING, worker_ids=["w1/0", "w2/0"])

    # When the recovery runs
    recovery.requeue_lost()

    # Then it is failed with the reason, and the give-up handler was told
    row = DBTaskResult.objects.get(pk=result.id)
    assert (row.status, row.exception_class_path) == ("FAILED", "worker.recovery.WorkerLost")
    assert row.traceback == "worker.recovery.WorkerLost: The worker running it (w2/0) stopped.\n"
    assert lines(log) == ["gave up after 2: The worker running it (w2/0) stopped."]


def test_a_periodic_duty_is_due_once_per_period_whoever_asks() -> None:
    first = [due("tests:tick", 60) for _ in range(3)]
    Schedule.objects.filter(pk="tests:tick").update(next_run_at=timezone.now() - timedelta(seconds=1))
    second = [due("tests:tick", 60) for _ in range(3)]

    assert (first, second) == ([True, False, False], [True, False, False])


def test_the_worker_pool_beats_enqueues_periodic_tasks_and_leaves_when_stopped() -> None:
    # Given a periodic task due every 0.2 s
    path = "tests.support.tasks.tick"

    # When a pool runs until it has beaten twice and enqueued the task twice, then stops
    with override_settings(**FAST, LUXX_PERIODIC_TASKS={path: 0.2}), PoolInThread(concurrency=2) as worker:
        wait_for(lambda: WorkerProcess.objects.filter(pk=worker.pool.process_id).exists())
        beats = WorkerProcess.objects.get(pk=worker.pool.process_id)
        wait_for(lambda: WorkerProcess.objects.get(pk=worker.pool.process_id).seen_at > beats.seen_at)
        wait_for(lambda: DBTaskResult.objects.filter(task_path=path).count() >= 2)

    # Then it was listed with its threads while it ran, and is gone after
    assert beats.concurrency == 2
    assert not WorkerProcess.objects.filter(pk=worker.pool.process_id).exists()
    # Once per period, not once per worker thread or beat: 0.2 s apart at least
    enqueued = sorted(DBTaskResult.objects.filter(task_path=path).values_list("enqueued_at", flat=True))
    assert all((later - earlier).total_seconds() >= 0.19 for earlier, later in itertools.pairwise(enqueued))


def test_django_admin_lists_task_results_and_workers() -> None:
    from django.test import Client

    test_tasks.records.enqueue("/dev/null", "x")
    WorkerProcess.objects.create(pk="host-1-abc", hostname="host", pid=1, seen_at=timezone.now())
    client = Client()
    client.force_login(make_admin())

    tasks_page = client.get("/admin/django_tasks_database/dbtaskresult/")
    workers_page = client.get("/admin/worker/workerprocess/")

    assert tasks_page.status_code == 200 and b"records" in tasks_page.content
    assert workers_page.status_code == 200 and b"host-1-abc" in workers_page.content
