"""SDK and transport errors in plain words, with whether a retry could help."""

from __future__ import annotations

import anthropic
import openai

from agents.llm.base import LLMError

_STATUS_WORDS = {
    400: "the provider rejected the request",
    401: "the API key was refused",
    403: "the API key is not allowed to do this",
    404: "the model or endpoint was not found",
    408: "the provider timed out",
    413: "the request is too large for the provider",
    429: "the provider is rate-limiting requests",
    500: "the provider had an internal error",
    502: "the provider's gateway failed",
    503: "the provider is unavailable",
    504: "the provider's gateway timed out",
}


def _provider_detail(error: Exception) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return ""


def translate_error(error: Exception) -> LLMError:
    """Turn any failure of a model call into an :class:`LLMError` a user can read."""
    if isinstance(error, LLMError):
        return error
    status = getattr(error, "status_code", None)
    if isinstance(error, (openai.APIStatusError, anthropic.APIStatusError)) and status is not None:
        words = _STATUS_WORDS.get(status, "the provider answered with an error")
        detail = _provider_detail(error)
        text = f"HTTP {status}: {words}" + (f" ({detail})" if detail else "") + "."
        return LLMError(text, retryable=status in (408, 409, 429) or status >= 500, status_code=status)
    if isinstance(error, (openai.APITimeoutError, anthropic.APITimeoutError, TimeoutError)):
        return LLMError("The model provider timed out.", retryable=True)
    if isinstance(error, (openai.APIConnectionError, anthropic.APIConnectionError)):
        return LLMError("Could not connect to the model provider, or the connection dropped.", retryable=True)
    name = type(error).__name__
    if "Timeout" in name:
        return LLMError("The model provider timed out.", retryable=True)
    if "Protocol" in name or "Read" in name or "Connect" in name or "Network" in name:
        return LLMError("The connection to the model provider dropped before the reply finished.", retryable=True)
    return LLMError(f"The model call failed: {name}.")
