"""Two server processes sharing PostgreSQL and Redis: a reply streamed by one is stopped
through the other, also after the stop listener has been quiet for a while."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat.models import Message, MessageStatus
from fakellm import Scenario
from tests.chat.test_faults import wait_for_status
from tests.chat.test_stream import create_conversation
from tests.support.processes import Cluster
from tests.support.sse import parse_sse, rebuild_steps

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


def test_a_reply_is_stopped_through_another_process_after_a_quiet_spell(token: str, openai_provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(tokens=3000, tokens_per_second=100))
    headers = {"Authorization": f"Bearer {token}"}
    cluster = Cluster()
    try:
        _, first = cluster.web()
        _, second = cluster.web()
        conversation_id = create_conversation(first, token)
        body = {"conversation_id": conversation_id, "content": "a long one"}
        received = ""
        with httpx.Client(timeout=60) as client, client.stream("POST", f"{first}/api/messages/stream", json=body, headers=headers) as r:
            started = time.monotonic()
            stop_sent = False
            for chunk in r.iter_text():
                received += chunk
                # The old listener's read timed out (and logged it) every 6 s of quiet.
                if not stop_sent and time.monotonic() - started > 7.5:
                    message = wait_for_status({"conversation_id": conversation_id}, MessageStatus.STREAMING)
                    stop = httpx.post(f"{second}/api/messages/{message.pk}/stop", headers=headers)
                    assert stop.status_code == 200, stop.text
                    stop_sent = True
    finally:
        cluster.stop()
    logs = "".join(path.read_text(errors="replace") for path in Path(cluster.data_dir).glob("web-*.log"))

    events = parse_sse(received)
    assert events[-1].event == "done"
    assert events[-1].data["status"] == "stopped"
    stored = Message.objects.get(pk=events[-1].data["message_id"])
    assert stored.status == MessageStatus.STOPPED
    assert stored.process_steps == rebuild_steps(events)
    assert "Timeout" not in logs
    assert "Stop listener" not in logs
