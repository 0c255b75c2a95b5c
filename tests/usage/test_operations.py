"""Operations: /metrics behind its token, structured logs without content or keys, readiness."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from chat.models import Conversation
from fakellm import Scenario
from luxx.logs import JsonFormatter, RequestIdFilter
from tests.support.sse import parse_sse, rebuild_steps
from toolbox.registry import ToolContext, tool_execute

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return _samples(response.text)


@pytest.mark.django_db
def test_metrics_are_off_without_a_token_setting_and_refused_without_the_token() -> None:
    client = Client()
    assert client.get("/metrics").status_code == 404
    with override_settings(LUXX_METRICS_TOKEN=METRICS_TOKEN):
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 200


@pytest.mark.django_db(transaction=True)
@override_settings(LUXX_METRICS_TOKEN=METRICS_TOKEN)
def test_a_chat_stream_moves_the_stream_metrics(live_url: str, user: Any, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # given the metrics before
    before = _scrape(live_url)
    fake_llm.script(Scenario(tokens=20, tokens_per_second=200))
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    # when a reply streams
    response = httpx.post(
        f"{live_url}/api/messages/stream",
        json={"conversation_id": conversation.pk, "content": "count"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200
    after = _scrape(live_url)

    # then, parsed by prometheus_client's own parser
    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("luxx_tokens_relayed_total") >= 20
    assert delta("luxx_stream_ttft_seconds_count") == 1
    assert delta("luxx_stream_inter_token_gap_seconds_count") >= 1
    assert after[("luxx_active_streams", ())] == 0
    assert delta("luxx_http_requests_total", method="POST", status="200") >= 1
    assert ("luxx_task_queue_depth", ()) in after
    assert ("process_resident_memory_bytes", ()) in after or ("process_cpu_seconds_total", ()) in after


@pytest.mark.django_db(transaction=True)
async def test_tool_runs_are_counted_by_tool_and_outcome(user: Any, test_tools: None) -> None:
    from luxx.metrics import TOOL_RUNS

    ok = TOOL_RUNS.labels(tool="test_weather", outcome="success")
    failed = TOOL_RUNS.labels(tool="test_broken", outcome="error")
    ok_before, failed_before = ok._value.get(), failed._value.get()
    ctx = ToolContext(user_id=user.pk, permission_level=user.permission_level)
    await tool_execute(name="test_weather", arguments={"city": "Oslo"}, ctx=ctx)
    await tool_execute(name="test_broken", arguments={}, ctx=ctx)
    assert ok._value.get() == ok_before + 1
    assert failed._value.get() == failed_before + 1


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged at the configured level, as the JSON lines production writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.mark.django_db(transaction=True)
def test_the_log_of_a_whole_chat_turn_has_no_content_or_key(
    live_url: str, user: Any, token: str, openai_provider: Any, fake_llm: Any, json_log: io.StringIO
) -> None:
    secret_question = "my secret question about zebra-7781"
    secret_answer = "the hidden answer quokka-4410"
    fake_llm.script(Scenario(text=secret_answer))
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    response = httpx.post(
        f"{live_url}/api/messages/stream",
        json={"conversation_id": conversation.pk, "content": secret_question},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-test-42"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "req-test-42"
    assert rebuild_steps(parse_sse(response.text))[0]["content"] == secret_answer
    text = json_log.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    # one request line and one model-call line, with the request's id
    requests = [line for line in lines if line.get("event") == "request" and line["route"] == "/api/messages/stream"]
    assert len(requests) == 1
    assert requests[0]["status"] == 200 and requests[0]["user_id"] == user.pk and requests[0]["request_id"] == "req-test-42"
    calls = [line for line in lines if line.get("event") == "model_call"]
    assert len(calls) == 1
    assert calls[0]["model"] == "fake-model" and calls[0]["status"] == "complete" and calls[0]["completion_tokens"] > 0
    assert calls[0]["request_id"] == "req-test-42"
    # and nothing of the conversation or the provider's key
    for secret in ("zebra-7781", "quokka-4410", openai_provider.api_key, token):
        assert secret not in text


@pytest.mark.django_db
def test_readiness_names_each_dependency() -> None:
    response = Client().get("/api/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok" and body["checks"]["task_queue"] == "ok"
    assert body["checks"]["redis"] in ("ok", "not configured")
    assert body["workers"] == 0
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        down = Client().get("/api/health/ready")
    assert down.status_code == 503
    assert down.json()["checks"]["redis"] == "unreachable" and down.json()["status"] == "not ready"
