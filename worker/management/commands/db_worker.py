"""``manage.py db_worker``: django-tasks-db's worker, as a pool of threads that beats.

Every option of the library's command works as documented there (``--queue-name``,
``--interval``, ``--batch``, ``--max-tasks`` per thread, ...), plus ``--concurrency``:
how many tasks this process runs at once (LUXX_WORKER_CONCURRENCY). ``worker`` comes
before ``django_tasks_db`` in INSTALLED_APPS, so this command is the one Django runs.

SIGINT or SIGTERM: take no new task, finish the running ones, then exit; a second signal
exits at once (the tasks it leaves are handed to another worker straight away).
"""

from __future__ import annotations

import signal
import sys
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.autoreload import run_with_reloader
from django_tasks_db.management.commands import db_worker

from worker.pool import WorkerPool


class Command(db_worker.Command):
    help = "Run a pool of database background workers (django-tasks-db), with liveness and periodic tasks"
    # The checks import every app and probe the sandbox: seconds a worker restart need not wait.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.LUXX_WORKER_CONCURRENCY,
            help="Tasks this process runs at once, one thread each (default: LUXX_WORKER_CONCURRENCY, %(default)s)",
        )
        # A random process id per start (host-pid-random) unless one is given.
        parser.set_defaults(interval=settings.LUXX_WORKER_POLL_SECONDS, reload=False, worker_id=None)

    def handle(  # type: ignore[override]
        self,
        *,
        verbosity: int,
        queue_name: str,
        interval: float,
        batch: bool,
        backend_name: str,
        startup_delay: bool,
        reload: bool,
        max_tasks: int | None,
        worker_id: str | None,
        exclude_queues: str,
        concurrency: int,
        **options: Any,
    ) -> None:
        self.configure_logging(verbosity)
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        queue_names = queue_name.split(",")
        excluded = exclude_queues.split(",") if exclude_queues else []
        if excluded and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")
        pool = WorkerPool(
            concurrency=concurrency,
            queue_names=queue_names,
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            excluded_queue_names=excluded,
            process_id=worker_id[:40] if worker_id else None,
        )
        if reload and not batch:
            run_with_reloader(pool.run)
            return

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if pool.stopping:
                self.stderr.write(f"{signal.strsignal(signum)} again: exiting now.")
                sys.exit(1)
            self.stderr.write(f"{signal.strsignal(signum)}: finishing the running tasks (again to exit now).")
            pool.stop()

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(signum, on_signal)
        pool.run()
