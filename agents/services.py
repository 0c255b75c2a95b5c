"""Writes on providers and agents."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework import exceptions

from agents.keys import INVALID_KEY, is_sendable_api_key
from agents.models import Agent, Provider, ProviderType
from agents.urlcheck import BASE_URL_PATTERN, UnresolvableHost, looks_local, points_to_private_network, provider_base_url_is_private
from luxx.api import Forbidden
from toolbox.registry import registry

DEFAULT_BASE_URLS = {ProviderType.OPENAI: "https://api.openai.com/v1", ProviderType.ANTHROPIC: "https://api.anthropic.com"}


def _invalid(field: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [message]})


def provider_check_base_url(*, base_url: str, user: Any, shared: bool) -> None:
    """http(s) only, no credentials or fragment; a private address only where allowed."""
    try:
        parts = urlsplit(base_url)
    except ValueError:  # a bracketed host that is not an IPv6 address
        raise _invalid("base_url", "The host in [brackets] is not an IPv6 address.") from None
    try:
        parts.port  # noqa: B018  (raises for a port past 65535)
    except ValueError:
        raise _invalid("base_url", "The port must be at most 65535.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("base_url", "Use an http:// or https:// URL with a host.")
    if parts.username or parts.password:
        raise _invalid("base_url", "Put the API key in api_key, not in the URL.")
    if parts.fragment:
        raise _invalid("base_url", "The URL must not have a #fragment.")
    if not re.fullmatch(BASE_URL_PATTERN, base_url):
        raise _invalid("base_url", "Use a host of letters, digits, dots and hyphens (or [IPv6]), and no spaces or control characters.")
    try:
        private = provider_base_url_is_private(base_url)
    except UnresolvableHost as error:
        raise _invalid("base_url", f"The host {error} does not resolve: check the URL.") from None
    policy = settings.LUXX_PROVIDER_PRIVATE_URLS
    if policy == "all" or not private:
        return
    if policy == "none":
        raise _invalid("base_url", "Providers on loopback or private addresses are disabled on this server.")
    if not (shared or getattr(user, "is_luxx_admin", False)):
        raise _invalid("base_url", "Only administrators may add a provider on a loopback or private address.")


def _make_default(provider: Provider) -> None:
    """Exactly one default per owner (per user; one among the shared providers)."""
    same_owner = (
        Provider.objects.filter(user__isnull=True) if provider.user_id is None else Provider.objects.filter(user_id=provider.user_id)
    )
    same_owner.filter(is_default=True).exclude(pk=provider.pk).update(is_default=False)


def provider_create(*, user: Any, data: dict[str, Any]) -> Provider:
    data = dict(data)
    provider_type = data.get("provider_type", ProviderType.OPENAI)
    base_url = data.get("base_url") or DEFAULT_BASE_URLS.get(provider_type, "")
    if provider_type == ProviderType.AZURE:
        if not base_url:
            raise _invalid("base_url", "Azure OpenAI needs the resource's endpoint URL.")
        if not data.get("api_version"):
            raise _invalid("api_version", "Azure OpenAI needs an api_version, e.g. 2024-10-21.")
    provider_check_base_url(base_url=base_url, user=user, shared=False)
    api_key = data.pop("api_key", "")
    provider_check_api_key(api_key=api_key)
    with transaction.atomic():
        first = not Provider.objects.filter(user=user).exists()
        provider = Provider(user=user, **{**data, "base_url": base_url})
        # An explicit value is what the client asked for; only an omitted one makes a
        # user's first provider the default (chats fall back to the first usable one anyway).
        provider.is_default = data.get("is_default", first)
        provider.api_key = api_key or ""
        if provider.is_default:
            Provider.objects.filter(user=user, is_default=True).update(is_default=False)
        provider.save()
    return provider


def provider_check_api_key(*, api_key: str) -> None:
    """400 naming ``api_key`` for a key no HTTP header can carry (see agents.keys)."""
    if not is_sendable_api_key(api_key):
        raise _invalid("api_key", str(INVALID_KEY))


def provider_update(*, provider: Provider, user: Any, data: dict[str, Any]) -> Provider:
    """Partial update: only given fields change; ``api_key`` omitted keeps it, "" clears it."""
    if provider.is_shared and not getattr(user, "is_luxx_admin", False):
        raise Forbidden(_("Shared providers can only be changed by administrators."))
    data = dict(data)
    if "base_url" in data:
        provider_check_base_url(base_url=data["base_url"], user=user, shared=provider.is_shared)
    if "api_key" in data:
        provider_check_api_key(api_key=data["api_key"] or "")
    with transaction.atomic():
        if "api_key" in data:
            provider.api_key = data.pop("api_key") or ""
        for name, value in data.items():
            setattr(provider, name, value)
        if data.get("is_default"):
            _make_default(provider)
        provider.save()
    return provider


def provider_delete(*, provider: Provider, user: Any) -> None:
    if provider.is_shared and not getattr(user, "is_luxx_admin", False):
        raise Forbidden(_("Shared providers can only be deleted by administrators."))
    with transaction.atomic():
        was_default, owner_id = provider.is_default, provider.user_id
        provider.delete()
        if was_default and owner_id is not None:
            successor = Provider.objects.filter(user_id=owner_id).order_by("id").first()
            if successor is not None:
                Provider.objects.filter(pk=successor.pk).update(is_default=True)


def provider_kind(provider: Provider | None) -> str | None:
    """How the v1 dialect names a provider it did not choose itself: openai, azure, local
    or anthropic (an OpenAI-compatible provider on a local-looking address is local)."""
    if provider is None:
        return None
    if provider.provider_type == ProviderType.OPENAI and looks_local(provider.base_url):
        return "local"
    return provider.provider_type


def provider_for_kind(*, user: Any, kind: str) -> Provider:
    """The provider for the v1 dialect's ``model_config.provider``.

    ``openai`` means "an OpenAI-compatible API": any enabled OpenAI-compatible provider,
    one at a public address before one on the local network; ``local`` only those on a
    loopback or private address; ``azure`` the Azure OpenAI ones. The user's own come
    before the shared ones, and among them the user's default wins."""
    usable = Provider.objects.usable_by(user).filter(enabled=True)
    if kind == "azure":
        candidates = [(p, False) for p in usable.filter(provider_type=ProviderType.AZURE)]
    else:
        compatible = [(p, points_to_private_network(p.base_url)) for p in usable.filter(provider_type=ProviderType.OPENAI)]
        candidates = [(p, local) for p, local in compatible if kind == "openai" or local]
    if not candidates:
        raise _invalid("model_config.provider", f"No {kind} provider is available: add one first.")
    return min(candidates, key=lambda c: (c[0].user_id != user.pk, not c[0].is_default, c[1], c[0].pk))[0]


def _check_agent_fields(*, user: Any, data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if "provider_id" in data:
        # A provider chosen by id is no longer the one a v1 client asked for by kind.
        data.setdefault("provider_kind", "")
        provider_id = data.pop("provider_id")
        if provider_id is None:
            data["provider"] = None
        else:
            provider = Provider.objects.usable_by(user).filter(pk=provider_id).first()
            if provider is None:
                raise _invalid("provider_id", f"Unknown provider {provider_id}.")
            data["provider"] = provider
    unknown = [name for name in data.get("enabled_tools") or [] if registry.get(name, user_id=user.pk) is None]
    if unknown:
        raise _invalid("enabled_tools", f"Unknown tools: {', '.join(unknown)}.")
    return data


def agent_create(*, user: Any, data: dict[str, Any]) -> Agent:
    fields = _check_agent_fields(user=user, data=data)
    return Agent.objects.create(user=user, **fields)


def agent_update(*, agent: Agent, user: Any, data: dict[str, Any]) -> Agent:
    fields = _check_agent_fields(user=user, data=data)
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.save()
    return agent
