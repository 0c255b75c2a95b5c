from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from toolbox.models import ToolExecution


@admin.register(ToolExecution)
class ToolExecutionAdmin(admin.ModelAdmin):
    """The audit trail: read-only, filterable by tool, outcome and time."""

    list_display = ("created_at", "tool_name", "username", "success", "rejected_status", "duration_ms", "conversation_id", "room_id")
    list_filter = ("tool_name", "success", "rejected_status", "created_at")
    search_fields = ("tool_name", "username", "conversation_id", "room_id", "result_preview")
    date_hierarchy = "created_at"
    list_select_related = ("user",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
