"""Writes on conversations and messages, and the preparation of a chat turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import exceptions

from accounts.models import User
from agents.llm import ProviderConfig
from agents.models import Agent, Provider
from agents.runtime import TurnSpec
from agents.selectors import provider_get_default
from chat.background import default_titles
from chat.context import estimate_tokens, history_within_budget
from chat.models import Conversation, Message, MessageRole, MessageStatus
from luxx.api import Conflict, NotFound
from luxx.db import first_unordered, write_transaction
from toolbox.registry import ToolContext, registry
from usage import services as usage
from usage.limits import Reservation

MAX_CONTENT_CHARS = 100_000


def _field_error(field_name: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field_name: [message]})


def _usable_provider(*, user: User, provider_id: int, field_name: str = "provider_id") -> Provider:
    provider = Provider.objects.usable_by(user).filter(pk=provider_id).first()
    if provider is None:
        raise _field_error(field_name, f"Unknown provider {provider_id}.")
    if not provider.enabled:
        raise _field_error(field_name, f"The provider {provider.name} is disabled.")
    return provider


def default_provider_for(user: User) -> Provider | None:
    """See agents.selectors.provider_get_default()."""
    return provider_get_default(user=user)


def _owned_agent(*, user: User, agent_id: int, field_name: str = "agent_id") -> Agent:
    agent = Agent.objects.owned_by(user).select_related("provider").filter(pk=agent_id).first()
    if agent is None:
        raise _field_error(field_name, f"Unknown agent {agent_id}.")
    return agent


def _check_tools(*, user: User, names: list[str]) -> list[str]:
    """The tool names, each known (built in, or from a source the user can see)."""
    unknown = [name for name in names if registry.get(name, user_id=user.pk) is None]
    if unknown:
        raise _field_error("enabled_tools", f"Unknown tools: {', '.join(unknown)}.")
    return list(dict.fromkeys(names))


def last_tool_choice(*, user: User) -> list[str] | None:
    """The tools the user chose last (in their most recently updated conversation with a
    choice), or None when they never chose. One query on the (user, -updated_at) index."""
    return (
        Conversation.objects.owned_by(user)
        .filter(enabled_tools__isnull=False)
        .order_by("-updated_at")
        .values_list("enabled_tools", flat=True)
        .first()
    )


def conversation_create(
    *,
    user: User,
    title: str | None = None,
    project_id: str | None = None,
    provider_id: int | None = None,
    agent_id: int | None = None,
    model: str | None = None,
    system_prompt: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    thinking_enabled: bool | None = None,
    enabled_tools: list[str] | None = None,
) -> Conversation:
    """Create a conversation. An agent's settings are the defaults; then the named or the
    user's default provider, whose ``default_model`` applies when no model is named.
    Without ``enabled_tools`` an agent's chat uses the agent's tools, any other chat the
    user's last choice of tools."""
    agent = _owned_agent(user=user, agent_id=agent_id) if agent_id is not None else None
    if enabled_tools is not None:
        enabled_tools = _check_tools(user=user, names=enabled_tools)
    elif agent is None:
        enabled_tools = last_tool_choice(user=user)
    if provider_id is not None:
        provider: Provider | None = _usable_provider(user=user, provider_id=provider_id)
    elif agent is not None and agent.provider_id is not None and agent.provider and agent.provider.enabled:
        provider = agent.provider
    else:
        provider = default_provider_for(user)
    if provider is None:
        raise _field_error("provider_id", _("No model provider is available: add a provider first, or name provider_id."))
    chosen_model = model or (agent.model if agent else "") or provider.default_model
    if not chosen_model:
        raise _field_error("model", f"Name a model: the provider {provider.name} has no default model.")
    conversation = Conversation(
        user=user,
        project_id=project_id or None,
        provider=provider,
        agent=agent,
        model=chosen_model,
        system_prompt=system_prompt if system_prompt is not None else "",
        temperature=temperature if temperature is not None else (agent.temperature if agent else 0.7),
        max_tokens=max_tokens if max_tokens is not None else (agent.max_tokens if agent else 2000),
        thinking_enabled=bool(thinking_enabled),
        enabled_tools=enabled_tools,
    )
    if title:
        conversation.title = title
        conversation.title_is_custom = True
    elif agent is not None:
        conversation.title = agent.name
    conversation.save()
    return conversation


