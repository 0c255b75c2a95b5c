"""Prepared queries give what their queryset gives, on both databases, for any values."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Exists, OuterRef

from agents.models import Agent, Provider
from chat.models import Conversation, Message, MessageRole
from luxx.prepared import PreparedQuery
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
