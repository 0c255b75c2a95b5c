from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from agents.crypto import decrypt_secret, encrypt_secret


class ProviderType(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"
    AZURE = "azure", "Azure OpenAI"


class ProviderQuerySet(models.QuerySet["Provider"]):
    def owned_by(self, user: Any) -> ProviderQuerySet:
        """Providers the user may change: their own (admins also the shared ones)."""
        if getattr(user, "is_luxx_admin", False):
            return self.filter(Q(user=user) | Q(user__isnull=True))
        return self.filter(user=user)

    def usable_by(self, user: Any) -> ProviderQuerySet:
        """Providers the user may chat through: their own and the shared ones."""
        return self.filter(Q(user=user) | Q(user__isnull=True))


class Provider(models.Model):
    """An LLM endpoint. ``user`` null means shared: created by admins, usable by everyone."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="providers")
    name = models.CharField(max_length=100)
    provider_type = models.CharField(max_length=16, choices=ProviderType.choices, default=ProviderType.OPENAI)
    base_url = models.URLField(max_length=500, blank=True)
    api_key_encrypted = models.TextField(blank=True, default="")
    api_version = models.CharField(max_length=32, blank=True, help_text="Azure OpenAI API version.")
    default_model = models.CharField(max_length=200, blank=True)
    max_tokens = models.PositiveIntegerField(default=8192)
    context_window = models.PositiveIntegerField(default=32768)
    is_default = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProviderQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=Q(is_default=True), name="agents_provider_one_default_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider_type})"

    @property
    def api_key(self) -> str:
        return decrypt_secret(self.api_key_encrypted)

    @api_key.setter
    def api_key(self, value: str) -> None:
        self.api_key_encrypted = encrypt_secret(value)

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)

    @property
    def is_shared(self) -> bool:
        return self.user_id is None


class AgentQuerySet(models.QuerySet["Agent"]):
    def owned_by(self, user: Any) -> AgentQuerySet:
        return self.filter(user=user)


class Agent(models.Model):
    """A reusable assistant: a system prompt, a model and the tools it may use."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="agents")
    provider_kind = models.CharField(
        max_length=16,
        blank=True,
        help_text="The v1 model_config.provider as the client wrote it (openai, azure, local); blank when chosen by id.",
    )
    model = models.CharField(max_length=200, blank=True)
    system_prompt = models.TextField(blank=True)
    color = models.CharField(max_length=7, default="#10b981")
    temperature = models.FloatField(default=0.7)
    max_tokens = models.PositiveIntegerField(default=2048)
    enabled_tools = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
