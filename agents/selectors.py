"""Reads of providers and agents, scoped to their owner in one place."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from agents.models import Agent, Provider
from luxx.api import NotFound


def provider_list_visible(*, user: Any) -> list[Provider]:
    return list(Provider.objects.usable_by(user).order_by("user_id", "id"))


def provider_get_visible(*, user: Any, provider_id: int) -> Provider:
    """A provider the user can see: their own or a shared one (404 otherwise)."""
    provider = Provider.objects.usable_by(user).filter(pk=provider_id).first()
    if provider is None:
        raise NotFound(_("Provider not found."))
    return provider


def provider_get_usable(*, user: Any, provider_id: int) -> Provider:
    return provider_get_visible(user=user, provider_id=provider_id)


def provider_get_default(*, user: Any) -> Provider | None:
    own = Provider.objects.filter(user=user, enabled=True)
    return (
        own.filter(is_default=True).first()
        or own.first()
        or Provider.objects.filter(user__isnull=True, enabled=True).order_by("-is_default", "id").first()
    )


def agent_get_owned(*, user: Any, agent_id: int) -> Agent:
    agent = Agent.objects.owned_by(user).select_related("provider").filter(pk=agent_id).first()
    if agent is None:
        raise NotFound(_("Agent not found."))
    return agent
