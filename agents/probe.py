"""The connection test of a provider: one tiny real request, its outcome in plain words."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.utils.translation import gettext as _

from agents import llm
from agents.llm.base import LLMError, PingResult
from agents.llm.errors import status_message
from agents.models import Provider


@dataclass(frozen=True, slots=True)
class ProviderTestResult:
    status_code: int
    success: bool
    response_body: str  # the provider's raw answer (the key masked), as the seed documents
    model: str  # the provider's default model, which the request asks ("" when it has none)
    latency_ms: int
    summary: str  # what a person reads: "Connected: fake-model replied in 120 ms"


def _detail(body: str) -> str:
    """The provider's own error message from a JSON error body, if it has one."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    inner = payload.get("error", payload) if isinstance(payload, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else None
    return str(message)[:300] if message else ""


def provider_test(*, provider: Provider) -> ProviderTestResult:
    """Ping the provider and time it; the summary is in the active language."""
    started = time.perf_counter()
    try:
        result = async_to_sync(llm.provider_ping)(llm.ProviderConfig.from_provider(provider))
    except LLMError as error:  # refused before any request (e.g. a key no header can carry)
        result = PingResult(status_code=0, success=False, response_body=error.message)
    latency_ms = round((time.perf_counter() - started) * 1000)
    key = provider.api_key
    body = result.response_body.replace(key, "***") if key else result.response_body
    model = provider.default_model
    if result.success:
        if model:
            summary = _("Connected: %(model)s replied in %(ms)s ms") % {"model": model, "ms": latency_ms}
        else:
            summary = _("Connected: the provider answered in %(ms)s ms") % {"ms": latency_ms}
    elif result.status_code:
        summary = _("Failed: %(reason)s") % {"reason": status_message(result.status_code, _detail(body))}
    else:
        summary = _("Failed: %(reason)s") % {"reason": body}
    return ProviderTestResult(
        status_code=result.status_code,
        success=result.success,
        response_body=body,
        model=model,
        latency_ms=latency_ms,
        summary=summary,
    )
