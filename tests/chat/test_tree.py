"""Conversations as trees: edit (a new user message under the edited one's parent),
regenerate (a new sibling reply), switching branches, and what the model sees."""

from __future__ import annotations

import importlib
from typing import Any

import httpx
import pytest
from django.apps import apps

from chat.models import Conversation, Message, MessageRole, MessageStatus
from fakellm import Scenario
from tests.chat.test_stream import create_conversation
from tests.support.factories import api_client_for, make_user
from tests.support.sse import stream_events

pytestmark = pytest.mark.django_db(transaction=True)


class Chat:
    """A conversation driven over the real streaming endpoint, against the fake LLM."""

    def __init__(self, url: str, token: str, fake_llm: Any) -> None:
        self.url, self.token, self.fake_llm = url, token, fake_llm
        self.id = create_conversation(url, token)

    def stream(self, reply: str, **body: Any) -> tuple[str, str]:
        """Send (or regenerate); returns the ids of the user message and of the reply."""
        self.fake_llm.script(Scenario(text=reply))
        with httpx.Client() as client:
            response, events = stream_events(client, f"{self.url}/api/messages/stream", {"conversation_id": self.id, **body}, self.token)
        assert response.status_code == 200, response.read()
        assert events[-1].event == "done", events[-1]
        reply_id = events[-1].data["message_id"]
        return Message.objects.get(pk=reply_id).parent_id or "", reply_id

    def seen_by_model(self) -> list[str]:
        return [m["content"] for m in self.fake_llm.requests[-1].body["messages"] if m["role"] != "system"]

    def listing(self, **params: Any) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url}/api/messages/",
            params={"conversation_id": self.id, **params},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]["messages"]

    def branch(self) -> list[str]:
        return [m["content"] for m in self.listing()]

    def put_leaf(self, message_id: str) -> httpx.Response:
        return httpx.put(
            f"{self.url}/api/conversations/{self.id}",
            json={"current_leaf_id": message_id},
            headers={"Authorization": f"Bearer {self.token}"},
        )


