"""Replies that survive their client: following a reply from GET /api/messages/{id}/events,
resuming with Last-Event-ID, replaying a finished reply, and stopping a followed reply."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async

from chat import services
from chat.models import Conversation, Message, MessageStatus
from chat.replies import StoredReply, follow_stored, pieces_since, position_of
from fakellm import Scenario
from tests.chat.test_faults import wait_for_status
from tests.chat.test_stream import create_conversation, send
from tests.support.factories import access_token_for, make_user
from tests.support.processes import Cluster
from tests.support.sse import SSEEvent, parse_sse, rebuild_steps

pytestmark = pytest.mark.django_db(transaction=True)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def follow(url: str, token: str, message_id: str, last_event_id: str | None = None) -> tuple[httpx.Response, list[SSEEvent]]:
    headers = auth(token)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with httpx.Client(timeout=60) as client, client.stream("GET", f"{url}/api/messages/{message_id}/events", headers=headers) as response:
        text = response.read().decode()
    return response, parse_sse(text) if response.headers.get("content-type", "").startswith("text/event-stream") else []


def read_then_drop(url: str, token: str, conversation_id: str, pieces: int) -> list[SSEEvent]:
    """Start a reply, read ``pieces`` process_step events, and go away."""
    body = {"conversation_id": conversation_id, "content": "long please"}
    received = ""
    with httpx.Client(timeout=60) as client, client.stream("POST", f"{url}/api/messages/stream", json=body, headers=auth(token)) as r:
        for chunk in r.iter_text():
            received += chunk
            if received.count("event: process_step") >= pieces and received.endswith("\n\n"):
                break
    return parse_sse(received)


def positions(events: list[SSEEvent]) -> list[int]:
    return [int(e.id) for e in events if e.event == "process_step" and e.id is not None]


def test_stream_events_carry_increasing_ids_ending_at_the_reply_length(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    fake_llm.script(Scenario(tokens=40, tokens_per_second=400))
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "hi")

    ids = positions(events)
    assert len(ids) == len([e for e in events if e.event == "process_step"])
    assert ids == sorted(set(ids))
    message = Message.objects.get(pk=events[-1].data["message_id"])
    assert ids[-1] == len(message.content)
    assert events[-1].event == "done" and events[-1].id == str(len(message.content))


def test_a_follower_connecting_mid_stream_gets_every_piece_once_in_order(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    # Given a reply streaming to its client
    fake_llm.script(Scenario(tokens=300, tokens_per_second=150))
    conversation_id = create_conversation(live_url, token)
    starter: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: starter.update(events=send(live_url, token, conversation_id, "long please")[1]))
    thread.start()
    message = wait_for_status({"conversation_id": conversation_id}, MessageStatus.STREAMING)
    time.sleep(0.5)

    # When a second client follows it
    response, events = follow(live_url, token, message.pk)
    thread.join(timeout=30)

    # Then it gets the reply from its start, live, each piece once, ending with done
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    stored = Message.objects.get(pk=message.pk)
    assert stored.status == MessageStatus.COMPLETE
    assert events[-1].event == "done"
    assert events[-1].data["status"] == "complete"
    assert events[-1].data["message_id"] == message.pk
    assert events[-1].data["usage"] == stored.usage
    assert rebuild_steps(events) == stored.process_steps
    ids = positions(events)
    assert ids == sorted(set(ids)) and ids[-1] == len(stored.content)
    assert len(ids) > 2  # part of it came live, not in one piece
    assert rebuild_steps(starter["events"]) == stored.process_steps


def test_last_event_id_resumes_exactly_after_a_dropped_connection(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # Given a client that read part of a reply and lost its connection
    fake_llm.script(Scenario(tokens=200, tokens_per_second=150))
    conversation_id = create_conversation(live_url, token)
    first = read_then_drop(live_url, token, conversation_id, 5)
    message_id = Message.objects.filter(conversation_id=conversation_id, role="assistant").get().pk

    # When it reconnects with the id of the last event it got
    response, rest = follow(live_url, token, message_id, last_event_id=first[-1].id)

    # Then it gets exactly what it missed: the reply, still going, ends complete
    assert response.status_code == 200
    stored = Message.objects.get(pk=message_id)
    assert rest[-1].event == "done" and rest[-1].data["status"] == "complete"
    assert rebuild_steps(first + rest) == stored.process_steps
    assert len(stored.content.split()) == 200
    ids = positions(first + rest)
    assert ids == sorted(set(ids))


def test_a_finished_reply_replays_its_steps_and_done_at_once(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="Alpha beta gamma.", thinking="Let me think."))
    conversation_id = create_conversation(live_url, token, thinking_enabled=True)
    _, streamed = send(live_url, token, conversation_id, "hi")
    message_id = streamed[-1].data["message_id"]
    stored = Message.objects.get(pk=message_id)

    _, whole = follow(live_url, token, message_id)
    _, tail = follow(live_url, token, message_id, last_event_id=str(position_of(stored.process_steps) - 6))
    _, end = follow(live_url, token, message_id, last_event_id=str(position_of(stored.process_steps)))
    cut = position_of(stored.process_steps) - 6
    query = httpx.get(f"{live_url}/api/messages/{message_id}/events?lastEventId={cut}", headers=auth(token))

    assert [e.event for e in whole] == ["process_step"] * len(stored.process_steps) + ["done"]
    assert rebuild_steps(whole) == stored.process_steps
    assert whole[-1].data == {k: v for k, v in streamed[-1].data.items()}
    assert [e.data for e in tail[:-1]] == [{"step": {**stored.process_steps[-1], "content": "gamma."}}]
    assert [e.event for e in end] == ["done"]
    assert [e.data for e in parse_sse(query.text)] == [e.data for e in tail]


def test_a_user_message_and_a_bad_last_event_id_are_400_and_another_users_reply_is_404(
    live_url: str, token: str, user: Any, openai_provider: Any, fake_llm: Any
) -> None:
    conversation_id = create_conversation(live_url, token)
    _, streamed = send(live_url, token, conversation_id, "hi")
    reply_id = streamed[-1].data["message_id"]
    question_id = Message.objects.get(conversation_id=conversation_id, role="user").pk
    stranger = access_token_for(make_user())

    user_message, _ = follow(live_url, token, question_id)
    for bad in ("abc", "-1", "1.5", "9" * 16):
        bad_id, _ = follow(live_url, token, reply_id, last_event_id=bad)
        assert bad_id.status_code == 400, bad
        assert bad_id.json() == {"success": False, "message": "Last-Event-ID must be the id of an event of this reply (a whole number)."}
    # a bad query value is refused even beside a good header
    both = httpx.get(
        f"{live_url}/api/messages/{reply_id}/events",
        params={"lastEventId": "ë"},
        headers={"Authorization": f"Bearer {token}", "Last-Event-ID": "1"},
    )
    assert both.status_code == 400
    not_yours, _ = follow(live_url, stranger, reply_id)
    unknown, _ = follow(live_url, token, "msg_doesnotexist")
    anonymous = httpx.get(f"{live_url}/api/messages/{reply_id}/events")

    assert user_message.status_code == 400
    assert user_message.json() == {"success": False, "message": "Only a reply of a conversation has events to follow."}
    assert not_yours.status_code == 404 and not_yours.json()["success"] is False
    assert unknown.status_code == 404
    assert anonymous.status_code == 401


def test_stop_ends_a_reply_whose_client_went_away_and_its_follower_sees_it(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    # Given a long reply whose client went away, followed by another client
    fake_llm.script(Scenario(tokens=3000, tokens_per_second=100))
    conversation_id = create_conversation(live_url, token)
    read_then_drop(live_url, token, conversation_id, 3)
    message_id = Message.objects.filter(conversation_id=conversation_id, role="assistant").get().pk
    followed: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: followed.update(events=follow(live_url, token, message_id)[1]))
    thread.start()
    time.sleep(1.0)

    # When it is stopped
    stop = httpx.post(f"{live_url}/api/messages/{message_id}/stop", headers=auth(token))
    thread.join(timeout=30)

    # Then the follower's stream ends with done (stopped), equal to the stored reply
    assert stop.status_code == 200, stop.text
    stored = wait_for_status({"conversation_id": conversation_id}, MessageStatus.STOPPED)
    events = followed["events"]
    assert events[-1].event == "done" and events[-1].data["status"] == "stopped"
    assert rebuild_steps(events) == stored.process_steps
    assert 0 < len(stored.content.split()) < 3000


async def test_a_reply_goes_on_in_its_request_when_the_client_leaves_while_a_chunk_is_being_sent(
    user: Any, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    # Given a stream whose client stops reading (a chunk's send never completes), then goes away
    from django.core.asgi import get_asgi_application

    fake_llm.script(Scenario(tokens=100, tokens_per_second=200))
    conversation = await sync_to_async(services.conversation_create)(user=user)
    body = json.dumps({"conversation_id": conversation.pk, "content": "long please"}).encode()
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"authorization", f"Bearer {token}".encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/messages/stream",
        "raw_path": b"/api/messages/stream",
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    gone = asyncio.Event()
    requested = False
    chunks = 0

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal chunks
        if message["type"] == "http.response.body" and message.get("body"):
            chunks += 1
            if chunks == 2:
                gone.set()
                await asyncio.Event().wait()  # blocked until the request is cancelled

    # When the server handles the request
    async with asyncio.timeout(30):
        await get_asgi_application()(scope, receive, send)

    # Then the reply ran to its end within the request, and is stored whole
    reply = await Message.objects.filter(conversation_id=conversation.pk, role="assistant").aget()
    assert chunks == 2
    assert reply.status == MessageStatus.COMPLETE
    assert len(reply.content.split()) == 100


def test_pieces_since_any_position_rebuild_the_steps() -> None:
    steps = [
        {"id": "step-0", "index": 0, "type": "thinking", "content": "Hmm, 思考"},
        {"id": "step-1", "index": 1, "type": "tool_call", "id_ref": "c1", "name": "calc", "arguments": {"x": 1}},
        {"id": "step-2", "index": 2, "type": "tool_result", "id_ref": "c1", "name": "calc", "content": "2", "success": True},
        {"id": "step-3", "index": 3, "type": "text", "content": "Two."},
    ]
    total = position_of(steps)
    assert total == len("Hmm, 思考") + 2 + len("Two.")

    for cut in range(total + 1):
        # what a client that saw up to ``cut`` holds (a stream may cut a step anywhere)
        seen, start = [], 0
        for step in steps:
            size = len(step["content"]) if step["type"] in ("text", "thinking") else 1
            if start + size <= cut:
                seen.append(dict(step))
            elif start < cut:
                seen.append({**step, "content": step["content"][: cut - start]})
            start += size
        rest = pieces_since(steps, cut)
        assert [p.position for p in rest] == sorted({p.position for p in rest})
        assert all(p.position > cut for p in rest)
        rebuilt = rebuild_steps(
            [SSEEvent("process_step", {"step": s}) for s in seen] + [SSEEvent("process_step", {"step": p.piece}) for p in rest]
        )
        assert rebuilt == steps, cut
    assert pieces_since(steps, total) == []
    assert pieces_since(steps, total + 5) == []


async def test_a_follower_of_the_stored_reply_sends_what_each_flush_added_then_the_end(user: Any) -> None:
    # Given a streaming reply as another process has flushed it
    conversation = await Conversation.objects.acreate(user=user, title="t")
    message = await Message.objects.acreate(
        user=user,
        conversation=conversation,
        role="assistant",
        status=MessageStatus.STREAMING,
        process_steps=[{"id": "step-0", "index": 0, "type": "text", "content": "One"}],
    )
    reply = StoredReply(message.pk, MessageStatus.STREAMING, message.process_steps, {}, "", ())
    events: list[Any] = []

    async def flushes() -> None:
        await asyncio.sleep(0.3)
        await sync_to_async(Message.objects.filter(pk=message.pk).update)(
            process_steps=[{"id": "step-0", "index": 0, "type": "text", "content": "One two"}]
        )
        await asyncio.sleep(0.3)
        await sync_to_async(Message.objects.filter(pk=message.pk).update)(
            process_steps=[{"id": "step-0", "index": 0, "type": "text", "content": "One two three"}],
            status=MessageStatus.COMPLETE,
            usage={"total_tokens": 3},
        )

    # When it is followed from position 1
    writer = asyncio.ensure_future(flushes())
    async with asyncio.timeout(10):
        async for batch in follow_stored(reply, after=1):
            events.extend(batch)
    await writer

    # Then each flush's difference goes out once, then the end
    assert [e.piece["content"] for e in events[:-1]] == ["ne", " two", " three"]
    assert [e.position for e in events] == [3, 7, 13, 13]
    assert events[-1].status == MessageStatus.COMPLETE and events[-1].token_count == 3


@pytest.mark.postgres_only
def test_followers_on_another_process_get_every_piece_live_once_in_order(token: str, openai_provider: Any, fake_llm: Any) -> None:
    # Given two server processes, and a reply started on the first whose client went away
    fake_llm.script(Scenario(tokens=400, tokens_per_second=100))
    cluster = Cluster()
    try:
        _, first = cluster.web()
        _, second = cluster.web()
        conversation_id = create_conversation(first, token)
        dropped = read_then_drop(first, token, conversation_id, 5)
        message_id = Message.objects.filter(conversation_id=conversation_id, role="assistant").get().pk

        # When clients of the second process follow it: one resuming, one from the start
        fresh: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: fresh.update(events=follow(second, token, message_id)[1]))
        thread.start()
        _, rest = follow(second, token, message_id, last_event_id=dropped[-1].id)
        thread.join(timeout=60)
    finally:
        cluster.stop()

    # Then each gets the reply, live, every piece once and in order, equal to the stored reply
    stored = Message.objects.get(pk=message_id)
    assert stored.status == MessageStatus.COMPLETE
    assert len(stored.content.split()) == 400
    for events in (dropped + rest, fresh["events"]):
        assert events[-1].event == "done" and events[-1].data["status"] == "complete"
        assert rebuild_steps(events) == stored.process_steps
        ids = positions(events)
        assert ids == sorted(set(ids)) and ids[-1] == len(stored.content)
    # it came live through Redis, in many small batches, not once per save of the reply (~1 s)
    assert len(positions(rest)) > 20
