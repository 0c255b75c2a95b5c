"""Tasks that are retried with back-off, then recorded as failed with their reason.

``@durable_task`` is Django's ``@task`` (the ``django-tasks`` backport of
``django.tasks``) around a function, plus a retry policy that travels with the task
through the Tasks API alone, so any backend can run it:

- when the function raises, the task is enqueued again (``run_after`` now + back-off,
  doubling from LUXX_TASK_RETRY_SECONDS) and this attempt is recorded as failed, with its
  traceback, in the backend's results (Django admin lists them);
- after ``attempts`` attempts it is not enqueued again: ``on_give_up`` records the
  failure where the user sees it (a document's ``error``, a room's ``agent_error``).

The attempt number is the ``_attempt`` keyword the retry carries, plus the times this
very result was claimed again after its worker died (``worker.recovery`` hands such a
task back to the queue), so a task that keeps killing its worker also stops.

A task must be safe to run twice: a worker can die after doing the work and before
recording it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from django_tasks import DEFAULT_TASK_QUEUE_NAME, TaskContext, task
from django_tasks.base import Task

logger = logging.getLogger(__name__)

ATTEMPT = "_attempt"
MAX_BACKOFF_SECONDS = 15 * 60


@dataclass(frozen=True)
class GiveUp:
    """Why a task was given up: after how many attempts, and the last failure in words."""

    attempts: int
    reason: str
    cause: str  # the exception's class name, or WorkerLost: short enough to show a user


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int | None  # None: LUXX_TASK_MAX_ATTEMPTS, read when needed
    on_give_up: Callable[..., None] | None

    @property
    def max_attempts(self) -> int:
        return self.attempts or settings.LUXX_TASK_MAX_ATTEMPTS


def backoff_seconds(attempt: int) -> float:
    """The wait before attempt ``attempt + 1``: LUXX_TASK_RETRY_SECONDS, doubling."""
    return float(min(MAX_BACKOFF_SECONDS, settings.LUXX_TASK_RETRY_SECONDS * 2 ** (attempt - 1)))


def policy_of(luxx_task: Task) -> RetryPolicy:
    """A task's retry policy; plain ``@task`` tasks get the default number of attempts."""
    policy = getattr(luxx_task.func, "luxx_policy", None)
    return policy if isinstance(policy, RetryPolicy) else RetryPolicy(None, None)


def _attempt(context: TaskContext, kwargs: dict[str, Any]) -> int:
    # context.attempt counts the claims of this result: more than one after a lost worker.
    return int(kwargs.pop(ATTEMPT, 1)) + max(0, context.attempt - 1)


def give_up(luxx_task: Task, args: list[Any] | tuple[Any, ...], kwargs: dict[str, Any], *, attempts: int, reason: str, cause: str) -> None:
    """Record for the user that the task will not be tried again."""
    logger.error("Task %s gave up after %s attempt(s): %s", luxx_task.module_path, attempts, reason)
    callback = policy_of(luxx_task).on_give_up
    if callback is None:
        return
    clean = {key: value for key, value in kwargs.items() if key != ATTEMPT}
    try:
        callback(GiveUp(attempts=attempts, reason=reason, cause=cause), *args, **clean)
    except Exception:  # the failure is still in the task results; do not hide the first one
        logger.exception("The give-up handler of %s failed", luxx_task.module_path)


def _after_failure(luxx_task: Task, attempt: int, args: tuple[Any, ...], kwargs: dict[str, Any], error: BaseException) -> None:
    policy = policy_of(luxx_task)
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if attempt >= policy.max_attempts:
        give_up(luxx_task, args, kwargs, attempts=attempt, reason=reason, cause=type(error).__name__)
        return
    delay = backoff_seconds(attempt)
    retry = luxx_task
    if luxx_task.get_backend().supports_defer:
        retry = luxx_task.using(run_after=timezone.now() + timedelta(seconds=delay))
    retry.enqueue(*args, **{**kwargs, ATTEMPT: attempt + 1})
    logger.warning("Task %s attempt %s failed (%s); retrying in %.1f s", luxx_task.module_path, attempt, reason, delay)


def durable_task(
    *,
    attempts: int | None = None,
    on_give_up: Callable[..., None] | None = None,
    priority: int = 0,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
) -> Callable[[Callable[..., Any]], Task]:
    """Make a module-level function (sync or async) a task that is retried with back-off.

    ``on_give_up(give_up: GiveUp, *args, **kwargs)`` is called with the task's own
    arguments once no attempt is left. ``attempts`` defaults to LUXX_TASK_MAX_ATTEMPTS.
    """

    def decorate(function: Callable[..., Any]) -> Task:
        built: list[Task] = []
        if inspect.iscoroutinefunction(function):

            async def run(context: TaskContext, *args: Any, **kwargs: Any) -> Any:
                attempt = _attempt(context, kwargs)
                try:
                    return await function(*args, **kwargs)
                except Exception as error:
                    await sync_to_async(_after_failure, thread_sensitive=False)(built[0], attempt, args, kwargs, error)
                    raise

        else:

            def run(context: TaskContext, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                attempt = _attempt(context, kwargs)
                try:
                    return function(*args, **kwargs)
                except Exception as error:
                    _after_failure(built[0], attempt, args, kwargs, error)
                    raise

        # The task is found again by its module path, so it must be the function's own.
        run.__module__ = function.__module__
        run.__name__ = function.__name__
        run.__qualname__ = function.__qualname__
        run.__doc__ = function.__doc__
        run.luxx_policy = RetryPolicy(attempts, on_give_up)  # type: ignore[attr-defined]
        built.append(task(run, priority=priority, queue_name=queue_name, takes_context=True))
        return built[0]

    return decorate
