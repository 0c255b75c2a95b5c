"""Luxx's own view of a model call: the request, the normalized stream events, the error.

Adapters (one per SDK) turn a provider's stream into these events; nothing outside
``agents.llm`` sees an SDK type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """A plain snapshot of a Provider, safe to carry into async code and worker threads."""

    id: int | None
    provider_type: str
    base_url: str
    api_key: str
    api_version: str = ""
    default_model: str = ""
    max_tokens: int = 8192
    context_window: int = 32768
    # Whether connections may go to loopback or private addresses (checked at every
    # connection, not only when the provider was saved).
    allow_private: bool = False

    @classmethod
    def from_provider(cls, provider: Any) -> ProviderConfig:
        from agents.urlcheck import provider_may_reach_private

        return cls(
            id=provider.pk,
            provider_type=provider.provider_type,
            base_url=provider.base_url,
            api_key=provider.api_key,
            api_version=provider.api_version,
            default_model=provider.default_model,
            max_tokens=provider.max_tokens,
            context_window=provider.context_window,
            allow_private=provider_may_reach_private(provider),
        )


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ChatRequest:
    """Messages use the OpenAI shape (role, content, tool_calls, tool_call_id), plus
    ``images`` on a user message (``[{media_type, data}]``, data in base64), which each
    adapter turns into its API's image content; the Anthropic adapter converts. ``system`` is kept apart so each adapter places it."""

    model: str
    messages: list[dict[str, Any]]
    system: str = ""
    tools: list[ToolSpec] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int = 2048
    thinking: bool = False
    thinking_budget: int = 2048


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    pieces: int = 1  # the provider's deltas merged into this one (about one per token)


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    text: str
    pieces: int = 1


@dataclass(frozen=True, slots=True)
class ThinkingSignature:
    """Anthropic signs thinking blocks; they must be sent back with tool results."""

    thinking: str
    signature: str


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A call's tokens. ``prompt_tokens`` counts every input token, those read from the
    provider's prompt cache included; ``cached_tokens`` is how many of them were."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class StreamEnd:
    finish_reason: str


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """The call failed before its first token and is about to be made again: attempt
    ``attempt`` of ``max_attempts``, after ``delay_seconds``."""

    attempt: int
    max_attempts: int
    delay_seconds: float
    reason: str


LLMEvent = TextDelta | ThinkingDelta | ThinkingSignature | ToolCallRequest | UsageReport | StreamEnd | RetryNotice


def append_event(batch: list[LLMEvent], event: LLMEvent) -> None:
    """Append to a batch, merging a text or thinking delta into the delta before it of
    the same kind (a read that brought ten tokens becomes one delta)."""
    last = batch[-1] if batch else None
    if isinstance(event, TextDelta) and isinstance(last, TextDelta):
        batch[-1] = TextDelta(last.text + event.text, last.pieces + event.pieces)
    elif isinstance(event, ThinkingDelta) and isinstance(last, ThinkingDelta):
        batch[-1] = ThinkingDelta(last.text + event.text, last.pieces + event.pieces)
    else:
        batch.append(event)


class LLMError(Exception):
    """A failed model call, in plain words. ``retryable`` tells a passing fault (429, 5xx,
    a connection problem) from a final one (bad key, unknown model)."""

    def __init__(self, message: str, *, retryable: bool = False, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class PingResult:
    status_code: int
    success: bool
    response_body: str
