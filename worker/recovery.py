"""What happens to tasks whose worker died, and to old task results.

django-tasks-db marks a task RUNNING when a worker claims it and leaves it so if the
worker is killed (its issue "Unclean exits of the worker leave tasks in limbo" is open).
Luxx's workers beat (``WorkerProcess.seen_at``); a RUNNING task whose worker is silent
for LUXX_WORKER_STALE_SECONDS, or gone, is handed back to the queue as it is (same id,
so whoever follows it still finds it), ready at once, and the next worker to claim it
resumes the work. A task that has used up its attempts this way is recorded as failed
instead, with the reason, and its give-up handler runs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from worker.durable import ATTEMPT, give_up, policy_of
from worker.models import WorkerProcess

logger = logging.getLogger(__name__)

# A worker thread's id is "<process id>/<thread number>" (see worker.pool).
THREAD_SEPARATOR = "/"
WORKER_LOST = "worker.recovery.WorkerLost"


class WorkerLost(Exception):
    """The worker running a task stopped beating before the task finished."""


def process_of(worker_id: str) -> str:
    return worker_id.rsplit(THREAD_SEPARATOR, 1)[0]


def live_processes(now: datetime | None = None) -> set[str]:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.LUXX_WORKER_STALE_SECONDS)
    return set(WorkerProcess.objects.filter(seen_at__gte=cutoff).values_list("pk", flat=True))


def requeue_lost(now: datetime | None = None) -> int:
    """Hand back to the queue every running task whose worker is dead; answer how many."""
    now = now or timezone.now()
    alive = live_processes(now)
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).values_list("pk", "worker_ids")
    lost = [pk for pk, worker_ids in running if not worker_ids or process_of(worker_ids[-1]) not in alive]
    for pk in lost:
        _recover(pk, alive=alive, now=now)
    return len(lost)


def _recover(pk: UUID | str, *, alive: set[str], now: datetime) -> None:
    with transaction.atomic():
        row = DBTaskResult.objects.select_for_update().filter(pk=pk, status=TaskResultStatus.RUNNING).first()
        if row is None or (row.worker_ids and process_of(row.worker_ids[-1]) in alive):
            return  # finished, or claimed again, in the meantime
        worker = row.worker_ids[-1] if row.worker_ids else "?"
        kwargs = dict(row.args_kwargs.get("kwargs", {}))
        attempts = int(kwargs.get(ATTEMPT, 1)) + max(0, len(row.worker_ids) - 1)
        luxx_task: Any
        try:
            luxx_task = row.task
        except Exception:  # the task's code is gone: nothing can resume it
            luxx_task = None
        if luxx_task is not None and attempts < policy_of(luxx_task).max_attempts:
            DBTaskResult.objects.filter(pk=pk).update(status=TaskResultStatus.READY, run_after=now)
            logger.warning("Task %s (%s) lost its worker %s; handed back to the queue", pk, row.task_path, worker)
            return
        reason = f"The worker running it ({worker}) stopped."
        DBTaskResult.objects.filter(pk=pk).update(
            status=TaskResultStatus.FAILED, finished_at=now, exception_class_path=WORKER_LOST, traceback=f"{WORKER_LOST}: {reason}\n"
        )
    if luxx_task is not None:
        give_up(luxx_task, row.args_kwargs.get("args", []), kwargs, attempts=attempts, reason=reason, cause=WorkerLost.__name__)


def prune(now: datetime | None = None) -> None:
    """Drop successful results after a day, failed ones after LUXX_TASK_RESULTS_KEEP_DAYS,
    and workers not seen for a day."""
    now = now or timezone.now()
    DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL, finished_at__lt=now - timedelta(days=1)).delete()
    keep = timedelta(days=settings.LUXX_TASK_RESULTS_KEEP_DAYS)
    DBTaskResult.objects.filter(status=TaskResultStatus.FAILED, finished_at__lt=now - keep).delete()
    WorkerProcess.objects.filter(seen_at__lt=now - timedelta(days=1)).delete()
