"""Project-level views: health, service info, and the catch-all 404 of each API prefix."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from luxx.api import NotFound, json_error_response

API_PREFIX = "/api/"

logger = logging.getLogger("luxx.api")


def database_probe() -> None:
    """One round trip to the database; raises ``DatabaseError`` when it is unreachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def database_is_reachable() -> bool:
    try:
        database_probe()
    except DatabaseError:
        return False
    return True


def raw(data: dict, status_code: int = 200) -> Response:
    """A response documented without the envelope (health and info, as the seeds say)."""
    response = Response(data, status=status_code)
    response.luxx_raw = True  # type: ignore[attr-defined]
    return response


class PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    luxx_raw_schema = True


class HealthView(PublicView):
    @extend_schema(
        tags=["health"],
        summary="Health check",
        responses={
            200: inline_serializer("Health", {"status": serializers.CharField(), "message": serializers.CharField()}),
            503: inline_serializer("HealthDown", {"status": serializers.CharField(), "message": serializers.CharField()}),
        },
    )
    def get(self, request: Request) -> Response:
        if not database_is_reachable():
            return raw({"status": "error", "message": "Database is unreachable"}, 503)
        return raw({"status": "ok", "message": "Luxx API is running"})


def _readiness_checks() -> tuple[dict[str, str], int | None]:
    """Each dependency as "ok", "not configured" or what failed; and the live workers."""
    checks = {"database": "ok" if database_is_reachable() else "unreachable"}
    if settings.REDIS_URL:
        import redis

        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
            client.ping()
            client.close()
            checks["redis"] = "ok"
        except redis.RedisError:
            checks["redis"] = "unreachable"
    else:
        checks["redis"] = "not configured"
    workers: int | None = None
    if settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db") and checks["database"] == "ok":
        from datetime import timedelta

        from django.utils import timezone
        from django_tasks_db.models import DBTaskResult

        from worker.models import WorkerProcess

        try:
            DBTaskResult.objects.exists()
            cutoff = timezone.now() - timedelta(seconds=settings.LUXX_WORKER_STALE_SECONDS)
            workers = WorkerProcess.objects.filter(seen_at__gte=cutoff).count()
            checks["task_queue"] = "ok"
        except DatabaseError:
            checks["task_queue"] = "unreachable"
    else:
        checks["task_queue"] = "not configured" if checks["database"] == "ok" else "unreachable"
    return checks, workers


class ReadinessView(PublicView):
    @extend_schema(
        tags=["health"],
        summary="Readiness: the database, Redis when configured, and the task queue",
        description=(
            "200 when every configured dependency answers, else 503 naming the one that did not. `workers` is the "
            "number of background workers seen alive (reported, not required: a web process serves without them). "
            "`/api/health` stays the cheap liveness probe."
        ),
        responses={
            code: inline_serializer(
                f"Readiness{code}",
                {
                    "status": serializers.CharField(help_text="ready or not ready"),
                    "checks": serializers.DictField(child=serializers.CharField()),
                    "workers": serializers.IntegerField(allow_null=True),
                },
            )
            for code in (200, 503)
        },
    )
    def get(self, request: Request) -> Response:
        checks, workers = _readiness_checks()
        ready = all(value in ("ok", "not configured") for value in checks.values())
        return raw({"status": "ready" if ready else "not ready", "checks": checks, "workers": workers}, 200 if ready else 503)


class InfoView(PublicView):
    @extend_schema(
        tags=["health"],
        summary="Service information",
        responses=inline_serializer(
            "ServiceInfo",
            {"name": serializers.CharField(), "version": serializers.CharField(), "description": serializers.CharField()},
        ),
    )
    def get(self, request: Request) -> Response:
        return raw({"name": "Luxx", "version": settings.LUXX_VERSION, "description": "AI Chat API"})


class V1HealthView(PublicView):
    @extend_schema(
        tags=["v1 health"],
        summary="Health check (v1)",
        responses={
            200: inline_serializer(
                "V1Health",
                {"status": serializers.CharField(), "version": serializers.CharField(), "timestamp": serializers.DateTimeField()},
            ),
            503: OpenApiTypes.OBJECT,
        },
    )
    def get(self, request: Request) -> Response:
        reachable = database_is_reachable()
        body = {
            "status": "ok" if reachable else "error",
            "version": settings.LUXX_VERSION,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return raw(body, 200 if reachable else 503)


class UnknownEndpointView(PublicView):
    """Answers every method on an unknown URL under an API prefix with the dialect's 404."""

    schema = None

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        raise NotFound(f"No API endpoint at {request.path}.")


# --- Django's own error handlers ----------------------------------------------------
#
# Errors raised outside DRF (a plain or async view under /api/, a request Django itself
# refuses) would otherwise answer with an HTML page; under /api/ they wear the dialect's
# envelope too. Elsewhere (the browser UI, Django admin) Django's pages stay.


# Django's default views render the project's 400.html, 403.html, 404.html and 500.html
# (templates/), in the app's look and the request's language.


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return json_error_response(request, 400, "Bad request.")
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return json_error_response(request, 403, "You do not have permission to do this.")
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return json_error_response(request, 404, f"No API endpoint at {request.path}.")
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return json_error_response(request, 500, "An unexpected error occurred on the server.")
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form posted with a stale or missing token (a page left open
    across a sign-out, blocked cookies). Pages get a page that says to reload; the API its
    envelope. The reason stays in the log, not in front of the user."""
    logger.warning("CSRF check failed for %s %s: %s", request.method, request.path, reason)
    if request.path.startswith(API_PREFIX):
        return json_error_response(request, 403, "CSRF verification failed: reload the page and try again.")
    referer = request.META.get("HTTP_REFERER", "")
    retry_url = referer if url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}) else "/"
    return render(request, "403_csrf.html", {"retry_url": retry_url}, status=403)
