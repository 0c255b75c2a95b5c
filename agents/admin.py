from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from rest_framework.exceptions import ValidationError

from agents.keys import INVALID_KEY, is_sendable_api_key
from agents.models import Agent, Provider
from agents.services import provider_check_base_url


class ProviderAdminForm(forms.ModelForm):
    """The API key is entered here and never shown: leave it blank to keep the stored one."""

    api_key = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), help_text="Leave blank to keep the current key."
    )
    clear_api_key = forms.BooleanField(required=False)
    base_url = forms.URLField(required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = Provider
        fields = [
            "user",
            "name",
            "provider_type",
            "base_url",
            "api_version",
            "default_model",
            "max_tokens",
            "context_window",
            "is_default",
            "enabled",
        ]

    def clean_api_key(self) -> str:
        key = (self.cleaned_data.get("api_key") or "").strip()
        if not is_sendable_api_key(key):
            raise forms.ValidationError(str(INVALID_KEY))
        return key

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        base_url = cleaned.get("base_url")
        if base_url:
            try:
                provider_check_base_url(base_url=base_url, user=None, shared=cleaned.get("user") is None)
            except ValidationError as error:
                detail = error.detail if isinstance(error.detail, dict) else {}
                self.add_error("base_url", "; ".join(str(m) for m in detail.get("base_url", [str(error)])))
        return cleaned

    def save(self, commit: bool = True) -> Provider:
        provider = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            provider.api_key = ""
        elif self.cleaned_data.get("api_key"):
            provider.api_key = self.cleaned_data["api_key"]
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderAdminForm
    list_display = ("name", "provider_type", "user", "base_url", "default_model", "is_default", "enabled", "has_key")
    list_filter = ("provider_type", "enabled", "is_default")
    search_fields = ("name", "base_url", "user__username")

    @admin.display(boolean=True, description="API key")
    def has_key(self, provider: Provider) -> bool:
        return provider.has_api_key

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("user")


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "role", "provider", "model", "created_at")
    list_filter = ("provider__provider_type",)
    search_fields = ("name", "role", "user__username")
    raw_id_fields = ("user", "provider")
