"""SDK clients, reused per provider (and per event loop) so connections are pooled.

The SDKs' own retries are off: :func:`agents.llm.stream_chat` retries before the first
token itself, so that a client can be told that it is retrying.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import anthropic
import httpx2
import openai
from django.conf import settings

from agents.keys import UNSENDABLE_KEY, is_sendable_api_key
from agents.llm.base import LLMError, ProviderConfig
from agents.llm.transport import http_client

_MAX_CLIENTS = 256
_clients: dict[tuple[Any, ...], Any] = {}


def _timeout_settings() -> tuple[float, float]:
    return float(settings.LUXX_LLM_CONNECT_TIMEOUT), float(settings.LUXX_LLM_IDLE_TIMEOUT)


def _key(config: ProviderConfig) -> tuple[Any, ...]:
    try:
        loop_id = id(asyncio.get_running_loop())
    except RuntimeError:
        loop_id = 0
    secret = hashlib.sha256(config.api_key.encode()).hexdigest()
    return (
        loop_id,
        config.provider_type,
        config.base_url,
        config.api_version,
        secret,
        config.allow_private,
        _timeout_settings(),
        tuple(settings.LUXX_PROVIDER_ALLOWED_ADDRESSES),
    )


def _build(config: ProviderConfig) -> Any:
    connect, idle = _timeout_settings()
    api_key = config.api_key or "not-needed"
    client = http_client(allow_private=config.allow_private, timeout=httpx2.Timeout(idle, connect=connect))
    if config.provider_type == "anthropic":
        return anthropic.AsyncAnthropic(api_key=api_key, base_url=config.base_url or None, max_retries=0, http_client=client)
    if config.provider_type == "azure":
        return openai.AsyncAzureOpenAI(
            api_key=api_key,
            azure_endpoint=config.base_url,
            api_version=config.api_version or "2024-10-21",
            max_retries=0,
            http_client=client,
        )
    return openai.AsyncOpenAI(api_key=api_key, base_url=config.base_url or None, max_retries=0, http_client=client)


def client_for(config: ProviderConfig) -> Any:
    if not is_sendable_api_key(config.api_key):
        # Stored before keys were checked: say so, rather than an encoding error (or
        # worse, bytes a header should not carry) from the HTTP client.
        raise LLMError(str(UNSENDABLE_KEY))
    key = _key(config)
    client = _clients.get(key)
    if client is None:
        if len(_clients) >= _MAX_CLIENTS:
            _clients.pop(next(iter(_clients)))
        client = _clients[key] = _build(config)
    return client