def conversation_update(*, conversation: Conversation, user: User, **changes: Any) -> Conversation:
    if "provider_id" in changes:
        provider_id = changes.pop("provider_id")
        conversation.provider = _usable_provider(user=user, provider_id=provider_id) if provider_id is not None else None
    if "agent_id" in changes:
        agent_id = changes.pop("agent_id")
        conversation.agent = _owned_agent(user=user, agent_id=agent_id) if agent_id is not None else None
    if "title" in changes:
        conversation.title = changes.pop("title") or conversation.title
        conversation.title_is_custom = True
    if changes.get("enabled_tools") is not None:
        changes["enabled_tools"] = _check_tools(user=user, names=changes["enabled_tools"])
    for name, value in changes.items():
        setattr(conversation, name, value)
    conversation.save()
    return conversation


def conversation_get(*, user: User, conversation_id: str) -> Conversation:
    conversation = first_unordered(
        Conversation.objects.owned_by(user).select_related("provider", "provider__user", "agent").filter(pk=conversation_id)
    )
    if conversation is None:
        raise NotFound(_("Conversation not found."))
    return conversation


def message_get(*, user: User, message_id: str) -> Message:
    message = first_unordered(Message.objects.owned_by(user).filter(pk=message_id))
    if message is None:
        raise NotFound(_("Message not found."))
    return message


def _system_prompt_for(conversation: Conversation, user: User) -> str:
    if conversation.system_prompt:
        return conversation.system_prompt
    agent = conversation.agent
    if agent is None or not agent.system_prompt:
        return ""
    from agents.prompts import render_system_prompt

    return render_system_prompt(agent.system_prompt, user_name=user.nickname or user.username, agent_name=agent.name, today=date.today())


def _history(conversation: Conversation) -> list[Message]:
    return list(
        conversation.messages.exclude(status=MessageStatus.STREAMING)
        .only("role", "content", "status", "created_at")
        .order_by("-created_at", "-id")[:200]
    )[::-1]


@dataclass(slots=True)
class PreparedTurn:
    """Everything a chat turn needs, as plain data, prepared in one synchronous unit."""

    conversation_id: str
    user_id: int
    user_message_id: str
    assistant_message_id: str
    spec: TurnSpec
    # The conversation still had a default title: the reply asks for one (chat/tasks.py).
    title_is_default: bool
    citations: list[dict[str, Any]] = field(default_factory=list)
    # What the usage limits admitted; settled by the reply's final write.
    reservation: Reservation | None = None


def _latest_message_id(conversation: Conversation) -> str | None:
    return conversation.messages.order_by("-created_at", "-id").values_list("id", flat=True).first()


def _retry_target(*, user: User, conversation: Conversation, message_id: str) -> tuple[Message, Message]:
    """The reply ``message_id`` names and the user message it answers, checked: the
    conversation's latest message, an assistant reply, not being generated."""
    reply = Message.objects.owned_by(user).filter(pk=message_id, conversation=conversation).first()
    if reply is None:
        raise NotFound(_("Message not found."))
    if reply.role != MessageRole.ASSISTANT:
        raise _field_error("retry_message_id", _("Only an assistant reply can be regenerated."))
    if reply.status == MessageStatus.STREAMING:
        raise Conflict(_("The reply is still being generated: stop it first."))
    if _latest_message_id(conversation) != reply.pk:
        raise Conflict(_("Only the latest reply of the conversation can be regenerated."))
    question = conversation.messages.filter(role=MessageRole.USER, created_at__lte=reply.created_at).order_by("-created_at", "-id").first()
    if question is None:
        raise _field_error("retry_message_id", _("This reply answers no user message."))
    return reply, question


