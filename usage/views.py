"""Usage endpoints: the caller's own, and every user's for admins."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import IsLuxxAdmin
from luxx.api import ok, validated
from usage import selectors, services
from usage import serializers as s


def _window(data: dict[str, Any], *, open_ended: bool = False) -> selectors.UsageWindow:
    return selectors.default_window(data.get("period", "day"), start=data.get("from"), end=data.get("to"), open_ended=open_ended)


class UsageView(APIView):
    luxx_query_params = True

    @extend_schema(
        tags=["usage"],
        summary="The caller's usage: totals, a series per day or month, per model, and the limits that apply",
        description=(
            "`from` and `to` (dates, inclusive) default to the last 30 days (`period=day`) or 12 months "
            "(`period=month`); with `conversation_id`, the usage of that conversation (all of it unless dates are "
            "given). Only periods with usage are in `series`."
        ),
        parameters=[s.OwnUsageQuery],
        responses=s.UsageOutput,
    )
    def get(self, request: Request) -> Response:
        data = validated(s.OwnUsageQuery, request.query_params)
        conversation_id = data.get("conversation_id")
        window = _window(data, open_ended=conversation_id is not None)
        summary = selectors.usage_summary(user=request.user, window=window, conversation_id=conversation_id)
        summary["currency"] = settings.LUXX_USAGE_CURRENCY
        summary["limits"] = selectors.limits_for(user=request.user)
        return ok(summary)


class AdminUsageView(APIView):
    permission_classes = [IsAuthenticated, IsLuxxAdmin]
    luxx_query_params = True
    luxx_error_codes = {"GET": ["403"]}

    @extend_schema(
        tags=["usage"],
        summary="Every user's usage, per user, per model and per provider (admins only)",
        parameters=[s.UsageQuery],
        responses=s.AdminUsageOutput,
    )
    def get(self, request: Request) -> Response:
        data = validated(s.UsageQuery, request.query_params)
        summary = selectors.usage_summary_all(window=_window(data))
        summary["currency"] = settings.LUXX_USAGE_CURRENCY
        return ok(summary)


def _limits(user: User) -> dict[str, Any]:
    return s.UserLimitsOutput({**selectors.limits_of(user=user), "currency": settings.LUXX_USAGE_CURRENCY}).data


class AdminUserLimitsView(APIView):
    permission_classes = [IsAuthenticated, IsLuxxAdmin]
    luxx_error_codes = {"GET": ["403"], "PUT": ["403"]}

    @extend_schema(
        tags=["usage"],
        summary="A user's limits: their own, their level's defaults, and those that apply (admins only)",
        responses=s.UserLimitsOutput,
    )
    def get(self, request: Request, user_id: int) -> Response:
        return ok(_limits(get_object_or_404(User, pk=user_id)))

    @extend_schema(
        tags=["usage"],
        summary="Set a user's own limits (admins only)",
        description=(
            "Each limit given is set; null: the default of the user's permission level; the limits not given are "
            "kept. Token and request limits are whole numbers, cost limits numbers in the price table's currency "
            "(rounded up to 4 decimal places); 0 refuses every call. An unknown name, or no limit at all, is a 400. "
            "Answers the limits as GET does."
        ),
        request=s.UserLimitsInput,
        responses=s.UserLimitsOutput,
    )
    def put(self, request: Request, user_id: int) -> Response:
        user = get_object_or_404(User, pk=user_id)
        services.limits_update(user=user, changes=validated(s.UserLimitsInput, request.data))
        return ok(_limits(user), "Limits updated")
