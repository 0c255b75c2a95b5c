from __future__ import annotations

from django.apps import AppConfig


class McplinkConfig(AppConfig):
    """MCP both ways: MCP servers as tool sources, and Luxx as an MCP server at /mcp."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "mcplink"
    verbose_name = "MCP"

    def ready(self) -> None:
        from mcplink.tools import McpToolSource
        from toolbox.registry import registry

        registry.add_source(McpToolSource())
