from __future__ import annotations

from django.conf import settings
from django.db import models


class ToolExecution(models.Model):
    """One tool call, from the tools API or from a chat: the audit trail.

    Refused calls (unknown tool, level too low, bad arguments) are recorded too, with the
    HTTP-like status that refused them in ``rejected_status``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tool_executions")
    username = models.CharField(max_length=150, blank=True)
    tool_name = models.CharField(max_length=100, db_index=True)
    arguments = models.JSONField(default=dict, blank=True)
    success = models.BooleanField()
    rejected_status = models.PositiveSmallIntegerField(null=True, blank=True)
    result_preview = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    conversation_id = models.CharField(max_length=64, blank=True, db_index=True)
    room_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="toolbox_exec_user_created")]

    def __str__(self) -> str:
        state = "ok" if self.success else (f"refused {self.rejected_status}" if self.rejected_status else "failed")
        return f"{self.tool_name} by {self.username or self.user_id} ({state})"
