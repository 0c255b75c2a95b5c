"""Attachments in chat turns: what reaches the model through the real SDKs (fakellm), the
vision check, documents' passages and citations, history, ownership, deletion."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from chat.models import Conversation, Message
from files.models import File, ModelCapability
from tests.chat.conftest import make_provider
from tests.files.images import image_bytes, pdf_bytes
from tests.support.factories import access_token_for, api_client_for, make_user
from tests.support.sse import stream_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user() -> Any:
    return make_user()


def upload(user: Any, name: str, data: bytes) -> str:
    response = api_client_for(user).post("/api/files/", {"file": SimpleUploadedFile(name, data)}, format="multipart")
    assert response.status_code == 201, response.json()
    return str(response.json()["data"]["id"])


def conversation(user: Any, **body: Any) -> str:
    response = api_client_for(user).post("/api/conversations/", body, format="json")
    assert response.status_code == 201, response.json()
    return str(response.json()["data"]["id"])


def send(user: Any, conversation_id: str, **body: Any) -> Any:
    return api_client_for(user).post("/api/messages/", {"conversation_id": conversation_id, **body}, format="json")


def stream(live_url: str, user: Any, conversation_id: str, **body: Any) -> tuple[Any, list[Any]]:
    """The streaming endpoint over a real ASGI server."""
    with httpx.Client() as client:
        return stream_events(
            client, f"{live_url}/api/messages/stream", {"conversation_id": conversation_id, **body}, access_token_for(user)
        )


def _decoded_size(data: bytes) -> tuple[int, int, str]:
    with Image.open(io.BytesIO(data)) as image:
        return image.width, image.height, str(image.format)


@pytest.mark.parametrize("provider_type", ["openai", "anthropic"])
def test_an_image_reaches_the_model_in_the_providers_format(live_url: str, user: Any, fake_llm: Any, provider_type: str) -> None:
    make_provider(user, fake_llm, provider_type)
    file_id = upload(user, "chart.png", image_bytes(64, 48))
    conversation_id = conversation(user)

    response, events = stream(live_url, user, conversation_id, content="What is in this chart?", attachments=[file_id])

    assert response.status_code == 200
    assert events[-1].event == "done", events
    reply = Message.objects.get(pk=events[-1].data["message_id"])
    assert reply.content == "I see 1 image: 64x48 PNG. You said: What is in this chart?"
    last = fake_llm.requests[-1].body["messages"][-1]
    assert last["role"] == "user"
    stored = bytes(File.objects.get(pk=file_id).data)
    if provider_type == "openai":
        assert last["content"] == [
            {"type": "text", "text": "What is in this chart?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(stored).decode()}},
        ]
    else:
        assert last["content"] == [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(stored).decode()}},
            {"type": "text", "text": "What is in this chart?"},
        ]
    question = Message.objects.get(conversation_id=conversation_id, role="user")
    assert question.attachments == [
        {"id": file_id, "name": "chart.png", "kind": "image", "content_type": "image/png", "size": len(stored), "width": 64, "height": 48}
    ]
    assert File.objects.get(pk=file_id).conversation_id == conversation_id


def test_a_message_of_images_alone_needs_no_text(user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "anthropic")
    first = upload(user, "a.png", image_bytes(30, 20))
    second = upload(user, "b.jpg", image_bytes(10, 10, fmt="JPEG"))
    conversation_id = conversation(user)

    response = send(user, conversation_id, attachments=[first, second])

    assert response.status_code == 200, response.json()
    assert response.json()["data"]["assistant_message"]["content"] == "I see 2 images: 30x20 PNG, 10x10 JPEG. You said: "
    assert response.json()["data"]["user_message"]["content"] == ""
    blocks = fake_llm.requests[-1].body["messages"][-1]["content"]
    assert [block["type"] for block in blocks] == ["image", "image"]


def test_a_model_without_vision_is_a_400_that_names_it(live_url: str, user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "openai")
    file_id = upload(user, "chart.png", image_bytes())
    conversation_id = conversation(user, model="deepseek-chat")

    response, _events = stream(live_url, user, conversation_id, content="Look", attachments=[file_id])

    assert response.status_code == 400
    refusal = "The model deepseek-chat does not accept images: choose a model that does, or send the message without them."
    assert response.json() == {"success": False, "message": f"attachments: {refusal}", "errors": {"attachments": [refusal]}}
    assert not Message.objects.exists()
    assert fake_llm.requests == []
    assert File.objects.get(pk=file_id).conversation_id is None


def test_an_administrator_can_say_a_model_accepts_images(user: Any, fake_llm: Any) -> None:
    provider = make_provider(user, fake_llm, "openai")
    ModelCapability.objects.create(provider=provider, model="my-local-*", vision=True)
    ModelCapability.objects.create(provider=None, model="fake-model", vision=False)
    file_id = upload(user, "chart.png", image_bytes(8, 8))

    allowed = send(user, conversation(user, model="my-local-llava"), content="Hi", attachments=[file_id])
    refused = send(user, conversation(user), content="Hi", attachments=[upload(user, "c.png", image_bytes(9, 9))])

    assert allowed.status_code == 200, allowed.json()
    assert allowed.json()["data"]["assistant_message"]["content"] == "I see 1 image: 8x8 PNG. You said: Hi"
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("attachments: The model fake-model does not accept images")


def test_another_users_file_is_404_and_nothing_is_saved(user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "openai")
    theirs = upload(make_user(), "secret.png", image_bytes())
    conversation_id = conversation(user)

    response = send(user, conversation_id, content="Hi", attachments=[theirs])

    assert response.status_code == 404
    assert response.json() == {"success": False, "message": f"File {theirs} not found."}
    assert not Message.objects.exists()
    assert File.objects.get(pk=theirs).conversation_id is None


def test_a_file_of_another_conversation_is_refused(user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "openai")
    file_id = upload(user, "chart.png", image_bytes())
    assert send(user, conversation(user), content="One", attachments=[file_id]).status_code == 200

    response = send(user, conversation(user), content="Two", attachments=[file_id])

    assert response.status_code == 400
    assert response.json()["errors"] == {"attachments": [f"The file {file_id} is attached in another conversation: upload it again."]}


def test_later_turns_replay_the_images_to_the_model(user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "openai")
    file_id = upload(user, "chart.png", image_bytes(64, 48))
    conversation_id = conversation(user)
    send(user, conversation_id, content="Here is a chart", attachments=[file_id])

    response = send(user, conversation_id, content="And what colour was it?")

    assert response.status_code == 200
    messages = fake_llm.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [part["type"] for part in messages[0]["content"]] == ["text", "image_url"]
    url = messages[0]["content"][1]["image_url"]["url"]
    assert _decoded_size(base64.b64decode(url.split(",", 1)[1])) == (64, 48, "PNG")
    assert messages[2] == {"role": "user", "content": "And what colour was it?"}


def test_a_document_is_quoted_in_the_context_and_cited_on_the_reply(live_url: str, user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "anthropic")
    text = "# Returns\n\nItems may be returned within 30 days.\n\n# Shipping\n\nOrders ship within two business days."
    file_id = upload(user, "policy.md", text.encode())
    conversation_id = conversation(user)

    response, events = stream(live_url, user, conversation_id, content="How long do I have to return?", attachments=[file_id])

    assert response.status_code == 200
    done = events[-1]
    assert done.event == "done"
    sent = fake_llm.requests[-1].body["messages"][-1]["content"]
    assert sent == [
        {
            "type": "text",
            "text": (
                "How long do I have to return?\n\n"
                "Attached documents (quoted passages; cite them as [n] when you use them):\n\n"
                "[1] policy.md (Returns)\n> Items may be returned within 30 days.\n\n"
                "[2] policy.md (Shipping)\n> Orders ship within two business days."
            ),
        }
    ]
    expected = [
        {
            "index": 1,
            "file_id": file_id,
            "document_id": None,
            "document_name": "policy.md",
            "chunk_index": 0,
            "page": None,
            "heading": "Returns",
            "snippet": "Items may be returned within 30 days.",
        },
        {
            "index": 2,
            "file_id": file_id,
            "document_id": None,
            "document_name": "policy.md",
            "chunk_index": 1,
            "page": None,
            "heading": "Shipping",
            "snippet": "Orders ship within two business days.",
        },
    ]
    assert done.data["citations"] == expected
    assert Message.objects.get(pk=done.data["message_id"]).citations == expected


def test_a_long_document_gives_the_best_passages_for_the_question(user: Any, fake_llm: Any, settings: Any) -> None:
    settings.LUXX_ATTACHMENT_CONTEXT_TOKENS = 500
    make_provider(user, fake_llm, "openai")
    pages = [f"Page {n} talks about gardening and soil and seeds at length. " * 20 for n in range(1, 8)]
    pages[4] = "The secret launch code of the rocket is kept in the blue drawer. " + "Filler about rockets. " * 40
    file_id = upload(user, "manual.pdf", pdf_bytes(pages))

    response = send(user, conversation(user), content="Where is the launch code kept?", attachments=[file_id])

    assert response.status_code == 200, response.json()
    context = fake_llm.requests[-1].body["messages"][-1]["content"]
    assert "The secret launch code of the rocket is kept in the blue drawer." in context
    assert "more passages of these documents were left out." in context
    citations = response.json()["data"]["assistant_message"]["citations"]
    assert citations[0]["page"] == 5
    assert citations[0]["document_name"] == "manual.pdf"


def test_files_are_deleted_with_their_conversation(user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "openai")
    file_id = upload(user, "chart.png", image_bytes())
    unsent = upload(user, "later.png", image_bytes())
    conversation_id = conversation(user)
    send(user, conversation_id, content="Hi", attachments=[file_id])

    assert api_client_for(user).delete(f"/api/conversations/{conversation_id}").status_code == 200

    assert not Conversation.objects.filter(pk=conversation_id).exists()
    assert not File.objects.filter(pk=file_id).exists()
    assert File.objects.filter(pk=unsent).exists()
    assert api_client_for(user).get(f"/api/files/{file_id}/content").status_code == 404


def test_a_regenerated_reply_sends_the_same_attachments(user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "openai")
    file_id = upload(user, "chart.png", image_bytes(12, 12))
    conversation_id = conversation(user)
    reply = send(user, conversation_id, content="Describe", attachments=[file_id]).json()["data"]["assistant_message"]

    response = send(user, conversation_id, retry_message_id=reply["id"])

    assert response.status_code == 200, response.json()
    assert response.json()["data"]["assistant_message"]["content"] == "I see 1 image: 12x12 PNG. You said: Describe"


def test_too_many_attachments_is_400(user: Any, fake_llm: Any, settings: Any) -> None:
    settings.LUXX_MAX_ATTACHMENTS = 2
    make_provider(user, fake_llm, "openai")

    response = send(user, conversation(user), content="Hi", attachments=["file_a", "file_b", "file_c"])

    assert response.status_code == 400
    assert response.json()["errors"] == {"attachments": ["At most 2 attachments per message."]}


def test_a_message_without_attachments_costs_no_file_query(user: Any, fake_llm: Any, django_assert_max_num_queries: Any) -> None:
    from chat import services

    make_provider(user, fake_llm, "openai")
    conversation_id = conversation(user)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        services.turn_prepare(user=user, conversation_id=conversation_id, content="Hi")

    assert not [q for q in captured.captured_queries if "files_" in q["sql"]]


def test_a_model_without_vision_later_gets_a_note_instead_of_earlier_images(user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "openai")
    file_id = upload(user, "chart.png", image_bytes())
    conversation_id = conversation(user)
    send(user, conversation_id, content="Here is a chart", attachments=[file_id])
    assert api_client_for(user).put(f"/api/conversations/{conversation_id}", {"model": "deepseek-chat"}, format="json").status_code == 200

    response = send(user, conversation_id, content="Summarise our talk")

    assert response.status_code == 200, response.json()
    first = fake_llm.requests[-1].body["messages"][0]
    assert first == {"role": "user", "content": "Here is a chart\n\n[Image chart.png attached: this model cannot see images]"}


def test_a_deleted_file_is_named_in_the_history_without_its_content(user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "openai")
    file_id = upload(user, "notes.txt", b"The code word is heliotrope.")
    conversation_id = conversation(user)
    send(user, conversation_id, content="Keep this", attachments=[file_id])
    assert api_client_for(user).delete(f"/api/files/{file_id}").status_code == 200

    send(user, conversation_id, content="What was the code word?")

    first = fake_llm.requests[-1].body["messages"][0]
    assert first == {"role": "user", "content": "Keep this\n\n[Attachment notes.txt: no longer available]"}


def test_a_reply_to_a_message_whose_file_was_deleted_can_still_be_regenerated(user: Any, fake_llm: Any) -> None:
    make_provider(user, fake_llm, "openai")
    file_id = upload(user, "chart.png", image_bytes(12, 12))
    conversation_id = conversation(user)
    reply = send(user, conversation_id, content="Describe", attachments=[file_id]).json()["data"]["assistant_message"]
    assert api_client_for(user).delete(f"/api/files/{file_id}").status_code == 200

    response = send(user, conversation_id, retry_message_id=reply["id"])

    assert response.status_code == 200, response.json()
    assert fake_llm.requests[-1].body["messages"][-1] == {
        "role": "user",
        "content": "Describe\n\n[Attachment chart.png: no longer available]",
    }
