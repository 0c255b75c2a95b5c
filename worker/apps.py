from django.apps import AppConfig


class WorkerConfig(AppConfig):
    """Background work on Django's Tasks framework: the worker processes, their liveness,
    retries, and the periodic tasks."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "worker"
