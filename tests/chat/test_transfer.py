"""Export (JSON: the whole tree; Markdown: the current branch) and import (Luxx exports and
a ChatGPT data export's conversations.json)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from chat.models import Conversation, Message, MessageRole
from tests.chat.test_retry import make_provider_row
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db

CHATGPT_SAMPLE = Path(__file__).parent / "data" / "chatgpt_conversations.json"


@pytest.fixture
def owner() -> Any:
    return make_user(level=3)


def a_tree(owner: Any) -> Conversation:
    """Q1 -> R1 (thinking, a tool call, text, citations) -> (Q2 -> R2 | Q2b -> R2b, R2c); leaf R2b."""
    conversation = Conversation.objects.create(
        user=owner, provider=make_provider_row(owner), model="m", title="Trees & branches", system_prompt="Be brief."
    )
    start = timezone.now() - timedelta(hours=1)
    made: dict[str, Message] = {}

    def add(name: str, parent: str | None, role: str, content: str, **extra: Any) -> None:
        message = Message.objects.create(
            user=owner, conversation=conversation, parent=made.get(parent or ""), role=role, content=content, **extra
        )
        Message.objects.filter(pk=message.pk).update(created_at=start + timedelta(minutes=len(made)))
        made[name] = message

    add("Q1", None, "user", "What is 2**10?")
    add(
        "R1",
        "Q1",
        "assistant",
        "It is 1024 [1].",
        process_steps=[
            {"id": "step-0", "index": 0, "type": "thinking", "content": "Powers of two."},
            {"id": "step-1", "index": 1, "type": "tool_call", "id_ref": "call_1", "name": "python_eval", "arguments": {"code": "2**10"}},
            {
                "id": "step-2",
                "index": 2,
                "type": "tool_result",
                "id_ref": "call_1",
                "name": "python_eval",
                "content": "1024",
                "success": True,
            },
            {"id": "step-3", "index": 3, "type": "text", "content": "It is 1024 [1]."},
        ],
        citations=[{"document_id": 1, "document_name": "powers.md", "chunk_index": 0, "snippet": "2^10 = 1024", "page": None}],
        usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        token_count=15,
        model="m",
    )
    add("Q2", "R1", "user", "And 2**20?")
    add("R2", "Q2", "assistant", "1048576", process_steps=[{"id": "step-0", "index": 0, "type": "text", "content": "1048576"}])
    add("Q2b", "R1", "user", "And 2**11?")
    add("R2b", "Q2b", "assistant", "2048", process_steps=[{"id": "step-0", "index": 0, "type": "text", "content": "2048"}])
    add("R2c", "Q2b", "assistant", "", status="error", error="The provider answered 500.")
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=made["R2b"])
    return Conversation.objects.get(pk=conversation.pk)


def shape(conversation: Conversation) -> list[tuple[Any, ...]]:
    """A tree, independent of ids: each message with its parent's position."""
    messages = list(conversation.messages.order_by("created_at", "id"))
    position = {m.pk: i for i, m in enumerate(messages)}
    return [
        (
            position.get(m.parent_id),
            m.role,
            m.content,
            m.process_steps,
            m.citations,
            m.usage,
            m.token_count,
            m.status,
            m.error,
            m.model,
            m.created_at,
        )
        for m in messages
    ]


def import_file(user: Any, content: bytes, name: str = "export.json") -> Any:
    return api_client_for(user).post("/api/conversations/import", {"file": SimpleUploadedFile(name, content)}, format="multipart")