@pytest.fixture
def chat(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> Chat:
    return Chat(live_url, token, fake_llm)


def test_edits_and_regenerations_branch_several_levels_deep_and_the_model_sees_only_the_path(chat: Chat) -> None:
    # Given a conversation of two turns
    first_q, first_r = chat.stream("R1", content="Q1")
    second_q, second_r = chat.stream("R2", content="Q2")
    assert chat.branch() == ["Q1", "R1", "Q2", "R2"]

    # When the second question is edited (the new text under the edited message's parent)
    edited_q, edited_r = chat.stream("R2 after edit", content="Q2 edited", parent_id=first_r)

    # Then the model saw only the path to the new message, and the branch shows it
    assert chat.seen_by_model() == ["Q1", "R1", "Q2 edited"]
    assert chat.branch() == ["Q1", "R1", "Q2 edited", "R2 after edit"]
    listed = chat.listing()
    assert listed[2]["id"] == edited_q and listed[2]["parent_id"] == first_r
    assert listed[2]["sibling_ids"] == [second_q, edited_q]
    assert listed[3]["sibling_ids"] == [edited_r]
    assert listed[0]["parent_id"] is None and listed[0]["sibling_ids"] == [first_q]

    # When the edited branch's reply is regenerated
    _, regenerated = chat.stream("R2 again", regenerate_message_id=edited_r)

    # Then it is a sibling of the reply it regenerates, answering the same question
    assert chat.seen_by_model() == ["Q1", "R1", "Q2 edited"]
    listed = chat.listing()
    assert [m["content"] for m in listed] == ["Q1", "R1", "Q2 edited", "R2 again"]
    assert listed[3]["sibling_ids"] == [edited_r, regenerated]
    assert Message.objects.filter(conversation_id=chat.id, role=MessageRole.USER).count() == 3

    # When the conversation goes on, a level deeper
    third_q, third_r = chat.stream("R3", content="Q3")
    assert chat.seen_by_model() == ["Q1", "R1", "Q2 edited", "R2 again", "Q3"]

    # When the very first reply is regenerated (any position)
    _, first_again = chat.stream("R1 again", regenerate_message_id=first_r)

    # Then only the first question reached the model and the branch is two messages long
    assert chat.seen_by_model() == ["Q1"]
    assert chat.branch() == ["Q1", "R1 again"]
    assert chat.listing()[1]["sibling_ids"] == [first_r, first_again]
    assert Conversation.objects.get(pk=chat.id).current_leaf_id == first_again

    # And the tree listing has every message, in creation order
    tree = chat.listing(tree="true")
    assert [m["content"] for m in tree] == ["Q1", "R1", "Q2", "R2", "Q2 edited", "R2 after edit", "R2 again", "Q3", "R3", "R1 again"]
    by_id = {m["id"]: m for m in tree}
    assert by_id[third_q]["parent_id"] == regenerated and by_id[third_r]["parent_id"] == third_q
    assert by_id[second_r]["sibling_ids"] == [second_r]


def test_switching_leaves_shows_the_newest_branch_below_the_chosen_message(chat: Chat) -> None:
    # Given a tree: Q1 -> R1 -> (Q2 -> R2 -> Q3 -> R3 | Q2b -> R2b)
    _, first_r = chat.stream("R1", content="Q1")
    second_q, _ = chat.stream("R2", content="Q2")
    _, third_r = chat.stream("R3", content="Q3")
    edited_q, edited_r = chat.stream("R2b", content="Q2b", parent_id=first_r)

    # When the user flips to the first version of Q2
    response = chat.put_leaf(second_q)

    # Then the branch below it, down to its newest message, is shown and continued
    assert response.status_code == 200, response.text
    assert response.json()["data"]["current_leaf_id"] == third_r
    assert chat.branch() == ["Q1", "R1", "Q2", "R2", "Q3", "R3"]
    chat.stream("R4", content="Q4")
    assert chat.seen_by_model() == ["Q1", "R1", "Q2", "R2", "Q3", "R3", "Q4"]

    # When the user picks R1, the newest branch below it (the one just continued) wins
    assert chat.put_leaf(first_r).json()["data"]["current_leaf_id"] != edited_r
    assert chat.branch()[-2:] == ["Q4", "R4"]

    # And picking the edit shows it again
    assert chat.put_leaf(edited_q).json()["data"]["current_leaf_id"] == edited_r
    assert chat.branch() == ["Q1", "R1", "Q2b", "R2b"]


def test_editing_the_first_message_starts_a_new_root(chat: Chat) -> None:
    first_q, _ = chat.stream("R1", content="Q1")

    new_q, _ = chat.stream("R1b", content="Q1 edited", parent_id=None)

    assert chat.seen_by_model() == ["Q1 edited"]
    listed = chat.listing()
    assert [m["content"] for m in listed] == ["Q1 edited", "R1b"]
    assert listed[0]["parent_id"] is None
    assert listed[0]["sibling_ids"] == [first_q, new_q]


def test_the_non_streaming_endpoint_takes_parent_id_and_regenerate_message_id(chat: Chat) -> None:
    _, first_r = chat.stream("R1", content="Q1")
    chat.stream("R2", content="Q2")
    client = api_client_for(Conversation.objects.get(pk=chat.id).user)

    chat.fake_llm.script(Scenario(text="R2b"))
    edited = client.post("/api/messages/", {"conversation_id": chat.id, "content": "Q2b", "parent_id": first_r}, format="json")
    assert edited.status_code == 200, edited.json()
    assert edited.json()["data"]["user_message"]["parent_id"] == first_r
    reply_id = edited.json()["data"]["assistant_message"]["id"]

    chat.fake_llm.script(Scenario(text="R2c"))
    again = client.post("/api/messages/", {"conversation_id": chat.id, "regenerate_message_id": reply_id}, format="json")
    assert again.status_code == 200, again.json()
    assert again.json()["data"]["assistant_message"]["parent_id"] == edited.json()["data"]["user_message"]["id"]
    assert chat.seen_by_model() == ["Q1", "R1", "Q2b"]
    assert chat.branch() == ["Q1", "R1", "Q2b", "R2c"]


def test_the_v1_history_is_the_current_branch(chat: Chat) -> None:
    _, first_r = chat.stream("R1", content="Q1")
    chat.stream("R2", content="Q2")
    chat.stream("R2b", content="Q2b", parent_id=first_r)

    response = httpx.get(f"{chat.url}/api/v1/conversations/{chat.id}/messages", headers={"Authorization": f"Bearer {chat.token}"})

    assert response.status_code == 200
    data = response.json()["data"]
    assert [m["content"] for m in data["items"]] == ["Q1", "R1", "Q2b", "R2b"]
    assert data["total"] == 4


# --- refusals -------------------------------------------------------------------------


@pytest.fixture
def owner() -> Any:
    return make_user(level=3)


def a_conversation(owner: Any) -> tuple[Conversation, Message, Message]:
    from tests.chat.test_retry import make_provider_row

    conversation = Conversation.objects.create(user=owner, provider=make_provider_row(owner), model="m")
    question = Message.objects.create(user=owner, conversation=conversation, role=MessageRole.USER, content="Q")
    reply = Message.objects.create(user=owner, conversation=conversation, parent=question, role=MessageRole.ASSISTANT, content="R")
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=reply)
    return conversation, question, reply


def stream(user: Any, **body: Any) -> Any:
    return api_client_for(user).post("/api/messages/stream", body, format="json")


