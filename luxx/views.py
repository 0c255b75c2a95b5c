"""Project-level views: health, service info, and the catch-all 404 of each API prefix."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from luxx.api import NotFound


def database_is_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
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
