from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.exceptions import ValidationError

from mcplink import services
from mcplink.models import McpServer, McpToken, McpTransport
from mcplink.names import SERVER_NAME


def _secret_map_field(label: str, example: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": example, "autocomplete": "off"}),
        help_text="A JSON object of strings, stored encrypted and never shown. Leave blank to keep what is stored.",
    )


class McpServerAdminForm(forms.ModelForm):
    """Headers and environment variables are entered here and never shown again."""

    headers_json = _secret_map_field("Headers", '{"Authorization": "Bearer …"}')
    clear_headers = forms.BooleanField(required=False)
    env_json = _secret_map_field("Environment", '{"API_TOKEN": "…"}')
    clear_env = forms.BooleanField(required=False)

    class Meta:
        model = McpServer
        fields = ["user", "name", "transport", "url", "command", "args", "network", "enabled", "required_level", "timeout_seconds"]

    def _map(self, field_name: str) -> dict[str, str] | None:
        raw = (self.cleaned_data.get(field_name) or "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            self.add_error(field_name, "Enter a JSON object of strings.")
            return None
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not SERVER_NAME.match(cleaned.get("name") or ""):
            self.add_error("name", "Use 1-32 lower-case letters, digits, - and _.")
        headers = self._map("headers_json")
        if headers is not None:
            try:
                services.check_headers(headers)
            except ValidationError as error:
                detail = error.detail if isinstance(error.detail, dict) else {}
                self.add_error("headers_json", "; ".join(str(m) for m in detail.get("headers", [str(error)])))
        transport = cleaned.get("transport")
        if transport == McpTransport.HTTP:
            url = cleaned.get("url") or ""
            owner = cleaned.get("user")
            try:
                services.server_check_url(url=url, private_allowed=services.private_urls_allowed(owner=owner, shared=owner is None))
            except ValidationError as error:
                detail = error.detail if isinstance(error.detail, dict) else {}
                self.add_error("url", "; ".join(str(m) for m in detail.get("url", [str(error)])))
        elif transport == McpTransport.STDIO and not cleaned.get("command"):
            self.add_error("command", "A stdio MCP server needs the command that starts it.")
        args = cleaned.get("args")
        if args is not None and not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
            self.add_error("args", "Enter a JSON list of strings.")
        return cleaned

    def save(self, commit: bool = True) -> McpServer:
        server = super().save(commit=False)
        for name in ("headers", "env"):
            if self.cleaned_data.get(f"clear_{name}"):
                setattr(server, name, {})
            elif (value := self._map(f"{name}_json")) is not None:
                setattr(server, name, value)
        if commit:
            server.save()
        return server


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerAdminForm
    list_display = ("name", "transport", "user", "target", "enabled", "required_level", "status", "tool_count", "checked_at")
    list_filter = ("transport", "enabled", "status", "required_level")
    search_fields = ("name", "url", "command", "user__username")
    readonly_fields = ("status", "last_error", "checked_at", "tools_refreshed_at", "tool_names", "created_at", "updated_at")
    raw_id_fields = ("user",)
    actions = ["refresh_tools"]

    @admin.display(description="URL or command")
    def target(self, server: McpServer) -> str:
        return server.url if server.transport == McpTransport.HTTP else " ".join([server.command, *server.args])

    @admin.display(description="Tools")
    def tool_count(self, server: McpServer) -> int:
        return len(server.tools or [])

    @admin.display(description="Tools found")
    def tool_names(self, server: McpServer) -> str:
        return ", ".join(item.get("name", "") for item in server.tools or []) or "—"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("user")

    def save_model(self, request: HttpRequest, obj: McpServer, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        report = services.server_refresh(server=obj, user=request.user)
        if report.error:
            self.message_user(request, f"{obj.name}: {report.error}", messages.WARNING)
        else:
            self.message_user(request, f"{obj.name}: {len(obj.tools)} tools found.", messages.SUCCESS)

    @admin.action(description="Discover the tools of the selected servers again")
    def refresh_tools(self, request: HttpRequest, queryset: QuerySet[McpServer]) -> None:
        for server in queryset.select_related("user"):
            report = services.server_refresh(server=server, user=request.user)
            if report.error:
                self.message_user(request, f"{server.name}: {report.error}", messages.WARNING)
            else:
                self.message_user(request, f"{server.name}: {len(server.tools)} tools found.", messages.SUCCESS)


@admin.register(McpToken)
class McpTokenAdmin(admin.ModelAdmin):
    """Personal MCP tokens: who has which (never the token), and revoking them."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "expires_at")
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "expires_at")
    exclude = ("digest",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
