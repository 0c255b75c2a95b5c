"""SDK and transport errors in plain words, with whether a retry could help.

The words are translated (gettext) into the language active when the error is made: a
chat reply's error is in the language of the request that started it."""

from __future__ import annotations

import aiohttp
import anthropic
import openai
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agents.llm.base import LLMError
from agents.llm.transport import ProviderAddressRefused

_STATUS_WORDS = {
    400: gettext_lazy("the provider rejected the request"),
    401: gettext_lazy("the API key was refused"),
    403: gettext_lazy("the API key is not allowed to do this"),
    404: gettext_lazy("the model or endpoint was not found"),
    408: gettext_lazy("the provider timed out"),
    413: gettext_lazy("the request is too large for the provider"),
    429: gettext_lazy("the provider is rate-limiting requests"),
    500: gettext_lazy("the provider had an internal error"),
    502: gettext_lazy("the provider's gateway failed"),
    503: gettext_lazy("the provider is unavailable"),
    504: gettext_lazy("the provider's gateway timed out"),
}


def _provider_detail(error: Exception) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return ""


def status_message(status: int, detail: str = "") -> str:
    """A provider's HTTP error status in plain words, e.g. ``HTTP 401: the API key was
    refused (Invalid key).``; ``detail`` is the provider's own message, if any."""
    words = _STATUS_WORDS.get(status, gettext_lazy("the provider answered with an error"))
    if detail:
        return _("HTTP %(status)s: %(words)s (%(detail)s).") % {"status": status, "words": words, "detail": detail}
    return _("HTTP %(status)s: %(words)s.") % {"status": status, "words": words}


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    raw = response.headers.get("retry-after") if response is not None else None
    try:
        return min(float(raw), 60.0) if raw else None
    except ValueError:
        return None


def _cause(error: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> BaseException | None:
    """The exception of ``kind`` behind ``error``, however deep the SDK and transport wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def translate_error(error: Exception) -> LLMError:
    """Turn any failure of a model call into an :class:`LLMError` a user can read."""
    if isinstance(error, LLMError):
        return error
    refusal = _cause(error, ProviderAddressRefused)
    if refusal is not None:
        return LLMError(_("The connection was refused: %(reason)s") % {"reason": refusal})
    # The aiohttp transport reports a refused connection as a connect timeout; the cause
    # tells what really happened.
    if _cause(error, aiohttp.ClientConnectorError) is not None:
        return LLMError(_("Could not connect to the model provider, or the connection dropped."), retryable=True)
    if _cause(error, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)) is not None:
        return LLMError(_("The connection to the model provider dropped before the reply finished."), retryable=True)
    status = getattr(error, "status_code", None)
    if isinstance(error, (openai.APIStatusError, anthropic.APIStatusError)) and status is not None:
        text = status_message(status, _provider_detail(error))
        return LLMError(text, retryable=status in (408, 409, 429) or status >= 500, status_code=status, retry_after=_retry_after(error))
    if isinstance(error, (openai.APITimeoutError, anthropic.APITimeoutError, TimeoutError)):
        return LLMError(_("The model provider timed out."), retryable=True)
    if isinstance(error, (openai.APIConnectionError, anthropic.APIConnectionError)):
        return LLMError(_("Could not connect to the model provider, or the connection dropped."), retryable=True)
    name = type(error).__name__
    if "Timeout" in name:
        return LLMError(_("The model provider timed out."), retryable=True)
    if "Protocol" in name or "Read" in name or "Connect" in name or "Network" in name:
        return LLMError(_("The connection to the model provider dropped before the reply finished."), retryable=True)
    return LLMError(_("The model call failed: %(name)s.") % {"name": name})