def test_another_users_message_as_parent_or_regenerate_target_is_404(owner: Any) -> None:
    stranger = make_user(level=3)
    _, _, strangers_reply = a_conversation(stranger)
    conversation, _, _ = a_conversation(owner)

    as_parent = stream(owner, conversation_id=conversation.pk, content="hi", parent_id=strangers_reply.pk)
    as_target = stream(owner, conversation_id=conversation.pk, regenerate_message_id=strangers_reply.pk)
    as_leaf = api_client_for(owner).put(f"/api/conversations/{conversation.pk}", {"current_leaf_id": strangers_reply.pk}, format="json")

    assert (as_parent.status_code, as_parent.json()["message"]) == (404, "Message not found.")
    assert (as_target.status_code, as_target.json()["message"]) == (404, "Message not found.")
    assert (as_leaf.status_code, as_leaf.json()["message"]) == (404, "Message not found.")
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_a_parent_from_another_conversation_is_400(owner: Any) -> None:
    _, _, other_reply = a_conversation(owner)
    conversation, _, _ = a_conversation(owner)

    as_parent = stream(owner, conversation_id=conversation.pk, content="hi", parent_id=other_reply.pk)
    as_target = stream(owner, conversation_id=conversation.pk, regenerate_message_id=other_reply.pk)
    as_leaf = api_client_for(owner).put(f"/api/conversations/{conversation.pk}", {"current_leaf_id": other_reply.pk}, format="json")

    assert as_parent.status_code == 400
    assert as_parent.json()["errors"] == {"parent_id": ["This message belongs to another conversation."]}
    assert as_target.status_code == 400
    assert as_target.json()["errors"] == {"regenerate_message_id": ["This message belongs to another conversation."]}
    assert as_leaf.status_code == 400
    assert as_leaf.json()["errors"] == {"current_leaf_id": ["This message belongs to another conversation."]}
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_regenerating_while_the_conversation_streams_is_409(owner: Any) -> None:
    conversation, question, reply = a_conversation(owner)
    Message.objects.create(
        user=owner, conversation=conversation, parent=question, role=MessageRole.ASSISTANT, status=MessageStatus.STREAMING
    )

    response = stream(owner, conversation_id=conversation.pk, regenerate_message_id=reply.pk)

    assert response.status_code == 409
    assert response.json()["message"] == "A reply of this conversation is still being generated: wait for it or stop it first."
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_a_user_message_cannot_be_regenerated_and_fields_do_not_mix(owner: Any) -> None:
    conversation, question, reply = a_conversation(owner)

    user_message = stream(owner, conversation_id=conversation.pk, regenerate_message_id=question.pk)
    with_content = stream(owner, conversation_id=conversation.pk, regenerate_message_id=reply.pk, content="x")
    with_parent = stream(owner, conversation_id=conversation.pk, regenerate_message_id=reply.pk, parent_id=question.pk)
    with_retry = stream(owner, conversation_id=conversation.pk, regenerate_message_id=reply.pk, retry_message_id=reply.pk)
    bad_tree = api_client_for(owner).get(f"/api/messages/?conversation_id={conversation.pk}&tree=yes")

    assert user_message.json()["errors"] == {"regenerate_message_id": ["Only an assistant reply can be regenerated."]}
    assert with_content.json()["errors"] == {"content": ["Give either content or regenerate_message_id, not both."]}
    assert with_parent.json()["errors"] == {"parent_id": ["parent_id goes with content, not with regenerate_message_id."]}
    assert with_retry.json()["errors"] == {"regenerate_message_id": ["Give either retry_message_id or regenerate_message_id, not both."]}
    assert bad_tree.status_code == 400 and bad_tree.json()["errors"] == {"tree": ["Must be true or false."]}
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_the_listing_reads_a_deep_branch_in_a_fixed_number_of_queries(owner: Any, django_assert_max_num_queries: Any) -> None:
    # Given a branch of 300 messages
    conversation, _, reply = a_conversation(owner)
    parent = reply
    for index in range(298):
        parent = Message.objects.create(user=owner, conversation=conversation, parent=parent, role="user", content=f"m{index}")
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=parent)
    client = api_client_for(owner)

    # When it is listed, then the queries do not grow with its depth
    with django_assert_max_num_queries(8):
        response = client.get(f"/api/messages/?conversation_id={conversation.pk}&limit=1000")
    messages = response.json()["data"]["messages"]
    assert len(messages) == 300
    assert messages[-1]["content"] == "m297"
    with django_assert_max_num_queries(8):
        limited = client.get(f"/api/messages/?conversation_id={conversation.pk}&limit=5").json()["data"]["messages"]
    assert [m["content"] for m in limited] == ["m293", "m294", "m295", "m296", "m297"]


