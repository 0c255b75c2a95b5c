"""Writes on conversations and messages, and the preparation of a chat turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _
from rest_framework import exceptions

from accounts.models import User
from agents.llm import ProviderConfig
from agents.models import Agent, Provider
from agents.runtime import TurnSpec
from agents.selectors import provider_get_default
from chat import selectors
from chat.background import default_titles
from chat.context import estimate_tokens, history_within_budget
from chat.models import Conversation, Message, MessageRole, MessageStatus
from files import context as files_context
from files.vision import model_accepts_images
from luxx.api import Conflict, NotFound
from luxx.db import first_unordered, write_transaction
from luxx.prepared import PreparedInsert, PreparedQuery
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
    if "current_leaf_id" in changes:
        conversation.current_leaf_id = _branch_leaf(user=user, conversation=conversation, message_id=changes.pop("current_leaf_id"))
    for name, value in changes.items():
        setattr(conversation, name, value)
    conversation.save()
    return conversation


def _branch_leaf(*, user: User, conversation: Conversation, message_id: str) -> str:
    """The leaf to show when the user picks a message: the end of the most recently
    active branch below it."""
    message = _message_of(user=user, conversation=conversation, message_id=message_id, field_name="current_leaf_id")
    return selectors.newest_leaf_under(conversation_id=conversation.pk, message_id=message.pk) or message.pk


# The two messages of every turn: inserted by a statement built once (luxx.prepared).
_NEW_MESSAGE = PreparedInsert(Message)


def _owned_conversation(user_id: int, conversation_id: str) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(user_id=user_id, pk=conversation_id)
        .select_related("provider", "provider__user", "agent")
        .order_by()[:1]
    )


def _turn_conversation(user_id: int, conversation_id: str) -> QuerySet[Conversation]:
    """The conversation, whether the chat has documents to answer from (``has_documents``),
    and its newest message (``newest_message_id``, the leaf when it has no current one)."""
    from knowledge.services import chat_documents_exist

    return _owned_conversation(user_id, conversation_id).annotate(
        has_documents=chat_documents_exist(user_id=OuterRef("user_id"), agent_id=OuterRef("agent_id")),
        newest_message_id=Subquery(selectors.newest_first(conversation_id=OuterRef("pk")).values("id")[:1]),
    )


# The conversation of most chat requests, and of every turn: compiled once (luxx.prepared).
_OWNED_CONVERSATION = PreparedQuery(_owned_conversation, user_id=int, conversation_id=str)
_TURN_CONVERSATION = PreparedQuery(_turn_conversation, user_id=int, conversation_id=str)


def conversation_get(*, user: User, conversation_id: str, for_turn: bool = False) -> Conversation:
    """The user's conversation, or 404. ``for_turn`` also reads ``has_documents`` and
    ``newest_message_id`` (see ``_turn_conversation``)."""
    query = _TURN_CONVERSATION if for_turn else _OWNED_CONVERSATION
    conversation: Conversation | None = query.first(user_id=user.pk, conversation_id=conversation_id)
    if conversation is None:
        raise NotFound(_("Conversation not found."))
    return conversation


def message_get(*, user: User, message_id: str) -> Message:
    message = first_unordered(Message.objects.owned_by(user).filter(pk=message_id))
    if message is None:
        raise NotFound(_("Message not found."))
    return message


def message_delete(*, message: Message) -> None:
    """Delete a message and its replies below it (the tree's cascade). When the current
    branch went through it, the newest branch below its parent becomes the current one."""
    with write_transaction():
        conversation_id, parent_id = message.conversation_id, message.parent_id
        message.delete()
        if conversation_id is None:
            return
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).only("current_leaf_id").first()
        if conversation is None or conversation.current_leaf_id is not None:
            return
        leaf = selectors.newest_leaf_under(conversation_id=conversation_id, message_id=parent_id) if parent_id else None
        Conversation.objects.filter(pk=conversation_id).update(current_leaf_id=leaf)


def _system_prompt_for(conversation: Conversation, user: User) -> str:
    if conversation.system_prompt:
        return conversation.system_prompt
    agent = conversation.agent
    if agent is None or not agent.system_prompt:
        return ""
    from agents.prompts import render_system_prompt

    return render_system_prompt(agent.system_prompt, user_name=user.nickname or user.username, agent_name=agent.name, today=date.today())


HISTORY_LIMIT = 200


def _history(conversation: Conversation, *, parent_id: str | None) -> list[Message]:
    """What the model sees before a new message: the path from the root to its parent
    (its last ``HISTORY_LIMIT`` messages), without replies still being generated."""
    path = selectors.message_path(
        conversation_id=conversation.pk, leaf_id=parent_id, limit=HISTORY_LIMIT, columns=selectors.HISTORY_COLUMNS
    )
    return [m for m in path if m.status != MessageStatus.STREAMING]


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


_UNSET: Any = object()


def _message_of(*, user: User, conversation: Conversation, message_id: str, field_name: str) -> Message:
    """A message the caller names for a turn: theirs (else 404) and of this conversation
    (else 400)."""
    message = Message.objects.owned_by(user).filter(pk=message_id).first()
    if message is None:
        raise NotFound(_("Message not found."))
    if message.conversation_id != conversation.pk:
        raise _field_error(field_name, _("This message belongs to another conversation."))
    return message


def _retry_target(*, user: User, conversation: Conversation, message_id: str) -> tuple[Message, Message]:
    """The reply ``message_id`` names and the user message it answers, checked: the end of
    the conversation's current branch, an assistant reply, not being generated."""
    reply = Message.objects.owned_by(user).filter(pk=message_id, conversation=conversation).first()
    if reply is None:
        raise NotFound(_("Message not found."))
    if reply.role != MessageRole.ASSISTANT:
        raise _field_error("retry_message_id", _("Only an assistant reply can be regenerated."))
    if reply.status == MessageStatus.STREAMING:
        raise Conflict(_("The reply is still being generated: stop it first."))
    if selectors.current_leaf_id(conversation) != reply.pk:
        raise Conflict(_("Only the latest reply of the conversation can be regenerated."))
    question = _question_of(reply, field_name="retry_message_id")
    return reply, question


def _question_of(reply: Message, *, field_name: str) -> Message:
    question = reply.parent if reply.parent_id is not None else None
    if question is None or question.role != MessageRole.USER:
        raise _field_error(field_name, _("This reply answers no user message."))
    return question


def _regenerate_target(*, user: User, conversation: Conversation, message_id: str) -> Message:
    """The user message whose reply ``message_id`` is to be answered again, checked: an
    assistant reply of the caller in this conversation, while nothing in it streams."""
    reply = _message_of(user=user, conversation=conversation, message_id=message_id, field_name="regenerate_message_id")
    if reply.role != MessageRole.ASSISTANT:
        raise _field_error("regenerate_message_id", _("Only an assistant reply can be regenerated."))
    return _question_of(reply, field_name="regenerate_message_id")


def _check_not_streaming(conversation: Conversation) -> None:
    if conversation.messages.filter(status=MessageStatus.STREAMING).exists():
        raise Conflict(_("A reply of this conversation is still being generated: wait for it or stop it first."))


def turn_prepare(
    *,
    user: User,
    conversation_id: str,
    content: str = "",
    thinking_enabled: bool | None = None,
    enabled_tools: list[str] | None = None,
    retry_message_id: str | None = None,
    regenerate_message_id: str | None = None,
    parent_id: str | None = _UNSET,
    attachments: list[str] | None = None,
) -> PreparedTurn:
    """Check everything that can fail before the model is called, save the user message,
    and create the assistant message with status ``streaming``; it becomes the
    conversation's current leaf.

    The user message is a child of ``parent_id`` (None: a new first message, as when the
    first message is edited), or of the current leaf when ``parent_id`` is not given.
    With ``regenerate_message_id`` no user message is saved: a new reply to the same user
    message is created beside the named one. With ``retry_message_id`` the turn
    regenerates the conversation's latest reply: the user message it answered is reused
    and the named reply is deleted in the same transaction that creates its replacement.
    The model sees only the path from the root to the new message.

    ``attachments`` are file ids (files/): resolved with the path's earlier attachments
    in one query inside the set-up transaction (see files.context.turn_files); a
    regenerated or retried turn sends its user message's files again."""
    conversation = conversation_get(user=user, conversation_id=conversation_id, for_turn=True)
    retried: tuple[Message, Message] | None = None
    question: Message | None = None
    if retry_message_id is not None:
        retried = _retry_target(user=user, conversation=conversation, message_id=retry_message_id)
        content = retried[1].content
        attachments = _attachment_ids(retried[1])
    elif regenerate_message_id is not None:
        question = _regenerate_target(user=user, conversation=conversation, message_id=regenerate_message_id)
        content = question.content
        attachments = _attachment_ids(question)
    elif parent_id is _UNSET:
        parent_id = selectors.current_leaf_id(conversation)
    elif parent_id is not None:
        parent_id = _message_of(user=user, conversation=conversation, message_id=parent_id, field_name="parent_id").pk
    attachments = list(dict.fromkeys(attachments or ()))
    if not content.strip() and not attachments:
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
        system_prompt, citations = _with_knowledge(
            system_prompt,
            user=user,
            agent_id=conversation.agent_id,
            query=content,
            has_documents=conversation.has_documents,  # type: ignore[attr-defined]  # the annotation
        )

    budget = provider.context_window - max_tokens - estimate_tokens(system_prompt)

    def files_for(earlier: list[Message], *, replayed: bool) -> files_context.TurnFiles:
        return _attachments_for_turn(
            user=user,
            conversation=conversation,
            provider=provider,
            model=model,
            ids=attachments,
            earlier=earlier,
            budget=budget,
            citations=citations,
            replayed=replayed,
        )

    with write_transaction():
        if retried is not None:
            failed, user_message = retried
            # Deleting answers who won when two retries of the same reply race: the
            # loser deletes nothing. The reply must also still be the current leaf.
            if (
                _locked_leaf_id(conversation) != failed.pk
                or not Message.objects.filter(pk=failed.pk).exclude(status=MessageStatus.STREAMING).delete()[0]
            ):
                raise Conflict(_("The reply changed in the meantime: reload the conversation."))
            earlier = _history(conversation, parent_id=user_message.parent_id)
            attached = files_for(earlier, replayed=True)
        elif question is not None:
            # Checked under the conversation's lock, so two regenerations cannot both start.
            _locked_leaf_id(conversation)
            _check_not_streaming(conversation)
            user_message = question
            earlier = _history(conversation, parent_id=question.parent_id)
            attached = files_for(earlier, replayed=True)
        else:
            earlier = _history(conversation, parent_id=parent_id)
            attached = files_for(earlier, replayed=False)
            user_message = _NEW_MESSAGE.create(
                user=user,
                conversation=conversation,
                parent_id=parent_id,
                role=MessageRole.USER,
                content=content,
                token_count=estimate_tokens(content),
                attachments=attached.new,
            )
        attached.current_id = user_message.pk
        history = history_within_budget([*earlier, user_message], budget, expand=attached.expand)
        # The reply keeps what the turn reserves, for the sweep to settle should its
        # process die; the reservation is admitted last (below).
        prompt_tokens = usage.prompt_estimate(system_prompt, history)
        reservation = usage.turn_cost_reservation(
            user=user, provider_id=provider.pk, model=model, prompt_estimate=prompt_tokens, max_tokens=max_tokens, stream=True
        )
        assistant = _NEW_MESSAGE.create(
            user=user,
            conversation=conversation,
            parent=user_message,
            role=MessageRole.ASSISTANT,
            status=MessageStatus.STREAMING,
            model=model,
            usage_reserved=usage.reservation_data(reservation, provider_id=provider.pk, prompt_tokens=prompt_tokens),
        )
        remembered = {"enabled_tools": chosen_tools} if chosen_tools is not None and chosen_tools != conversation.enabled_tools else {}
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=assistant.created_at, current_leaf=assistant, **remembered)
        # The limits, last: a refusal (429) undoes the messages saved above, and the
        # user's counters stay locked only until the commit (every turn of theirs waits).
        # The question's embedding is settled after the admission, which creates the
        # counters of a user's first turn.
        admitted = usage.reservation_admit(user=user, reservation=reservation)
        if admitted != reservation:  # planned before midnight, admitted after
            reservation = admitted
            Message.objects.filter(pk=assistant.pk).update(
                usage_reserved=usage.reservation_data(reservation, provider_id=provider.pk, prompt_tokens=prompt_tokens)
            )
        usage.ledger_write(embedding_usage)

    citations = [*citations, *attached.citations]
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


