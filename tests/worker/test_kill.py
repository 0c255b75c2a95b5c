"""Processes killed by PID with SIGKILL, on PostgreSQL + Redis: what they were doing is
finished elsewhere, exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from chat.models import Conversation, Message
from fakellm import Scenario
from knowledge import services as knowledge
from knowledge.chunking import chunk_pages
from knowledge.extract import extract
from knowledge.models import Chunk, Document
from rooms.models import ChatRoom
from tests.chat.conftest import make_provider
from tests.support import tasks as test_tasks
from tests.support.factories import access_token_for, make_user
from tests.support.processes import Cluster, wait_for
from tests.support.sse import parse_sse

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    processes = Cluster()
    try:
        yield processes
    finally:
        processes.stop()


def task_rows(path: str) -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=path).order_by("enqueued_at"))


def test_a_worker_killed_while_indexing_is_replaced_and_the_document_gets_the_same_chunks_once(cluster: Cluster) -> None:
    # Given a large document being indexed by a worker
    body = "\n\n".join(f"## Part {i}\n\nParagraph number {i} about the harbour, the ferries and the tides." for i in range(12000)).encode()
    uninterrupted = [(d.heading, d.content) for d in chunk_pages(extract(body, "markdown"), markdown=True)]
    first = cluster.worker(concurrency=1)
    document = knowledge.document_upload(user=make_user(), agent=None, name="harbour.md", data=body)
    indexing = DBTaskResult.objects.filter(task_path="knowledge.tasks.index_document")
    wait_for(indexing.filter(status=TaskResultStatus.RUNNING).exists, what="the indexing to start")

    # When that worker is killed, and another one runs
    cluster.kill(first)
    cluster.worker(concurrency=1)
    wait_for(indexing.filter(status=TaskResultStatus.SUCCESSFUL).exists, timeout=90, what="the indexing")

    # Then the second worker finished it: ready, with the chunks of an uninterrupted run, once
    (task,) = task_rows("knowledge.tasks.index_document")
    assert (Document.objects.get(pk=document.pk).status, task.status) == ("ready", TaskResultStatus.SUCCESSFUL)
    assert len(task.worker_ids) == 2 and task.worker_ids[0] != task.worker_ids[1]
    stored = list(Chunk.objects.filter(document=document).order_by("index").values_list("index", "heading", "content"))
    assert [(heading, content) for _, heading, content in stored] == uninterrupted
    assert [index for index, _, _ in stored] == list(range(len(uninterrupted)))


def _read(url: str, path: str, token: str, into: list[str], method: str = "GET", until: str = "room_completed") -> None:
    try:
        with httpx.stream(method, f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=120) as response:
            for text in response.iter_text():
                into.append(text)
                if f"event: {until}\n" in "".join(into) or "event: error\n" in "".join(into):
                    return
    except httpx.HTTPError:
        return


def test_a_room_whose_worker_is_killed_mid_turn_resumes_on_another_and_observers_see_it_go_on(cluster: Cluster, fake_llm: Any) -> None:
    # Given a room run by a worker, started through one web process and observed through another
    user = make_user()
    make_provider(user, fake_llm)
    token = access_token_for(user)
    room = ChatRoom.objects.create(user=user, title="x", task="Plan the harbour festival", max_rounds=1)
    room.agents.create(name="Ada", model="fake-model", turn_order=0)
    room.agents.create(name="Bo", model="fake-model", turn_order=1)
    fake_llm.script(Scenario(tokens=300, tokens_per_second=30), Scenario(text="Ada again, in full."), Scenario(text="Bo closes."))
    _, first_web = cluster.web()
    _, second_web = cluster.web()
    first = cluster.worker(concurrency=2)
    observed: list[str] = []
    started: list[str] = []
    observer = threading.Thread(target=_read, args=(second_web, f"/api/chat-rooms/{room.pk}/events", token, observed))
    observer.start()
    wait_for(lambda: ": open" in "".join(observed), what="the observer")
    starter = threading.Thread(target=_read, args=(first_web, f"/api/chat-rooms/{room.pk}/start", token, started, "POST"))
    starter.start()

    # When the worker is killed in the middle of Ada's turn, and another worker runs
    # (past its first second: the turn's text is saved once a second)
    wait_for(lambda: "".join(observed).count("event: message_chunk") >= 45, what="Ada's turn")
    cluster.kill(first)
    cluster.worker(concurrency=2)
    observer.join(timeout=120)
    starter.join(timeout=120)

    # Then the run went on: Ada's cut turn kept as interrupted, Ada spoke again, then Bo, each once
    room.refresh_from_db()
    turns = list(Message.objects.filter(room=room, role="assistant").order_by("created_at").values_list("sender_name", "status", "content"))
    assert room.status == "completed"
    assert [(name, status) for name, status, _ in turns] == [("Ada", "interrupted"), ("Ada", "complete"), ("Bo", "complete")]
    assert turns[0][2] and turns[1][2] == "Ada again, in full." and turns[2][2] == "Bo closes."
    # And the observer on the other web process saw it continue, as did the starter
    for stream in (observed, started):
        events = [e.event for e in parse_sse("".join(stream)) if e.event]
        assert events.count("message_interrupted") == 1 and events[-1] == "room_completed"
        assert [e.data["sender_name"] for e in parse_sse("".join(stream)) if e.event == "message"] == ["Ada", "Bo"]


def test_a_web_process_killed_mid_reply_leaves_it_interrupted_with_its_text_and_the_conversation_goes_on(
    cluster: Cluster, fake_llm: Any
) -> None:
    # Given a reply streaming from a web process, a second web process and a worker
    user = make_user(level=3)
    provider = make_provider(user, fake_llm)
    token = access_token_for(user)
    conversation = Conversation.objects.create(user=user, provider=provider, model="fake-model")
    fake_llm.script(Scenario(tokens=400, tokens_per_second=40), Scenario(text="Here is the rest."))
    doomed, first_web = cluster.web()
    _, second_web = cluster.web()
    cluster.worker(concurrency=1)
    received: list[str] = []
    body = {"conversation_id": conversation.pk, "content": "Tell me about tides."}

    def stream() -> None:
        try:
            with httpx.stream(
                "POST", f"{first_web}/api/messages/stream", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as r:
                for text in r.iter_text():
                    received.append(text)
        except httpx.HTTPError:
            return

    reader = threading.Thread(target=stream)
    reader.start()
    reply = lambda: Message.objects.filter(conversation=conversation, role="assistant").first()  # noqa: E731
    wait_for(lambda: reply() is not None and len(reply().content.split()) >= 20, what="a saved part of the reply")

    # When that web process is killed
    cluster.kill(doomed)
    reader.join(timeout=10)
    wait_for(lambda: reply().status != "streaming", timeout=30, what="the sweep")

    # Then the sweep marked the reply interrupted with the text it had; the question is intact
    cut = reply()
    assert cut.status == "interrupted" and len(cut.content.split()) >= 20
    assert list(Message.objects.filter(conversation=conversation, role="user").values_list("content", flat=True)) == [
        "Tell me about tides."
    ]
    # And the conversation takes the next message, through the other web process
    with httpx.stream(
        "POST",
        f"{second_web}/api/messages/stream",
        json={**body, "content": "Go on."},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ) as response:
        events = parse_sse(response.read().decode())
    assert events[-1].event == "done"
    assert Message.objects.get(pk=events[-1].data["message_id"]).content == "Here is the rest."


def test_a_task_that_always_fails_on_a_worker_process_is_retried_then_failed_and_the_queue_goes_on(
    cluster: Cluster, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    test_tasks.always_fails.enqueue(str(log))
    test_tasks.records.enqueue(str(log), "served")

    cluster.worker(concurrency=1)
    wait_for(lambda: log.exists() and "gave up" in log.read_text(), what="the give-up")
    # (the give-up is written during the last attempt; the worker marks it failed after)
    wait_for(lambda: TaskResultStatus.RUNNING not in [row.status for row in task_rows("tests.support.tasks.always_fails")], what="the end")

    assert log.read_text().splitlines().count("attempt") == 3 and "served" in log.read_text().splitlines()
    assert [row.status for row in task_rows("tests.support.tasks.always_fails")] == [TaskResultStatus.FAILED] * 3
    assert log.read_text().splitlines()[-1] == "gave up after 3: RuntimeError: the disk is full"
