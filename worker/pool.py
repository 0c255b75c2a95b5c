"""One worker process: several threads each running django-tasks-db's worker loop, and
the process's own duties in the thread that runs the pool.

The threads claim tasks with the library's code (a row lock with SKIP LOCKED on
PostgreSQL, an exclusive transaction on SQLite), so any number of threads in any number
of processes on any number of machines share one queue. Several threads per process
because most of Luxx's tasks wait on a model provider: one process keeps
LUXX_WORKER_CONCURRENCY room turns streaming at once. CPU-bound work (indexing) gains
from more processes, not threads.

The pool's own thread, every LUXX_WORKER_BEAT_SECONDS:

- beats (``WorkerProcess.seen_at``), so that other workers can tell it is alive;
- hands back the tasks of dead workers (``worker.recovery``), and prunes old results;
- enqueues the periodic tasks of LUXX_PERIODIC_TASKS that are due.

Each periodic duty runs in one worker per period, whichever moves its ``Schedule`` first.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.module_loading import import_string
from django_tasks_db.management.commands.db_worker import Worker

from worker import recovery
from worker.models import Schedule, WorkerProcess

logger = logging.getLogger(__name__)

RECOVER = "worker:recover"
PRUNE = "worker:prune"
PRUNE_SECONDS = 3600.0


_current_process = ""


def current_process_id() -> str:
    """The id this process's worker pool beats under (a placeholder outside a worker): what
    a task records as its holder of something, so others can tell whether it is alive."""
    return _current_process or f"{socket.gethostname()[:24]}-{os.getpid()}-unregistered"


def new_process_id() -> str:
    """Unique across machines and restarts: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:24]}-{os.getpid()}-{get_random_string(6)}"


def due(name: str, every: float) -> bool:
    """Whether this process runs ``name`` now: true for exactly one caller per period."""
    now = timezone.now()
    following = now + timedelta(seconds=every)
    with transaction.atomic():
        if Schedule.objects.filter(name=name, next_run_at__lte=now).update(next_run_at=following):
            return True
    try:
        with transaction.atomic():
            _, created = Schedule.objects.get_or_create(name=name, defaults={"next_run_at": following})
    except IntegrityError:  # another worker created it at the same moment
        return False
    return created


class _Thread(Worker):
    """The library's worker loop, closing its thread's connection when it ends."""

    def run(self) -> None:
        try:
            super().run()
        finally:
            connection.close()


class WorkerPool:
    def __init__(
        self,
        *,
        concurrency: int,
        queue_names: list[str],
        interval: float,
        batch: bool = False,
        backend_name: str = "default",
        startup_delay: bool = True,
        max_tasks: int | None = None,
        excluded_queue_names: list[str] | None = None,
        process_id: str | None = None,
    ) -> None:
        self.process_id = process_id or new_process_id()
        self.concurrency = concurrency
        self.workers = [
            _Thread(
                queue_names=queue_names,
                interval=interval,
                batch=batch,
                backend_name=backend_name,
                startup_delay=startup_delay,
                max_tasks=max_tasks,
                worker_id=f"{self.process_id}{recovery.THREAD_SEPARATOR}{number}",
                excluded_queue_names=excluded_queue_names or [],
            )
            for number in range(concurrency)
        ]
        self._stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Take no new task; each thread ends after the one it runs."""
        self._stopping.set()
        for worker in self.workers:
            worker.running = False

    def run(self) -> None:
        """Run until every thread has ended (``stop``, ``--batch`` or ``--max-tasks``)."""
        global _current_process
        _current_process = self.process_id
        self._beat(register=True)
        self.threads = [
            threading.Thread(target=worker.run, name=f"luxx-worker-{number}", daemon=True) for number, worker in enumerate(self.workers)
        ]
        for thread in self.threads:
            thread.start()
        logger.info("Worker %s: %s thread(s)", self.process_id, self.concurrency)
        try:
            beat = float(settings.LUXX_WORKER_BEAT_SECONDS)
            next_beat = 0.0
            while any(thread.is_alive() for thread in self.threads):
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + beat
                    self._duties()
                for thread in self.threads:
                    thread.join(timeout=min(0.2, beat))
        finally:
            self._leave()

    def _duties(self) -> None:
        close_old_connections()
        try:
            self._beat()
            if not self.stopping:
                self._periodic()
        except DatabaseError as error:  # a busy or unreachable database: try again next beat
            logger.warning("Worker %s: %s", self.process_id, error)

    def _beat(self, *, register: bool = False) -> None:
        now = timezone.now()
        if register or not WorkerProcess.objects.filter(pk=self.process_id).update(seen_at=now):
            WorkerProcess.objects.update_or_create(
                pk=self.process_id,
                defaults={"hostname": socket.gethostname()[:255], "pid": os.getpid(), "concurrency": self.concurrency, "seen_at": now},
            )

    def _periodic(self) -> None:
        if due(RECOVER, settings.LUXX_WORKER_RECOVER_SECONDS):
            recovery.requeue_lost()
        if due(PRUNE, PRUNE_SECONDS):
            recovery.prune()
        for path, every in settings.LUXX_PERIODIC_TASKS.items():
            if due(path, every):
                import_string(path).enqueue()

    def _leave(self) -> None:
        """Gone from the table: a task left running (a forced stop) is handed back at once."""
        try:
            WorkerProcess.objects.filter(pk=self.process_id).delete()
        except DatabaseError:
            logger.warning("Worker %s could not deregister", self.process_id)
        finally:
            connection.close()
