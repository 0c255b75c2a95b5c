"""The LLM adapters: the only place that imports the ``openai`` and ``anthropic`` SDKs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings

from agents.llm import anthropic_adapter, openai_adapter
from agents.llm.base import (
    ChatRequest,
    LLMError,
    LLMEvent,
    PingResult,
    ProviderConfig,
    StreamEnd,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallRequest,
    ToolSpec,
    UsageReport,
)
from agents.llm.toolnames import ToolNameMap

__all__ = [
    "ChatRequest",
    "LLMError",
    "LLMEvent",
    "PingResult",
    "ProviderConfig",
    "StreamEnd",
    "TextDelta",
    "ThinkingDelta",
    "ThinkingSignature",
    "ToolCallRequest",
    "ToolSpec",
    "UsageReport",
    "provider_ping",
    "stream_chat",
]


def _adapter(config: ProviderConfig) -> Any:
    return anthropic_adapter if config.provider_type == "anthropic" else openai_adapter


async def stream_chat(config: ProviderConfig, request: ChatRequest) -> AsyncIterator[LLMEvent]:
    """Stream one model call as Luxx events. The first event must come within
    LUXX_LLM_FIRST_TOKEN_TIMEOUT (connection retries included); later gaps are bounded
    by LUXX_LLM_IDLE_TIMEOUT through the client's read timeout. Tool names the APIs would
    refuse (``mcp.<server>.<tool>``) travel as stand-ins, see agents.llm.toolnames."""
    names = ToolNameMap.for_request(request)
    if names:
        request = names.outgoing(request)
    stream = _adapter(config).stream_chat(config, request).__aiter__()
    try:
        try:
            async with asyncio.timeout(float(settings.LUXX_LLM_FIRST_TOKEN_TIMEOUT)):
                first = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise LLMError(
                f"The model did not start answering within {settings.LUXX_LLM_FIRST_TOKEN_TIMEOUT:g} seconds.", retryable=True
            ) from None
        yield names.incoming(first)
        async for event in stream:
            yield names.incoming(event)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


async def provider_ping(provider: Any) -> PingResult:
    """One tiny real request through a provider (a Provider model or a ProviderConfig)."""
    config = provider if isinstance(provider, ProviderConfig) else ProviderConfig.from_provider(provider)
    return await _adapter(config).ping(config)
