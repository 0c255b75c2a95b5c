"""Regenerating a failed reply: the same user message answered again, never sent twice."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agents.models import Provider
from chat.models import Conversation, Message, MessageRole, MessageStatus
from fakellm import Scenario
from tests.chat.test_stream import create_conversation, send
from tests.support.factories import api_client_for, make_user
from tests.support.sse import stream_events

pytestmark = pytest.mark.django_db(transaction=True)


def failed_turn(live_url: str, token: str, fake_llm: Any, content: str = "What is 6 x 7?") -> tuple[str, str]:
    """A conversation whose only reply failed upstream; returns its id and the reply's."""
    fake_llm.script(*[Scenario(fault="500")] * 5)
    conversation_id = create_conversation(live_url, token)
    _, events = send(live_url, token, conversation_id, content)
    assert [e.event for e in events] == ["retrying", "retrying", "error"]
    fake_llm.reset()
    return conversation_id, events[-1].data["message_id"]


def roles_and_contents(conversation_id: str) -> list[tuple[str, str, str]]:
    messages = Message.objects.filter(conversation_id=conversation_id).order_by("created_at", "id")
    return list(messages.values_list("role", "content", "status"))


def test_a_retry_answers_the_same_user_message_and_replaces_the_failed_reply(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    # Given a reply that failed
    conversation_id, failed_id = failed_turn(live_url, token, fake_llm)

    # When it is retried by naming it
    fake_llm.script(Scenario(text="It is 42."))
    response, events = send_retry(live_url, token, conversation_id, failed_id)

    # Then the stream is a normal reply, the user message was not saved again, and the
    # failed reply is gone
    assert response.status_code == 200
    assert events[-1].event == "done"
    assert roles_and_contents(conversation_id) == [
        (MessageRole.USER, "What is 6 x 7?", MessageStatus.COMPLETE),
        (MessageRole.ASSISTANT, "It is 42.", MessageStatus.COMPLETE),
    ]
    assert not Message.objects.filter(pk=failed_id).exists()
    assert events[-1].data["message_id"] != failed_id
    # And the model saw the question once, without the failed reply
    sent = fake_llm.requests[-1].body["messages"]
    assert [m["role"] for m in sent if m["role"] != "system"] == ["user"]
    assert sent[-1]["content"] == "What is 6 x 7?"


def test_a_retry_of_the_latest_reply_keeps_the_earlier_turns(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="Hello!"))
    conversation_id = create_conversation(live_url, token)
    send(live_url, token, conversation_id, "Hi")
    fake_llm.script(*[Scenario(fault="500")] * 5)
    _, events = send(live_url, token, conversation_id, "And now?")
    assert events[-1].event == "error"
    failed_id = events[-1].data["message_id"]
    fake_llm.reset()

    fake_llm.script(Scenario(text="Now this."))
    send_retry(live_url, token, conversation_id, failed_id)

    assert [(role, content) for role, content, _ in roles_and_contents(conversation_id)] == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "And now?"),
        ("assistant", "Now this."),
    ]
    sent = fake_llm.requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"] == ["Hi", "Hello!", "And now?"]


def send_retry(live_url: str, token: str, conversation_id: str, message_id: str) -> Any:
    with httpx.Client() as client:
        return stream_events(
            client, f"{live_url}/api/messages/stream", {"conversation_id": conversation_id, "retry_message_id": message_id}, token
        )


@pytest.fixture
def owner() -> Any:
    return make_user(level=3)


def conversation_with_reply(owner: Any, status: str = MessageStatus.ERROR) -> tuple[Conversation, Message, Message]:
    provider = make_provider_row(owner)
    conversation = Conversation.objects.create(user=owner, provider=provider, model="m")
    question = Message.objects.create(user=owner, conversation=conversation, role=MessageRole.USER, content="Q")
    reply = Message.objects.create(
        user=owner, conversation=conversation, parent=question, role=MessageRole.ASSISTANT, status=status, error="boom"
    )
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=reply)
    return conversation, question, reply


