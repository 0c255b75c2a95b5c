from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from agents.crypto import decrypt_secret, encrypt_secret


class McpTransport(models.TextChoices):
    HTTP = "http", "Streamable HTTP"
    STDIO = "stdio", "stdio (in the sandbox)"


class McpHealth(models.TextChoices):
    UNKNOWN = "unknown"
    OK = "ok"
    DOWN = "down"


class McpServerQuerySet(models.QuerySet["McpServer"]):
    def visible_to(self, user: Any) -> McpServerQuerySet:
        """The user's own servers and the shared ones."""
        return self.filter(Q(user=user) | Q(user__isnull=True))


def _secret_map(token: str) -> dict[str, str]:
    text = decrypt_secret(token)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class McpServer(models.Model):
    """An MCP server whose tools join the registry as ``mcp.<name>.<tool>``.

    ``user`` null means shared: added by an administrator, its tools visible to everyone
    (still subject to ``required_level``). Headers (http) and environment variables
    (stdio) are secrets: stored encrypted, never returned; only their names are shown.
    ``tools`` caches what the last discovery found."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="mcp_servers")
    name = models.CharField(max_length=32, help_text="Lower-case letters, digits, - and _; the tools are mcp.<name>.<tool>.")
    transport = models.CharField(max_length=8, choices=McpTransport.choices, default=McpTransport.HTTP)
    url = models.CharField(max_length=2000, blank=True, help_text="The streamable HTTP endpoint (http transport).")
    headers_encrypted = models.TextField(blank=True, default="")
    command = models.CharField(max_length=500, blank=True, help_text="The program to run in the sandbox (stdio transport).")
    args = models.JSONField(default=list, blank=True)
    env_encrypted = models.TextField(blank=True, default="")
    network = models.BooleanField(default=False, help_text="stdio: let the sandboxed server use the network.")
    enabled = models.BooleanField(default=True)
    required_level = models.PositiveSmallIntegerField(default=3, help_text="Permission level its tools need (3 = EXECUTE).")
    timeout_seconds = models.FloatField(default=30.0)
    tools = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=8, choices=McpHealth.choices, default=McpHealth.UNKNOWN)
    last_error = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    tools_refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = McpServerQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="mcplink_server_name_per_user"),
            models.UniqueConstraint(fields=["name"], condition=Q(user__isnull=True), name="mcplink_shared_server_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.transport})"

    @property
    def headers(self) -> dict[str, str]:
        return _secret_map(self.headers_encrypted)

    @headers.setter
    def headers(self, value: dict[str, str]) -> None:
        self.headers_encrypted = encrypt_secret(json.dumps(value)) if value else ""

    @property
    def env(self) -> dict[str, str]:
        return _secret_map(self.env_encrypted)

    @env.setter
    def env(self, value: dict[str, str]) -> None:
        self.env_encrypted = encrypt_secret(json.dumps(value)) if value else ""

    @property
    def is_shared(self) -> bool:
        return self.user_id is None


class McpTokenQuerySet(models.QuerySet["McpToken"]):
    def owned_by(self, user: Any) -> McpTokenQuerySet:
        return self.filter(user=user)


class McpToken(models.Model):
    """A personal token for MCP clients (Claude Desktop, an IDE): valid at /mcp only, until
    it expires or its owner revokes it. Only its SHA-256 is stored; the token is shown
    once, when made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mcp_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The start of the token, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = McpTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
