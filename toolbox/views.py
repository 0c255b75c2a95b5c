"""The tools API: list, describe and execute tools.

Status codes of ``execute``: a call refused before running answers 400 (bad arguments,
naming the argument), 403 (level too low), 404 (unknown tool) or 503 (cannot run on this
server). A call that ran answers 200 with ``{"result", "success", "duration_ms"}``, and
``success`` is false when the tool itself failed (file not found, timeout, refused URL):
the tool was executed, and its failure is its result, exactly as a model sees it.
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from luxx.api import LuxxError, NotFound, ok
from toolbox.registry import ToolCategory, ToolContext, registry, tool_execute
from toolbox.serializers import ToolExecuteOutputSerializer, ToolListSerializer, ToolSerializer, tool_data

CATEGORY_PARAMETER = OpenApiParameter("category", str, enum=ToolCategory.values, required=False, description="Only tools of this category.")


def _level(request: Request) -> int:
    return request.user.permission_level if request.user.is_active else 0


class ToolListView(APIView):
    luxx_query_params = True

    @extend_schema(
        tags=["tools"], operation_id="tools_list", summary="List the tools", parameters=[CATEGORY_PARAMETER], responses=ToolListSerializer
    )
    def get(self, request: Request) -> Response:
        category = request.query_params.get("category")
        if category is not None and category not in ToolCategory.values:
            raise exceptions.ValidationError({"category": [f"Unknown category; use one of {', '.join(ToolCategory.values)}."]})
        level = _level(request)
        visible = registry.all(user_id=request.user.pk)
        tools = [tool_data(t, permission_level=level) for t in visible if category is None or t.category == category]
        categorized: dict[str, list[dict[str, Any]]] = {value: [] for value in ToolCategory.values}
        for item in tools:
            categorized[item["category"]].append(item)
        return ok({"tools": tools, "categorized": categorized, "total": len(tools)})


class ToolDetailView(APIView):
    @extend_schema(tags=["tools"], operation_id="tools_retrieve", summary="Describe a tool", responses=ToolSerializer)
    def get(self, request: Request, name: str) -> Response:
        tool = registry.get(name, user_id=request.user.pk)
        if tool is None:
            raise NotFound(f"Unknown tool: {name}.")
        return ok(tool_data(tool, permission_level=_level(request)))


class ToolExecuteView(APIView):
    luxx_error_codes = {"POST": ["403", "503"]}

    @extend_schema(
        tags=["tools"],
        summary="Execute a tool with the given arguments",
        request=OpenApiTypes.OBJECT,
        responses=ToolExecuteOutputSerializer,
    )
    def post(self, request: Request, name: str) -> Response:
        # No body is no arguments; a body that is not a JSON object (null, [], 0) is a 400.
        arguments = request.data
        if not isinstance(arguments, dict):
            raise exceptions.ValidationError({"non_field_errors": ["The request body must be a JSON object of arguments."]})
        ctx = ToolContext.for_user(request.user)
        outcome = async_to_sync(tool_execute)(name=name, arguments=dict(arguments), ctx=ctx)
        result = _decode(outcome.content)
        if outcome.rejected_status is not None:
            message = result.get("error") if isinstance(result, dict) else None
            raise LuxxError(message or "The tool call was refused.", status_code=outcome.rejected_status)
        message = "success" if outcome.success else "The tool failed."
        return ok({"result": result, "success": outcome.success, "duration_ms": outcome.duration_ms}, message)


def _decode(content: str) -> Any:
    """The registry serializes results for models; give API clients the JSON back (a
    result cut by the size cap stays the marked string)."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return content