def make_provider_row(owner: Any) -> Provider:
    existing = Provider.objects.filter(user=owner).first()
    if existing is not None:
        return existing
    provider = Provider(user=owner, name="p", provider_type="openai", base_url="http://127.0.0.1:9/v1", default_model="m", is_default=True)
    provider.api_key = "sk-never-used-123456"
    provider.save()
    return provider


def post_retry(user: Any, conversation_id: str, **body: Any) -> Any:
    return api_client_for(user).post("/api/messages/stream", {"conversation_id": conversation_id, **body}, format="json")


def test_an_unknown_retry_id_is_404_and_changes_nothing(owner: Any) -> None:
    conversation, _, _ = conversation_with_reply(owner)

    response = post_retry(owner, conversation.pk, retry_message_id="msg_doesnotexist")

    assert response.status_code == 404
    assert response.json() == {"success": False, "message": "Message not found."}
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_another_users_reply_is_404(owner: Any) -> None:
    # Given a stranger's failed reply, and the owner's own conversation
    stranger = make_user(level=3)
    _, _, strangers_reply = conversation_with_reply(stranger)
    conversation, _, _ = conversation_with_reply(owner)

    # When the owner names the stranger's reply, in their own or in the stranger's conversation
    in_own = post_retry(owner, conversation.pk, retry_message_id=strangers_reply.pk)
    in_theirs = post_retry(owner, strangers_reply.conversation_id, retry_message_id=strangers_reply.pk)

    # Then both are 404 and the stranger's reply is untouched
    assert in_own.status_code == 404
    assert in_own.json()["message"] == "Message not found."
    assert in_theirs.status_code == 404
    assert in_theirs.json()["message"] == "Conversation not found."
    assert Message.objects.filter(pk=strangers_reply.pk, status=MessageStatus.ERROR).exists()


def test_a_reply_of_another_conversation_is_404(owner: Any) -> None:
    _, _, reply = conversation_with_reply(owner)
    second, _, _ = conversation_with_reply(owner)

    response = post_retry(owner, second.pk, retry_message_id=reply.pk)

    assert response.status_code == 404
    assert Message.objects.filter(pk=reply.pk).exists()


def test_a_user_message_cannot_be_regenerated(owner: Any) -> None:
    conversation, question, _ = conversation_with_reply(owner)

    response = post_retry(owner, conversation.pk, retry_message_id=question.pk)

    assert response.status_code == 400
    assert response.json()["errors"] == {"retry_message_id": ["Only an assistant reply can be regenerated."]}


def test_only_the_latest_reply_can_be_regenerated(owner: Any) -> None:
    conversation, _, older = conversation_with_reply(owner)
    later = Message.objects.create(user=owner, conversation=conversation, parent=older, role=MessageRole.USER, content="later")
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=later)

    response = post_retry(owner, conversation.pk, retry_message_id=older.pk)

    assert response.status_code == 409
    assert response.json()["message"] == "Only the latest reply of the conversation can be regenerated."
    assert Message.objects.filter(pk=older.pk).exists()


def test_a_reply_being_generated_cannot_be_regenerated(owner: Any) -> None:
    conversation, _, reply = conversation_with_reply(owner, status=MessageStatus.STREAMING)

    response = post_retry(owner, conversation.pk, retry_message_id=reply.pk)

    assert response.status_code == 409
    assert response.json()["message"] == "The reply is still being generated: stop it first."


def test_content_and_retry_together_are_refused_and_content_alone_is_still_required(owner: Any) -> None:
    conversation, _, reply = conversation_with_reply(owner)

    both = post_retry(owner, conversation.pk, retry_message_id=reply.pk, content="again")
    neither = post_retry(owner, conversation.pk)

    assert both.status_code == 400
    assert both.json()["errors"] == {"content": ["Give either content or retry_message_id, not both."]}
    assert neither.status_code == 400
    assert neither.json()["errors"] == {"content": ["This field is required."]}
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_the_schema_documents_the_retry_field(owner: Any) -> None:
    schema = api_client_for(owner).get("/api/schema/", HTTP_ACCEPT="application/json").json()

    body = schema["components"]["schemas"]["SendMessageInputRequest"]
    assert "retry_message_id" in body["properties"]
    assert "content" not in body.get("required", [])
