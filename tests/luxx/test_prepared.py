"""Prepared queries give what their queryset gives, and prepared inserts store what create()
stores, on both databases, for any values."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Exists, F, OuterRef
from django.db.models.signals import post_save

from agents.models import Agent, Provider
from chat.models import Conversation, Message, MessageRole, MessageStatus
from luxx.prepared import PreparedInsert, PreparedQuery
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db

CONVERSATION = PreparedQuery(
    lambda user_id, conversation_id: (
        Conversation.objects.filter(user_id=user_id, pk=conversation_id)
        .select_related("provider", "provider__user", "agent")
        .annotate(has_messages=Exists(Message.objects.filter(conversation=OuterRef("pk"))))
        .order_by()[:1]
    ),
    user_id=int,
    conversation_id=str,
)


def _fields(instance: Any) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def _setup() -> tuple[Any, Conversation, Conversation]:
    user = make_user(username="owner")
    provider = Provider.objects.create(user=user, name="p", provider_type="openai", base_url="http://127.0.0.1:9/v1", default_model="m")
    agent = Agent.objects.create(user=user, name="Helper", provider=provider, model="m", enabled_tools=["web_search"])
    full = Conversation.objects.create(
        user=user, provider=provider, agent=agent, model="m", enabled_tools=["python", "中文"], thinking_enabled=True, temperature=0.3
    )
    Message.objects.create(user=user, conversation=full, role=MessageRole.USER, content="hi")
    bare = Conversation.objects.create(user=user, model="m")
    return user, full, bare


def test_a_prepared_query_gives_what_the_queryset_gives(django_assert_num_queries: Any) -> None:
    user, full, bare = _setup()

    for conversation in (full, bare, full):
        expected = (
            Conversation.objects.filter(pk=conversation.pk)
            .select_related("provider", "provider__user", "agent")
            .annotate(has_messages=Exists(Message.objects.filter(conversation=OuterRef("pk"))))
            .get()
        )
        with django_assert_num_queries(1):
            got = CONVERSATION.first(user_id=user.pk, conversation_id=conversation.pk)
            related = (got.provider, got.provider.user if got.provider else None, got.agent)

        assert _fields(got) == _fields(expected)
        assert got.has_messages == expected.has_messages  # type: ignore[attr-defined]
        assert [_fields(r) if r else None for r in related] == [
            _fields(r) if r else None for r in (expected.provider, expected.provider.user if expected.provider else None, expected.agent)
        ]
    assert got.enabled_tools == ["python", "中文"] and got.thinking_enabled is True
    assert got.created_at.tzinfo is not None


def test_each_run_binds_its_own_values() -> None:
    user, full, bare = _setup()
    stranger = make_user(username="stranger")

    assert CONVERSATION.first(user_id=user.pk, conversation_id=bare.pk).pk == bare.pk
    assert CONVERSATION.first(user_id=stranger.pk, conversation_id=full.pk) is None
    assert CONVERSATION.first(user_id=user.pk, conversation_id="conv_missing") is None
    assert CONVERSATION.first(user_id=str(user.pk), conversation_id=full.pk).pk == full.pk


def test_a_values_list_query_gives_converted_tuples() -> None:
    _, full, _ = _setup()
    newest = PreparedQuery(
        lambda conversation_id: (
            Message.objects.filter(conversation_id=conversation_id).order_by("-created_at").values_list("id", "created_at")
        ),
        conversation_id=str,
    )

    rows = list(newest.run(conversation_id=full.pk))

    assert rows == list(Message.objects.filter(conversation=full).order_by("-created_at").values_list("id", "created_at"))
    assert rows[0][1].tzinfo is not None


def test_a_value_that_does_not_become_a_parameter_is_refused() -> None:
    ignoring = PreparedQuery(lambda conversation_id: Conversation.objects.all(), conversation_id=str)

    with pytest.raises(ValueError, match="conversation_id"):
        ignoring.first(conversation_id="conv_x")


def test_values_must_be_the_ones_declared() -> None:
    with pytest.raises(TypeError):
        CONVERSATION.first(user_id=1)
    with pytest.raises(TypeError):
        PreparedQuery(lambda when: Conversation.objects.filter(created_at=when), when=float).first(when=1.0)


def test_constants_of_any_kind_stay_in_the_query() -> None:
    _, full, bare = _setup()
    by_tools = PreparedQuery(
        lambda conversation_id: Conversation.objects.filter(pk=conversation_id, enabled_tools=["python", "中文"], temperature=0.3),
        conversation_id=str,
    )

    assert by_tools.first(conversation_id=full.pk).pk == full.pk
    assert by_tools.first(conversation_id=bare.pk) is None


NEW_MESSAGE = PreparedInsert(Message)


def test_a_prepared_insert_stores_what_create_stores(django_assert_num_queries: Any) -> None:
    user, conversation, _ = _setup()
    values = {
        "user": user,
        "conversation": conversation,
        "role": MessageRole.ASSISTANT,
        "status": MessageStatus.STREAMING,
        "content": "text ü 中文 'quoted'",
        "attachments": [{"id": "file_1", "name": "a.png"}],
        "usage_reserved": {"tokens": 12, "nested": [1, None, "x"]},
        "token_count": 7,
        "model": "m",
    }
    with django_assert_num_queries(1):
        prepared = NEW_MESSAGE.create(**values)
    made = Message.objects.create(**values)

    assert prepared.pk.startswith("msg_") and prepared.created_at is not None and not prepared._state.adding
    stored, expected = Message.objects.get(pk=prepared.pk), Message.objects.get(pk=made.pk)
    differ = {"id", "created_at", "updated_at"}
    assert {k: v for k, v in _fields(stored).items() if k not in differ} == {k: v for k, v in _fields(expected).items() if k not in differ}
    assert stored.created_at == prepared.created_at and stored.updated_at == prepared.updated_at
    child = NEW_MESSAGE.create(user=user, conversation=conversation, parent=prepared, role=MessageRole.USER, content="next")
    assert Message.objects.get(pk=child.pk).parent_id == prepared.pk


def test_a_prepared_insert_refuses_what_it_cannot_insert_as_create_would() -> None:
    user, conversation, _ = _setup()
    with pytest.raises(ValueError, match="key is not made in Python"):
        PreparedInsert(Provider)
    with pytest.raises(TypeError, match="not query expressions"):
        NEW_MESSAGE.create(user=user, conversation=conversation, role=MessageRole.USER, token_count=F("token_count") + 1)

    def receiver(**kwargs: Any) -> None:
        pass

    post_save.connect(receiver, sender=Message)
    try:
        with pytest.raises(ValueError, match="save signal receivers"):
            NEW_MESSAGE.create(user=user, conversation=conversation, role=MessageRole.USER, content="hi")
    finally:
        post_save.disconnect(receiver, sender=Message)