def turn_prepare(
    *,
    user: User,
    conversation_id: str,
    content: str = "",
    thinking_enabled: bool | None = None,
    enabled_tools: list[str] | None = None,
    retry_message_id: str | None = None,
) -> PreparedTurn:
    """Check everything that can fail before the model is called, save the user message,
    and create the assistant message with status ``streaming``.

    With ``retry_message_id`` the turn regenerates the conversation's latest reply: the
    user message it answered is reused (not saved again) and the named reply is deleted
    in the same transaction that creates its replacement."""
    conversation = conversation_get(user=user, conversation_id=conversation_id)
    retried: tuple[Message, Message] | None = None
    if retry_message_id is not None:
        retried = _retry_target(user=user, conversation=conversation, message_id=retry_message_id)
        content = retried[1].content
    if not content.strip():
        raise _field_error("content", _("The message is empty."))
    if len(content) > MAX_CONTENT_CHARS:
        raise _field_error("content", f"The message is too long ({len(content)} characters; at most {MAX_CONTENT_CHARS}).")
    provider = conversation.provider
    if provider is None or not provider.enabled:
        provider = default_provider_for(user)
    if provider is None:
        raise _field_error("conversation_id", _("This conversation has no usable model provider: add one in settings."))
    model = conversation.model or provider.default_model
    if not model:
        raise _field_error("model", _("This conversation names no model and its provider has no default model."))
    # Tools named by the request are the conversation's choice from now on; without them,
    # the conversation's last choice, or an agent's chat the agent's tools.
    chosen_tools = _check_tools(user=user, names=enabled_tools) if enabled_tools is not None else None
    if chosen_tools is not None:
        enabled_tools = chosen_tools
    elif conversation.enabled_tools is not None:
        enabled_tools = list(conversation.enabled_tools)
    elif conversation.agent is not None and conversation.agent.enabled_tools:
        enabled_tools = list(conversation.agent.enabled_tools)
    tools = registry.for_request(permission_level=user.permission_level, enabled=enabled_tools or [], user_id=user.pk)
    thinking = conversation.thinking_enabled if thinking_enabled is None else thinking_enabled
    max_tokens = max(1, min(conversation.max_tokens, provider.max_tokens))
    system_prompt = _system_prompt_for(conversation, user)

    # The question's embedding (when an embeddings provider is set) is recorded by the
    # set-up's transaction below, not by one of its own.
    with usage.usage_deferred() as embedding_usage:
        system_prompt, citations = _with_knowledge(system_prompt, user=user, agent_id=conversation.agent_id, query=content)

    with write_transaction():
        if retried is None:
            earlier = _history(conversation)
            user_message = Message.objects.create(
                user=user, conversation=conversation, role=MessageRole.USER, content=content, token_count=estimate_tokens(content)
            )
        else:
            failed, user_message = retried
            # Deleting answers who won when two retries of the same reply race: the
            # loser deletes nothing. The reply must also still be the latest message.
            if (
                _latest_message_id(conversation) != failed.pk
                or not Message.objects.filter(pk=failed.pk).exclude(status=MessageStatus.STREAMING).delete()[0]
            ):
                raise Conflict(_("The reply changed in the meantime: reload the conversation."))
            earlier = [m for m in _history(conversation) if m.pk != user_message.pk]
        assistant = Message.objects.create(
            user=user, conversation=conversation, role=MessageRole.ASSISTANT, status=MessageStatus.STREAMING, model=model
        )
        remembered = {"enabled_tools": chosen_tools} if chosen_tools is not None and chosen_tools != conversation.enabled_tools else {}
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=assistant.created_at, **remembered)
        budget = provider.context_window - max_tokens - estimate_tokens(system_prompt)
        history = history_within_budget([*earlier, user_message], budget)
        # The limits, last: a refusal (429) undoes the messages saved above.
        reservation = usage.reserve_for_turn(
            user=user,
            provider_id=provider.pk,
            model=model,
            prompt_estimate=usage.prompt_estimate(system_prompt, history),
            max_tokens=max_tokens,
            stream=True,
        )
        usage.ledger_write(embedding_usage)

    spec = TurnSpec(
        provider=ProviderConfig.from_provider(provider),
        model=model,
        messages=history,
        system_prompt=system_prompt,
        temperature=conversation.temperature,
        max_tokens=max_tokens,
        thinking=thinking,
        tools=tools,
        tool_context=ToolContext.for_user(user, conversation_id=conversation.pk, agent_id=conversation.agent_id, message_id=assistant.pk),
    )
    return PreparedTurn(
        conversation_id=conversation.pk,
        user_id=user.pk,
        user_message_id=user_message.pk,
        assistant_message_id=assistant.pk,
        spec=spec,
        title_is_default=not conversation.title_is_custom and conversation.title in default_titles(conversation),
        citations=citations,
        reservation=reservation,
    )


def _with_knowledge(system_prompt: str, *, user: User, agent_id: int | None, query: str) -> tuple[str, list[dict[str, Any]]]:
    """When the chat has documents (the agent's, or the user's for every chat), put the
    best chunks into the context as numbered sources and return the citations the reply
    will carry. A chat without documents costs one indexed EXISTS query."""
    from knowledge import services as knowledge

    if not knowledge.chat_has_documents(user_id=user.pk, agent_id=agent_id):
        return system_prompt, []
    chunks = knowledge.knowledge_retrieve(user_id=user.pk, agent_id=agent_id, query=query, top_k=5)
    if not chunks:
        return system_prompt, []
    sources = knowledge.format_sources_for_prompt(chunks)
    guidance = "Answer from the sources below when they are relevant, and cite them as [n]."
    combined = "\n\n".join(part for part in (system_prompt, guidance, sources) if part)
    return combined, knowledge.citations_from(chunks)


def messages_for_listing(*, conversation: Conversation, limit: int) -> list[Message]:
    return list(conversation.messages.order_by("-created_at", "-id")[:limit])[::-1]