def test_a_json_export_imported_again_gives_an_equal_tree(owner: Any) -> None:
    # Given a conversation with branches, steps, citations and usage
    original = a_tree(owner)

    # When it is exported and imported by another user
    response = api_client_for(owner).get(f"/api/conversations/{original.pk}/export?format=json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    exported = json.loads(response.content)
    reader = make_user(level=1)
    imported = import_file(reader, response.content)

    # Then the reader has the same tree, the same branch shown, and the same settings
    assert imported.status_code == 201, imported.json()
    data = imported.json()["data"]
    assert (data["format"], data["imported"], data["messages"], data["skipped"], data["skipped_messages"]) == ("luxx", 1, 7, [], 0)
    copy = Conversation.objects.get(pk=data["conversations"][0]["id"])
    assert copy.user == reader and copy.pk != original.pk
    assert shape(copy) == shape(original)
    assert (copy.title, copy.system_prompt, copy.model) == ("Trees & branches", "Be brief.", "m")
    leaf = Message.objects.get(pk=copy.current_leaf_id)
    assert (leaf.content, leaf.parent.content) == ("2048", "And 2**11?")
    assert not Message.objects.filter(conversation=copy, pk__in=[m["id"] for m in exported["messages"]]).exists()
    listed = api_client_for(reader).get(f"/api/messages/?conversation_id={copy.pk}").json()["data"]["messages"]
    assert [m["content"] for m in listed] == ["What is 2**10?", "It is 1024 [1].", "And 2**11?", "2048"]
    assert len(listed[2]["sibling_ids"]) == 2


def test_the_json_export_holds_the_whole_tree(owner: Any) -> None:
    conversation = a_tree(owner)

    exported = api_client_for(owner).get(f"/api/conversations/{conversation.pk}/export").json()

    assert exported["format"] == "luxx.conversation" and exported["version"] == 1
    assert exported["conversation"]["current_leaf_id"] == conversation.current_leaf_id
    assert len(exported["messages"]) == 7
    by_content = {m["content"]: m for m in exported["messages"]}
    assert by_content["It is 1024 [1]."]["usage"]["total_tokens"] == 15
    assert by_content["It is 1024 [1]."]["citations"][0]["document_name"] == "powers.md"
    assert by_content["And 2**20?"]["parent_id"] == by_content["It is 1024 [1]."]["id"]


def test_the_markdown_export_is_the_current_branch(owner: Any) -> None:
    conversation = a_tree(owner)

    response = api_client_for(owner).get(f"/api/conversations/{conversation.pk}/export?format=markdown")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert 'filename="Trees & branches.md"' in response["Content-Disposition"]
    text = response.content.decode()
    assert text.startswith("# Trees & branches\n")
    assert "## User\n\nWhat is 2**10?" in text
    assert "> **Thinking**\n>\n> Powers of two." in text
    assert '**Tool call** `python_eval`\n\n```json\n{\n  "code": "2**10"\n}\n```' in text
    assert "**Tool result** `python_eval`\n\n```\n1024\n```" in text
    assert "**Sources**\n\n1. powers.md" in text
    assert "And 2**11?" in text and "2048" in text
    assert "2**20" not in text and "1048576" not in text


def test_a_chatgpt_export_imports_with_its_branches_and_tool_steps(owner: Any) -> None:
    # When a ChatGPT data export's conversations.json is imported
    response = import_file(owner, CHATGPT_SAMPLE.read_bytes(), "conversations.json")

    # Then its two readable conversations are created, the cut one is skipped with the reason
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["format"] == "chatgpt"
    assert (data["imported"], data["messages"], data["skipped_messages"]) == (2, 9, 3)
    assert data["skipped"] == [
        {"index": 2, "title": "A conversation whose export was cut", "reason": "The conversation has no message tree (mapping)."}
    ]
    kyoto = Conversation.objects.get(user=owner, title="Two days in Kyoto")
    assert kyoto.model == "gpt-4o"
    # The branch shown in ChatGPT is the current branch; the regenerated reply and the
    # edited question are siblings
    client = api_client_for(owner)
    listed = client.get(f"/api/messages/?conversation_id={kyoto.pk}").json()["data"]["messages"]
    assert [m["content"] for m in listed] == [
        "Plan two days in Kyoto for me.",
        "Day 1: Fushimi Inari at dawn, then Gion.\nDay 2: Arashiyama and Kinkaku-ji.",
        "Add a tea ceremony, near this place.",
        "Try En, a short walk from Yasaka Shrine.",
    ]
    assert [len(m["sibling_ids"]) for m in listed] == [1, 2, 2, 1]
    assert listed[0]["parent_id"] is None
    assert listed[0]["created_at"].startswith("2024-04-25T08:00:01.25")
    tree = client.get(f"/api/messages/?conversation_id={kyoto.pk}&tree=true").json()["data"]["messages"]
    assert len(tree) == 7
    # The tool run became one reply: thinking, the tool call, its result, the answer
    power = Conversation.objects.get(user=owner, title="2 的 10 次方")
    question, reply = power.messages.order_by("created_at", "id")
    assert (question.role, question.content, reply.parent_id) == (MessageRole.USER, "算一下 2 的 10 次方", question.pk)
    assert [s["type"] for s in reply.process_steps] == ["thinking", "tool_call", "tool_result", "text"]
    assert reply.process_steps[1]["name"] == "python" and reply.process_steps[1]["arguments"] == {"code": "print(2 ** 10)"}
    assert reply.process_steps[2]["content"] == "1024\n" and reply.process_steps[2]["id_ref"] == reply.process_steps[1]["id_ref"]
    assert reply.content == "2 的 10 次方是 **1024**。"
    assert reply.model == "o4-mini"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty."),
        (b"  \n", "The file is empty."),
        (b"{not json", "The file is not valid JSON (line 1, column 2)."),
        (b"\xff\xfe\x00garbage", "The file is not UTF-8 text: export it again from Luxx or ChatGPT."),
        (b'{"hello": "world"}', "This is neither a Luxx conversation export nor the conversations.json of a ChatGPT data export."),
        (b"[]", "The file holds no conversations."),
        (
            b'[{"title": "x", "mapping": {}}]',
            "Nothing in the file could be imported (1: The conversation has no message tree (mapping).).",
        ),
        (
            json.dumps(
                {
                    "format": "luxx.conversation",
                    "version": 1,
                    "conversation": {"title": "t"},
                    "messages": [
                        {"id": "a", "parent_id": "b", "role": "user", "content": "x"},
                        {"id": "b", "parent_id": "a", "role": "assistant", "content": "y"},
                    ],
                }
            ).encode(),
            "Nothing in the file could be imported (1: The messages' parents form a cycle.).",
        ),
    ],
)
def test_a_malformed_file_is_400_and_creates_nothing(owner: Any, content: bytes, message: str) -> None:
    response = import_file(owner, content)

    assert response.status_code == 400
    assert response.json()["errors"] == {"file": [message]}
    assert not Conversation.objects.filter(user=owner).exists()


