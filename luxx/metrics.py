"""Prometheus metrics of this process, served at ``GET /metrics``.

Updates are cheap by design: the streaming path touches them once per batch of pieces it
sends (a counter increment and one histogram sample), never per token. The metrics are
the process's own: with several server processes, scrape each (or put them behind
separate targets).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

registry = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=registry)

ACTIVE_STREAMS = Gauge("luxx_active_streams", "Chat replies streaming in this process.", registry=registry)
TTFT = Histogram(
    "luxx_stream_ttft_seconds",
    "Time from a chat turn's start to its first piece (text, thinking or a tool call).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
    registry=registry,
)
INTER_TOKEN_GAP = Histogram(
    "luxx_stream_inter_token_gap_seconds",
    "Gap between pieces of a streaming reply: one sample per batch sent (its gap over its pieces).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=registry,
)
TOKENS_RELAYED = Counter(
    "luxx_tokens_relayed",
    "Pieces of replies relayed to clients: the model's deltas (about one per token), also when one read brought several.",
    registry=registry,
)
MODEL_ERRORS = Counter("luxx_model_errors", "Model calls that failed a turn, by kind.", ["kind"], registry=registry)
TOOL_RUNS = Counter("luxx_tool_runs", "Tool runs by tool (MCP tools as mcp) and outcome.", ["tool", "outcome"], registry=registry)
SANDBOX_RUNS = Counter("luxx_sandbox_runs", "Code sandbox runs by outcome.", ["outcome"], registry=registry)
HTTP_REQUESTS = Counter("luxx_http_requests", "HTTP responses by method and status.", ["method", "status"], registry=registry)


def model_error_kind(status_code: int | None, retryable: bool) -> str:
    if status_code == 429:
        return "rate_limited"
    if status_code in (401, 403):
        return "auth"
    if status_code is not None and 400 <= status_code < 500:
        return "bad_request"
    if status_code is not None and status_code >= 500:
        return "server"
    return "connection" if retryable else "other"


def tool_label(name: str) -> str:
    """Built-in tools by name; MCP tools (one per server and user) as ``mcp``, so the
    label's values stay few."""
    return "mcp" if name.startswith("mcp.") else name


class StreamClock:
    """The timing of one stream: TTFT once, then one gap sample per batch."""

    __slots__ = ("_last", "_started")

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._last: float | None = None

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)

    def batch(self, pieces: int) -> None:
        if pieces <= 0:
            return
        now = time.monotonic()
        if self._last is None:
            TTFT.observe(now - self._started)
            if pieces > 1:
                INTER_TOKEN_GAP.observe(0.0)
        else:
            INTER_TOKEN_GAP.observe((now - self._last) / pieces)
        self._last = now
        TOKENS_RELAYED.inc(pieces)


class _TaskQueueCollector(Collector):
    """Tasks waiting in the database task queue, counted when scraped."""

    def collect(self) -> Iterator[Any]:
        backend = settings.TASKS.get("default", {}).get("BACKEND", "")
        if not backend.startswith("django_tasks_db"):
            return
        from django_tasks.base import TaskResultStatus
        from django_tasks_db.models import DBTaskResult

        family = GaugeMetricFamily("luxx_task_queue_depth", "Background tasks waiting to run.")
        family.add_metric([], DBTaskResult.objects.filter(status=TaskResultStatus.READY).count())
        yield family

    def describe(self) -> Iterator[Any]:
        return iter(())


registry.register(_TaskQueueCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics, for a bearer of LUXX_METRICS_TOKEN; without that setting, not found."""
    expected = settings.LUXX_METRICS_TOKEN
    if not expected:
        raise Http404
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        response = HttpResponse(
            "Unauthorized: GET /metrics needs the bearer token of LUXX_METRICS_TOKEN.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
