from __future__ import annotations

from django.db import models


class WorkerProcess(models.Model):
    """A running ``manage.py db_worker`` process, as its heartbeats tell.

    A worker refreshes ``seen_at`` every LUXX_WORKER_BEAT_SECONDS; one silent for
    LUXX_WORKER_STALE_SECONDS (or gone from this table) is dead, and the tasks it was
    running are handed to another worker (see ``worker.recovery``)."""

    id = models.CharField(primary_key=True, max_length=48)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    concurrency = models.PositiveSmallIntegerField(default=1)
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class Schedule(models.Model):
    """When a periodic job is next due. Every worker looks; the one whose conditional
    update moves ``next_run_at`` on is the one that runs it, so a job runs once per period
    however many workers there are."""

    name = models.CharField(primary_key=True, max_length=200)
    next_run_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
