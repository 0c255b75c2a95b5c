"""Background tasks of attachments: the prune of files uploaded and never sent."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from files import services
from worker.durable import durable_task


@durable_task(attempts=1)  # periodic: the next period is the retry
def prune_unsent_files() -> int:
    """Delete files that joined no conversation within LUXX_UNSENT_FILE_HOURS of their
    upload (a tab closed before sending); answer how many."""
    return services.files_prune_unsent(older_than=timedelta(hours=settings.LUXX_UNSENT_FILE_HOURS))