def test_a_file_over_the_upload_limit_is_413_and_creates_nothing(owner: Any, settings: Any) -> None:
    settings.LUXX_MAX_UPLOAD_MB = 1
    big = json.dumps([{"title": "x" * (1024 * 1024), "mapping": {}}]).encode()

    response = import_file(owner, big)

    assert response.status_code == 413
    assert response.json()["message"] == "The file is larger than 1 MB."
    assert not Conversation.objects.filter(user=owner).exists()


def test_no_file_and_a_bad_format_are_400_and_another_users_conversation_is_404(owner: Any) -> None:
    conversation = a_tree(owner)
    stranger = make_user(level=3)

    no_file = api_client_for(owner).post("/api/conversations/import", {}, format="multipart")
    bad_format = api_client_for(owner).get(f"/api/conversations/{conversation.pk}/export?format=pdf")
    not_yours = api_client_for(stranger).get(f"/api/conversations/{conversation.pk}/export")

    assert no_file.status_code == 400 and "file" in no_file.json()["errors"]
    assert bad_format.status_code == 400 and bad_format.json()["errors"] == {"format": ["Must be json or markdown."]}
    assert not_yours.status_code == 404 and not_yours.json()["message"] == "Conversation not found."


def test_the_import_route_takes_bodies_as_large_as_uploads(settings: Any) -> None:
    from luxx.bodylimit import MULTIPART_OVERHEAD, body_limit

    settings.LUXX_MAX_UPLOAD_MB = 20

    assert body_limit("/api/conversations/import") == 20 * 1024 * 1024 + MULTIPART_OVERHEAD
    assert body_limit("/api/conversations/") == settings.LUXX_MAX_REQUEST_KB * 1024


def test_the_page_strings_and_the_import_errors_are_in_chinese_too(owner: Any) -> None:
    from django.utils import translation

    from luxx.pages import JS_STRINGS

    with translation.override("zh-hans"):
        strings = {key: str(JS_STRINGS[key]) for key in ("regenerate", "edit_message", "copy_message", "version_k_of_n")}
        response = api_client_for(owner).post(
            "/api/conversations/import",
            {"file": SimpleUploadedFile("x.json", b'{"hello": 1}')},
            format="multipart",
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        )

    assert strings == {
        "regenerate": "重新生成",
        "edit_message": "编辑消息",
        "copy_message": "复制消息",
        "version_k_of_n": "第 {k} 个版本，共 {n} 个",
    }
    assert response.json()["errors"] == {"file": ["这既不是 Luxx 的对话导出文件，也不是 ChatGPT 数据导出中的 conversations.json。"]}
