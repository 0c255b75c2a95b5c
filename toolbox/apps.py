from __future__ import annotations

from django.apps import AppConfig


class ToolboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "toolbox"

    def ready(self) -> None:
        from toolbox import checks  # noqa: F401 - registers the sandbox system check
        from toolbox.audit import record_tool_execution
        from toolbox.registry import registry, set_audit_recorder
        from toolbox.tools import register_builtin_tools

        register_builtin_tools(registry)
        set_audit_recorder(record_tool_execution)