def _attachment_ids(message: Message) -> list[str]:
    """The file ids a message was sent with."""
    return [item["id"] for item in message.attachments or () if isinstance(item, dict) and "id" in item]


def _locked_leaf_id(conversation: Conversation) -> str | None:
    """The current leaf, read with the conversation's row locked until the transaction
    ends (PostgreSQL; SQLite's writes are serialized anyway)."""
    leaf = Conversation.objects.select_for_update().filter(pk=conversation.pk).values_list("current_leaf_id", flat=True).first()
    return leaf or selectors.newest_message_id(conversation_id=conversation.pk)


def _attachments_for_turn(
    *,
    user: User,
    conversation: Conversation,
    provider: Provider,
    model: str,
    ids: list[str],
    earlier: list[Message],
    budget: int,
    citations: list[dict[str, Any]],
    replayed: bool = False,
) -> files_context.TurnFiles:
    """The turn's files (files.context.TurnFiles), checked: a model that does not accept
    images is a 400 naming it when the new message has images. Inside the set-up
    transaction: one query for the files, one for the model's capability when images are
    involved, one update when new files join the conversation; none without attachments."""
    attached = files_context.turn_files(
        user_id=user.pk,
        conversation_id=conversation.pk,
        new_ids=ids,
        earlier=earlier,
        budget=budget,
        doc_budget=max(500, min(int(settings.LUXX_ATTACHMENT_CONTEXT_TOKENS), budget // 2)),
        first_citation=len(citations) + 1,
        replayed=replayed,
    )
    if any(f.kind == "image" for f in attached.files.values()):
        attached.vision = model_accepts_images(provider_id=provider.pk, provider_type=provider.provider_type, model=model)
        if attached.new_has_images and not attached.vision:
            raise _field_error(
                "attachments",
                _("The model %(model)s does not accept images: choose a model that does, or send the message without them.")
                % {"model": model},
            )
    files_context.claim(conversation_id=conversation.pk, files=attached)
    return attached


def _with_knowledge(
    system_prompt: str, *, user: User, agent_id: int | None, query: str, has_documents: bool
) -> tuple[str, list[dict[str, Any]]]:
    """When the chat has documents (the agent's, or the user's for every chat: read with
    the conversation, see ``_turn_conversation``), put the best chunks into the context as
    numbered sources and return the citations the reply will carry."""
    from knowledge import services as knowledge

    if not query.strip():
        return system_prompt, []  # a message of attachments alone: nothing to search for
    if not has_documents:
        return system_prompt, []
    chunks = knowledge.knowledge_retrieve(user_id=user.pk, agent_id=agent_id, query=query, top_k=5)
    if not chunks:
        return system_prompt, []
    sources = knowledge.format_sources_for_prompt(chunks)
    guidance = "Answer from the sources below when they are relevant, and cite them as [n]."
    combined = "\n\n".join(part for part in (system_prompt, guidance, sources) if part)
    return combined, knowledge.citations_from(chunks)


def messages_for_listing(*, conversation: Conversation, limit: int, tree: bool = False) -> tuple[list[Message], dict[str, list[str]]]:
    """The messages a client shows, with each one's ``sibling_ids``: the path from the root
    to the current leaf (its last ``limit``), or with ``tree`` every message in creation
    order. Two queries either way."""
    if tree:
        messages = list(conversation.messages.order_by("created_at", "id"))
        return messages, selectors.sibling_ids_in(messages)
    messages = selectors.message_path(conversation_id=conversation.pk, leaf_id=selectors.current_leaf_id(conversation), limit=limit)
    return messages, selectors.sibling_ids_of(conversation_id=conversation.pk, messages=messages)


def branch_messages(*, conversation: Conversation) -> list[Message]:
    """Every message of the current branch, root first (the v1 dialect's history)."""
    return selectors.message_path(conversation_id=conversation.pk, leaf_id=selectors.current_leaf_id(conversation), limit=100_000)
