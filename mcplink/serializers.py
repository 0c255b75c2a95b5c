"""Input and output shapes of the MCP servers API. Headers and environment variables are
write-only: responses carry their names only."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from luxx.fields import StrictBooleanField, StrictCharField, StrictFloatField, StrictIntegerField, StrictObjectSerializer
from mcplink.models import McpHealth, McpServer, McpToken, McpTransport
from mcplink.names import SERVER_NAME, tool_name
from toolbox.registry import LEVEL_NAMES

MAX_HEADERS = 20
MAX_ENV = 50
MAX_ARGS = 50


class StrictStringMapField(serializers.DictField):
    """A JSON object of strings; anything else is a 400 naming the field."""

    default_error_messages = {"not_a_map": "Must be an object of strings.", "too_many": "At most {limit} entries."}

    def __init__(self, *, limit: int, max_value_length: int, **kwargs: Any):
        self.limit = limit
        super().__init__(child=StrictCharField(max_length=max_value_length, allow_blank=True, trim_whitespace=False), **kwargs)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            self.fail("not_a_map")
        if len(data) > self.limit:
            self.fail("too_many", limit=self.limit)
        return dict(super().to_internal_value(data))


class McpServerInput(StrictObjectSerializer):
    name = StrictCharField(max_length=32)
    transport = serializers.ChoiceField(choices=McpTransport.choices, required=False)
    url = StrictCharField(max_length=2000, required=False, allow_blank=True)
    headers = StrictStringMapField(limit=MAX_HEADERS, max_value_length=8192, required=False, write_only=True)
    command = StrictCharField(max_length=500, required=False, allow_blank=True)
    args = serializers.ListField(
        child=StrictCharField(max_length=4000, allow_blank=True, trim_whitespace=False), required=False, max_length=MAX_ARGS
    )
    env = StrictStringMapField(limit=MAX_ENV, max_value_length=8192, required=False, write_only=True)
    network = StrictBooleanField(required=False)
    enabled = StrictBooleanField(required=False)
    required_level = StrictIntegerField(min_value=1, max_value=4, required=False)
    timeout_seconds = StrictFloatField(min_value=1.0, max_value=300.0, required=False)
    shared = StrictBooleanField(required=False)

    def validate_name(self, value: str) -> str:
        if not SERVER_NAME.match(value):
            raise serializers.ValidationError("Use 1-32 lower-case letters, digits, - and _, starting with a letter or digit.")
        return value

    def validate_env(self, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or not (key[0].isalpha() or key[0] == "_") or not all(c.isalnum() or c == "_" for c in key) or not key.isascii():
                raise serializers.ValidationError(f"{key!r} is not a valid environment variable name.")
        return value


class McpToolSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The name in Luxx: mcp.<server>.<tool>.")
    mcp_name = serializers.CharField(help_text="The tool's name on the MCP server.")
    description = serializers.CharField(allow_blank=True)
    parameters = serializers.JSONField(help_text="JSON schema of the arguments.")


class McpServerSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True, allow_null=True)
    is_shared = serializers.BooleanField(read_only=True)
    header_names = serializers.SerializerMethodField()
    env_names = serializers.SerializerMethodField()
    required_level_name = serializers.SerializerMethodField()
    tools = serializers.SerializerMethodField()
    tool_count = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=McpHealth.choices, read_only=True)

    class Meta:
        model = McpServer
        fields = [
            "id",
            "user_id",
            "name",
            "transport",
            "url",
            "header_names",
            "command",
            "args",
            "env_names",
            "network",
            "enabled",
            "required_level",
            "required_level_name",
            "timeout_seconds",
            "is_shared",
            "status",
            "last_error",
            "checked_at",
            "tools_refreshed_at",
            "tool_count",
            "tools",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ListField(child=serializers.CharField(), help_text="Names of the stored headers (values are never returned).")
    )
    def get_header_names(self, server: McpServer) -> list[str]:
        return sorted(server.headers)

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), help_text="Names of the stored environment variables."))
    def get_env_names(self, server: McpServer) -> list[str]:
        return sorted(server.env)

    @extend_schema_field(serializers.CharField())
    def get_required_level_name(self, server: McpServer) -> str:
        return LEVEL_NAMES.get(server.required_level, str(server.required_level))

    @extend_schema_field(serializers.IntegerField())
    def get_tool_count(self, server: McpServer) -> int:
        return len(server.tools or [])

    @extend_schema_field(McpToolSerializer(many=True))
    def get_tools(self, server: McpServer) -> list[dict[str, Any]]:
        return tools_data(server)


def tools_data(server: McpServer) -> list[dict[str, Any]]:
    return [
        {
            "name": tool_name(server.name, item["name"]),
            "mcp_name": item["name"],
            "description": item.get("description", ""),
            "parameters": item.get("input_schema", {}),
        }
        for item in server.tools or []
    ]


class McpServerListOutput(serializers.Serializer):
    servers = McpServerSerializer(many=True)
    total = serializers.IntegerField()


class SkippedToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    reason = serializers.CharField()


class McpRefreshOutput(serializers.Serializer):
    server = McpServerSerializer()
    tools = McpToolSerializer(many=True)
    skipped = SkippedToolSerializer(many=True, help_text="Tools the server lists that Luxx leaves out, with the reason.")
    status = serializers.ChoiceField(choices=McpHealth.choices)
    error = serializers.CharField(allow_blank=True, help_text="Why the server could not be reached, when it could not.")


class McpTokenInput(StrictObjectSerializer):
    name = StrictCharField(max_length=100)
    expires_in_days = StrictIntegerField(min_value=1, max_value=3650, required=False, allow_null=True)


class McpTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = McpToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at"]
        read_only_fields = fields


class McpTokenCreatedSerializer(McpTokenSerializer):
    token = serializers.CharField(help_text="The token itself: shown this once, never again.")

    class Meta(McpTokenSerializer.Meta):
        fields = [*McpTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class McpTokenListOutput(serializers.Serializer):
    tokens = McpTokenSerializer(many=True)
    total = serializers.IntegerField()
