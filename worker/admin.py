from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from worker.models import WorkerProcess


@admin.register(WorkerProcess)
class WorkerProcessAdmin(admin.ModelAdmin):
    """The workers (``manage.py db_worker``) and whether they still beat; their tasks are
    under *Task Results*."""

    list_display = ("id", "hostname", "pid", "concurrency", "started_at", "seen_at", "alive")
    readonly_fields = list_display

    @admin.display(boolean=True)
    def alive(self, obj: WorkerProcess) -> bool:
        return timezone.now() - obj.seen_at < timedelta(seconds=settings.LUXX_WORKER_STALE_SECONDS)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
