"""Output shapes of the tools API (input is the tool's own JSON schema)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from toolbox.registry import LEVEL_NAMES, Tool, ToolCategory


class ToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.ChoiceField(choices=ToolCategory.choices)
    parameters = serializers.JSONField(help_text="JSON schema of the arguments.")
    required_level = serializers.IntegerField()
    required_level_name = serializers.CharField()
    allowed = serializers.BooleanField(help_text="Whether the caller's permission level allows it.")
    available = serializers.BooleanField(help_text="Whether it can run on this server (code and shell tools need the sandbox).")
    unavailable_reason = serializers.CharField(allow_blank=True)
    timeout = serializers.FloatField(help_text="Time limit in seconds.")


class ToolListSerializer(serializers.Serializer):
    tools = ToolSerializer(many=True)
    categorized = serializers.DictField(child=ToolSerializer(many=True))
    total = serializers.IntegerField()


class ToolExecuteOutputSerializer(serializers.Serializer):
    result = serializers.JSONField(help_text="The tool's result; for a failed call, {error: ...}.")
    success = serializers.BooleanField(help_text="False when the tool ran but failed (file not found, timeout, ...).")
    duration_ms = serializers.IntegerField()


def tool_data(tool: Tool, *, permission_level: int) -> dict[str, Any]:
    available, reason = tool.is_available()
    return {
        "name": tool.name,
        "description": tool.description,
        "category": str(tool.category),
        "parameters": tool.parameters,
        "required_level": tool.required_level,
        "required_level_name": LEVEL_NAMES.get(tool.required_level, str(tool.required_level)),
        "allowed": tool.allows(permission_level),
        "available": available,
        "unavailable_reason": reason,
        "timeout": tool.timeout,
    }