def test_the_migration_chains_existing_conversations_in_creation_order(owner: Any) -> None:
    # Given messages saved before conversations were trees (no parents, no leaf)
    from tests.chat.test_retry import make_provider_row

    conversation = Conversation.objects.create(user=owner, provider=make_provider_row(owner), model="m")
    ids = [Message.objects.create(user=owner, conversation=conversation, role="user", content=str(i)).pk for i in range(4)]
    empty = Conversation.objects.create(user=owner, provider=make_provider_row(owner), model="m")

    # When the data migration runs
    migration = importlib.import_module("chat.migrations.0004_message_tree")
    migration.chain_existing_messages(apps, None)

    # Then they form one branch, the newest message its leaf
    parents = dict(Message.objects.filter(conversation=conversation).values_list("id", "parent_id"))
    assert [parents[i] for i in ids] == [None, *ids[:-1]]
    assert Conversation.objects.get(pk=conversation.pk).current_leaf_id == ids[-1]
    assert Conversation.objects.get(pk=empty.pk).current_leaf_id is None


def test_deleting_a_message_on_the_current_branch_shows_the_newest_branch_below_its_parent(owner: Any) -> None:
    # Given Q -> (R | R2 -> Q2 -> R3), the branch shown ending at R3
    conversation, question, reply = a_conversation(owner)
    second = Message.objects.create(user=owner, conversation=conversation, parent=question, role="assistant", content="R2")
    follow = Message.objects.create(user=owner, conversation=conversation, parent=second, role="user", content="Q2")
    end = Message.objects.create(user=owner, conversation=conversation, parent=follow, role="assistant", content="R3")
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=end)
    client = api_client_for(owner)

    # When the second reply is deleted
    response = client.delete(f"/api/messages/{second.pk}")

    # Then the messages below it are gone and the first reply's branch is shown
    assert response.status_code == 200
    assert set(Message.objects.filter(conversation=conversation).values_list("id", flat=True)) == {question.pk, reply.pk}
    assert Conversation.objects.get(pk=conversation.pk).current_leaf_id == reply.pk
    listed = client.get(f"/api/messages/?conversation_id={conversation.pk}").json()["data"]["messages"]
    assert [(m["content"], m["sibling_ids"]) for m in listed] == [("Q", [question.pk]), ("R", [reply.pk])]


def test_a_turns_set_up_reads_a_long_branch_in_a_fixed_number_of_queries(
    owner: Any, django_assert_max_num_queries: Any, settings: Any
) -> None:
    # Given a branch of 150 messages, and prices kept in memory as in production (the
    # suite reads them every time)
    settings.LUXX_PRICE_CACHE_SECONDS = 60.0
    from chat import services

    conversation, _, parent = a_conversation(owner)
    for index in range(148):
        role = "user" if index % 2 == 0 else "assistant"
        parent = Message.objects.create(user=owner, conversation=conversation, parent=parent, role=role, content=f"m{index}")
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=parent)

    # (A first turn elsewhere opens the user's usage account and reads the model's price:
    # once per user and once a minute per model, not per turn.)
    warm_up = Conversation.objects.create(user=owner, provider=conversation.provider, model=conversation.model)
    services.turn_prepare(user=owner, conversation_id=warm_up.pk, content="hello")

    # When a turn is prepared, then the queries do not grow with the history
    with django_assert_max_num_queries(9):
        prepared = services.turn_prepare(user=owner, conversation_id=conversation.pk, content="next")
    assert [m["content"] for m in prepared.spec.messages][-3:] == ["m146", "m147", "next"]
    assert len(prepared.spec.messages) == 151


def test_a_turn_without_a_current_leaf_continues_the_newest_message_read_with_the_conversation(owner: Any) -> None:
    # Given a conversation whose messages have no current leaf (its leaf was deleted)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat import services
    from tests.chat.test_retry import make_provider_row

    conversation = Conversation.objects.create(user=owner, provider=make_provider_row(owner), model="m")
    first = Message.objects.create(user=owner, conversation=conversation, role="user", content="a")
    newest = Message.objects.create(user=owner, conversation=conversation, parent=first, role="assistant", content="b")

    # When a turn is prepared
    with CaptureQueriesContext(connection) as captured:
        prepared = services.turn_prepare(user=owner, conversation_id=conversation.pk, content="c")

    # Then the new message continues the newest one, found by the conversation's own query
    assert Message.objects.get(pk=prepared.user_message_id).parent_id == newest.pk
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert sum('FROM "chat_message"' in sql for sql in reads) == 1, reads  # no lookup of its own (the history reads "chat_message m")
    assert 'FROM "chat_conversation"' in reads[0] and 'FROM "chat_message"' in reads[0]
