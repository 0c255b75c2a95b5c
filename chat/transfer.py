"""Conversations in and out: Luxx's JSON export (the whole tree), a readable Markdown
export (the current branch), and imports of Luxx exports and of the ``conversations.json``
of a ChatGPT data export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework import exceptions

from accounts.models import User
from agents.selectors import provider_get_default
from chat import selectors
from chat.models import Conversation, Message, MessageRole, MessageStatus
from luxx.db import write_transaction
from luxx.text import estimate_tokens
from toolbox.registry import registry

EXPORT_FORMAT = "luxx.conversation"
EXPORT_VERSION = 1
MAX_IMPORT_CONVERSATIONS = 10_000
MAX_MESSAGE_CHARS = 1_000_000
_STEP_TYPES = {"thinking", "text", "tool_call", "tool_result"}


# --- export ---------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def conversation_export(*, conversation: Conversation) -> dict[str, Any]:
    """The whole tree of a conversation as plain JSON data, every message with its process
    steps, citations and usage (creation order: parents before their children)."""
    messages = list(conversation.messages.order_by("created_at", "id"))
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _iso(timezone.now()),
        "conversation": {
            "id": conversation.pk,
            "title": conversation.title,
            "model": conversation.model,
            "system_prompt": conversation.system_prompt,
            "temperature": conversation.temperature,
            "max_tokens": conversation.max_tokens,
            "thinking_enabled": conversation.thinking_enabled,
            "enabled_tools": conversation.enabled_tools,
            "project_id": conversation.project_id,
            "current_leaf_id": selectors.current_leaf_id(conversation),
            "created_at": _iso(conversation.created_at),
            "updated_at": _iso(conversation.updated_at),
        },
        "messages": [
            {
                "id": m.pk,
                "parent_id": m.parent_id,
                "role": m.role,
                "content": m.content,
                "process_steps": m.process_steps,
                "citations": m.citations,
                "attachments": m.attachments,
                "usage": m.usage,
                "token_count": m.token_count,
                "status": m.status,
                "error": m.error,
                "model": m.model,
                "created_at": _iso(m.created_at),
            }
            for m in messages
        ],
    }


def _fence(text: str, info: str = "") -> str:
    """A fenced block that the text cannot close: longer than any backtick run in it."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _markdown_reply(message: Message) -> list[str]:
    parts: list[str] = []
    for step in message.process_steps or []:
        kind = step.get("type")
        if kind == "thinking" and step.get("content"):
            quoted = "\n".join(f"> {line}" if line else ">" for line in str(step["content"]).split("\n"))
            parts.append(f"> **{_('Thinking')}**\n>\n{quoted}")
        elif kind == "tool_call":
            arguments = json.dumps(step.get("arguments"), ensure_ascii=False, indent=2)
            parts.append(f"**{_('Tool call')}** `{step.get('name', '')}`\n\n{_fence(arguments, 'json')}")
        elif kind == "tool_result":
            label = _("Tool result") if step.get("success", True) else _("Tool failed")
            parts.append(f"**{label}** `{step.get('name', '')}`\n\n{_fence(str(step.get('content', '')))}")
        elif kind == "text" and step.get("content"):
            parts.append(str(step["content"]))
    if not message.process_steps and message.content:
        parts.append(message.content)
    if message.status not in (MessageStatus.COMPLETE, MessageStatus.STREAMING):
        note = message.error or message.status
        parts.append(f"*({_('Reply ended')}: {note})*")
    if message.citations:
        sources = [
            f"{index}. {c.get('document_name', '')}" + (f", p. {c['page']}" if c.get("page") else "")
            for index, c in enumerate(message.citations, 1)
        ]
        parts.append(f"**{_('Sources')}**\n\n" + "\n".join(sources))
    return parts


def conversation_markdown(*, conversation: Conversation) -> str:
    """The current branch of a conversation as readable Markdown."""
    path = selectors.message_path(conversation_id=conversation.pk, leaf_id=selectors.current_leaf_id(conversation), limit=100_000)
    lines = [f"# {conversation.title}", ""]
    lines.append(f"*{_('Exported from Luxx')} · {timezone.localtime().strftime('%Y-%m-%d %H:%M')} · {conversation.model}*")
    if conversation.system_prompt:
        lines += ["", f"**{_('System prompt')}**", "", _fence(conversation.system_prompt)]
    for message in path:
        heading = _("User") if message.role == MessageRole.USER else _("Assistant")
        lines += ["", "---", "", f"## {heading}", ""]
        if message.role == MessageRole.USER:
            lines.append(message.content)
        else:
            lines.append("\n\n".join(_markdown_reply(message)))
    return "\n".join(lines).rstrip() + "\n"


# --- import ---------------------------------------------------------------------------


class ImportRefused(exceptions.ValidationError):
    """The file as a whole cannot be imported (400), and nothing was created."""

    def __init__(self, message: str) -> None:
        super().__init__({"file": [message]})


@dataclass(slots=True)
class _Node:
    """A message to create, before its ids are known."""

    key: str
    parent_key: str | None
    role: str
    content: str
    created_at: datetime
    process_steps: list[dict[str, Any]] = field(default_factory=list)
    citations: list[Any] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    token_count: int = 0
    status: str = MessageStatus.COMPLETE
    error: str = ""
    model: str = ""


@dataclass(slots=True)
class _Parsed:
    """One conversation read from a file, ready to be created."""

    title: str
    nodes: list[_Node]
    leaf_key: str | None
    created_at: datetime
    model: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    skipped_messages: int = 0


class _Skip(Exception):
    """This conversation of the file cannot be imported (the others can)."""


@dataclass(slots=True)
class ImportSummary:
    conversations: list[Conversation]
    messages: int
    skipped: list[dict[str, Any]]
    skipped_messages: int
    source: str


def conversations_import(*, user: User, data: bytes) -> ImportSummary:
    """Create the conversations of a Luxx export or of a ChatGPT ``conversations.json``,
    owned by ``user``, in one transaction. Conversations that cannot be read are skipped
    with the reason; a file of which nothing can be imported is refused whole."""
    if not data.strip():
        raise ImportRefused(_("The file is empty."))
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportRefused(_("The file is not UTF-8 text: export it again from Luxx or ChatGPT.")) from None
    except json.JSONDecodeError as error:
        raise ImportRefused(
            _("The file is not valid JSON (line %(line)s, column %(column)s).") % {"line": error.lineno, "column": error.colno}
        ) from None
    source, items = _recognise(document)
    if len(items) > MAX_IMPORT_CONVERSATIONS:
        raise ImportRefused(_("The file holds more than %(n)s conversations.") % {"n": MAX_IMPORT_CONVERSATIONS})
    parsed: list[_Parsed] = []
    skipped: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        title = item.get("title") if isinstance(item, dict) else None
        if isinstance(item, dict) and isinstance(item.get("conversation"), dict):
            title = item["conversation"].get("title")
        try:
            parsed.append(_parse_luxx(item) if source == "luxx" else _parse_chatgpt(item))
        except _Skip as reason:
            skipped.append({"index": index, "title": title if isinstance(title, str) else None, "reason": str(reason)})
    if not parsed:
        reasons = "; ".join(f"{s['index'] + 1}: {s['reason']}" for s in skipped[:3])
        raise ImportRefused(_("Nothing in the file could be imported (%(reasons)s).") % {"reasons": reasons})
    provider = provider_get_default(user=user)
    with write_transaction():
        created = _create_all(user=user, parsed=parsed, provider=provider)
    return ImportSummary(
        conversations=created,
        messages=sum(len(p.nodes) for p in parsed),
        skipped=skipped,
        skipped_messages=sum(p.skipped_messages for p in parsed),
        source=source,
    )


def _recognise(document: Any) -> tuple[str, list[Any]]:
    """Which kind of file this is, and its conversations."""
    items = document if isinstance(document, list) else [document]
    if not items:
        raise ImportRefused(_("The file holds no conversations."))
    first = items[0]
    if isinstance(first, dict) and first.get("format") == EXPORT_FORMAT:
        return "luxx", items
    if isinstance(first, dict) and "mapping" in first:
        return "chatgpt", items
    raise ImportRefused(_("This is neither a Luxx conversation export nor the conversations.json of a ChatGPT data export."))


def _when(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 32_503_680_000:
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        moment = parse_datetime(value)
        if moment is not None:
            return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)
    return fallback


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _Skip(_("%(what)s is not text.") % {"what": what})
    if len(value) > MAX_MESSAGE_CHARS:
        raise _Skip(_("%(what)s is longer than %(n)s characters.") % {"what": what, "n": MAX_MESSAGE_CHARS})
    return value.replace("\x00", "")


def _check_tree(nodes: list[_Node]) -> list[_Node]:
    """The nodes ordered parents first; a parent that is missing or a cycle skips the
    conversation."""
    by_key = {node.key: node for node in nodes}
    if len(by_key) != len(nodes):
        raise _Skip(_("Two messages have the same id."))
    children: dict[str | None, list[_Node]] = {}
    for node in nodes:
        if node.parent_key is not None and node.parent_key not in by_key:
            raise _Skip(_("A message names a parent that is not in the file."))
        children.setdefault(node.parent_key, []).append(node)
    ordered: list[_Node] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        node = stack.pop()
        ordered.append(node)
        stack.extend(reversed(children.get(node.key, [])))
    if len(ordered) != len(nodes):
        raise _Skip(_("The messages' parents form a cycle."))
    return ordered


def _parse_luxx(item: Any) -> _Parsed:
    if not isinstance(item, dict) or item.get("format") != EXPORT_FORMAT:
        raise _Skip(_("Not a Luxx conversation export."))
    if item.get("version") != EXPORT_VERSION:
        raise _Skip(_("Unknown export version %(version)s.") % {"version": item.get("version")})
    meta = item.get("conversation")
    raw_messages = item.get("messages")
    if not isinstance(meta, dict) or not isinstance(raw_messages, list):
        raise _Skip(_("The export has no conversation or no messages."))
    now = timezone.now()
    nodes: list[_Node] = []
    for raw in raw_messages:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise _Skip(_("A message has no id."))
        role = raw.get("role")
        if role not in (MessageRole.USER, MessageRole.ASSISTANT):
            raise _Skip(_("A message has the unknown role %(role)s.") % {"role": str(role)[:20]})
        parent = raw.get("parent_id")
        if parent is not None and not isinstance(parent, str):
            raise _Skip(_("A message's parent_id is not an id."))
        steps = raw.get("process_steps") or []
        if not isinstance(steps, list) or not all(isinstance(s, dict) and s.get("type") in _STEP_TYPES for s in steps):
            raise _Skip(_("A message's process steps are not valid."))
        citations, attachments, usage = raw.get("citations") or [], raw.get("attachments") or [], raw.get("usage")
        if not isinstance(citations, list) or not isinstance(attachments, list) or not (usage is None or isinstance(usage, dict)):
            raise _Skip(_("A message's citations, attachments or usage are not valid."))
        status = str(raw["status"]) if raw.get("status") in MessageStatus.values else MessageStatus.COMPLETE
        content = _text(raw.get("content", ""), _("A message's content"))
        token_count = raw.get("token_count")
        nodes.append(
            _Node(
                key=raw["id"],
                parent_key=parent,
                role=role,
                content=content,
                created_at=_when(raw.get("created_at"), now),
                process_steps=steps,
                citations=citations,
                # Attachments name files by id: another account's files, whose bytes the
                # export does not hold. They are not carried over.
                usage=usage,
                token_count=token_count if isinstance(token_count, int) and token_count >= 0 else estimate_tokens(content),
                # Nothing generates an imported reply any more.
                status=MessageStatus.INTERRUPTED if status == MessageStatus.STREAMING else status,
                error=str(raw.get("error") or ""),
                model=str(raw.get("model") or "")[:200],
            )
        )
    if not nodes:
        raise _Skip(_("The conversation has no messages."))
    ordered = _check_tree(nodes)
    leaf = meta.get("current_leaf_id")
    settings: dict[str, Any] = {}
    for name, kind in (("system_prompt", str), ("thinking_enabled", bool)):
        if isinstance(meta.get(name), kind):
            settings[name] = meta[name]
    if isinstance(meta.get("temperature"), (int, float)) and 0 <= meta["temperature"] <= 2:
        settings["temperature"] = float(meta["temperature"])
    if isinstance(meta.get("max_tokens"), int) and 1 <= meta["max_tokens"] <= 200_000:
        settings["max_tokens"] = meta["max_tokens"]
    tools = meta.get("enabled_tools")
    if isinstance(tools, list) and all(isinstance(t, str) for t in tools):
        settings["enabled_tools"] = tools
    return _Parsed(
        title=str(meta.get("title") or "Imported conversation")[:200],
        nodes=ordered,
        leaf_key=leaf if isinstance(leaf, str) and any(n.key == leaf for n in nodes) else None,
        created_at=_when(meta.get("created_at"), now),
        model=str(meta.get("model") or "")[:200],
        settings=settings,
    )


def _chatgpt_parts(content: dict[str, Any]) -> tuple[str, int]:
    """The text of a ChatGPT message's parts, and how many parts were not text (images,
    files: their bytes are not in conversations.json)."""
    texts: list[str] = []
    dropped = 0
    for part in content.get("parts") or []:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            dropped += 1
    return "\n".join(t for t in texts if t), dropped


def _chatgpt_walk(mapping: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The nodes of a ChatGPT mapping, parents before children, siblings in order."""
    roots = [key for key, node in mapping.items() if isinstance(node, dict) and not node.get("parent")]
    stack = list(reversed(roots))
    seen: set[str] = set()
    while stack:
        key = stack.pop()
        node = mapping.get(key)
        if key in seen or not isinstance(node, dict):
            continue
        seen.add(key)
        yield key, node
        children = node.get("children") or []
        stack.extend(reversed([c for c in children if isinstance(c, str)]))


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _parse_chatgpt(item: Any) -> _Parsed:
    """A ChatGPT conversation: its ``mapping`` is the tree (``parent``/``children``), one
    node per message; ``current_node`` the branch shown. User and assistant messages are
    kept; system, hidden and context messages are skipped (their children move up); an
    assistant's tool calls (``code`` to a ``recipient``), the tool's output and its
    ``thoughts`` become the steps of one reply, as in Luxx."""
    if not isinstance(item, dict) or not isinstance(item.get("mapping"), dict) or not item["mapping"]:
        raise _Skip(_("The conversation has no message tree (mapping)."))
    mapping: dict[str, Any] = item["mapping"]
    start = _when(item.get("create_time"), timezone.now())
    kept: dict[str, str | None] = {}  # ChatGPT node -> the Luxx node it became (or its nearest kept ancestor)
    nodes: dict[str, _Node] = {}
    skipped = 0
    offset = 0
    for key, raw in _chatgpt_walk(mapping):
        parent_raw = raw.get("parent")
        above = kept.get(parent_raw) if isinstance(parent_raw, str) else None
        kept[key] = above
        message = raw.get("message")
        if not isinstance(message, dict):
            continue  # the root placeholder
        offset += 1
        author = _object(message.get("author"))
        role = author.get("role")
        content = _object(message.get("content"))
        content_type = content.get("content_type")
        metadata = _object(message.get("metadata"))
        when = _when(message.get("create_time"), start + timedelta(microseconds=offset))
        if (
            metadata.get("is_visually_hidden_from_conversation")
            or role == "system"
            or content_type in ("user_editable_context", "model_editable_context")
        ):
            skipped += 1
            continue
        if role == "user":
            text, dropped = _chatgpt_parts(content) if content_type in ("text", "multimodal_text") else ("", 1)
            if dropped:
                skipped += 1
            if not text.strip():
                continue
            node = _Node(key=key, parent_key=above, role=MessageRole.USER, content=_text(text, _("A message")), created_at=when)
            nodes[key] = node
            kept[key] = key
            continue
        if role not in ("assistant", "tool"):
            skipped += 1
            continue
        reply = _chatgpt_reply_for(nodes, mapping, above, parent_raw, key, when, metadata)
        if not _chatgpt_add_step(reply, role=role, author=author, message=message, content=content):
            skipped += 1
        if reply.key not in nodes:
            if not reply.process_steps:
                continue
            nodes[reply.key] = reply
        kept[key] = reply.key
    for node in nodes.values():
        node.content = "".join(step["content"] for step in node.process_steps if step["type"] == "text") or node.content
        node.token_count = estimate_tokens(node.content)
    nodes = {key: node for key, node in nodes.items() if node.content or node.process_steps}
    if not nodes:
        raise _Skip(_("The conversation has no messages to import."))
    current = item.get("current_node")
    leaf = kept.get(current) if isinstance(current, str) else None
    models = [n.model for n in nodes.values() if n.model]
    title = item.get("title")
    return _Parsed(
        title=title[:200] if isinstance(title, str) and title.strip() else "Imported conversation",
        nodes=_check_tree(list(nodes.values())),
        leaf_key=leaf if leaf in nodes else None,
        created_at=start,
        model=str(item.get("default_model_slug") or (models[-1] if models else ""))[:200],
        skipped_messages=skipped,
    )


def _chatgpt_reply_for(
    nodes: dict[str, _Node],
    mapping: dict[str, Any],
    above: str | None,
    parent_raw: Any,
    key: str,
    when: datetime,
    metadata: dict[str, Any],
) -> _Node:
    """The reply an assistant or tool node belongs to: the reply it continues (its parent
    node belongs to it and has no other child), else a new one."""
    if above is not None and above in nodes and nodes[above].role == MessageRole.ASSISTANT and isinstance(parent_raw, str):
        siblings = (mapping.get(parent_raw) or {}).get("children") or []
        if len(siblings) == 1:
            return nodes[above]
    return _Node(
        key=key, parent_key=above, role=MessageRole.ASSISTANT, content="", created_at=when, model=str(metadata.get("model_slug") or "")
    )


def _chatgpt_add_step(reply: _Node, *, role: str, author: dict[str, Any], message: dict[str, Any], content: dict[str, Any]) -> bool:
    """Add what a ChatGPT node says to the reply's steps; False when it was left out."""
    content_type = content.get("content_type")
    index = len(reply.process_steps)
    step: dict[str, Any] = {"id": f"step-{index}", "index": index}
    if role == "assistant" and content_type == "thoughts":
        thoughts = content.get("thoughts") or []
        text = "\n\n".join(str(t.get("content", "")) for t in thoughts if isinstance(t, dict) and t.get("content"))
        if not text:
            return False
        step |= {"type": "thinking", "content": _text(text, _("A message"))}
    elif role == "assistant" and content_type == "code":
        recipient = str(message.get("recipient") or "tool")
        step |= {
            "type": "tool_call",
            "id_ref": str(message.get("id") or ""),
            "name": recipient,
            "arguments": {"code": str(content.get("text") or "")},
        }
    elif role == "tool":
        if content_type == "execution_output":
            text = str(content.get("text") or "")
        else:
            text, _dropped = _chatgpt_parts(content)
        if not text:
            return False
        calls = [s for s in reply.process_steps if s["type"] == "tool_call"]
        name = str(author.get("name") or (calls[-1]["name"] if calls else "tool"))
        step |= {
            "type": "tool_result",
            "id_ref": calls[-1]["id_ref"] if calls else "",
            "name": name,
            "content": _text(text, _("A message")),
            "success": True,
        }
    elif role == "assistant" and content_type in ("text", "multimodal_text") and message.get("recipient", "all") == "all":
        text, _dropped = _chatgpt_parts(content)
        if not text:
            return False
        step |= {"type": "text", "content": _text(text, _("A message"))}
    else:
        return False
    reply.process_steps.append(step)
    return True


def _create_all(*, user: User, parsed: list[_Parsed], provider: Any) -> list[Conversation]:
    """Create the conversations and all their messages in a few bulk statements, whatever
    their number (an export of thousands of conversations stays a handful of queries)."""
    conversations: list[Conversation] = []
    for item in parsed:
        tools = item.settings.pop("enabled_tools", None)
        if tools is not None and any(registry.get(name, user_id=user.pk) is None for name in tools):
            tools = None
        conversations.append(
            Conversation(
                user=user,
                title=item.title,
                title_is_custom=True,
                provider=provider,
                model=item.model or (provider.default_model if provider else ""),
                enabled_tools=tools,
                **item.settings,
            )
        )
    Conversation.objects.bulk_create(conversations, batch_size=500)
    rows: list[Message] = []
    for conversation, item in zip(conversations, parsed, strict=True):
        made: dict[str, Message] = {}
        for node in item.nodes:
            message = Message(
                user=user,
                conversation=conversation,
                parent=made[node.parent_key] if node.parent_key is not None else None,
                role=node.role,
                content=node.content,
                process_steps=node.process_steps,
                citations=node.citations,
                usage=node.usage,
                token_count=node.token_count,
                status=node.status,
                error=node.error,
                model=node.model,
            )
            made[node.key] = message
            rows.append(message)
        newest = max(item.nodes, key=lambda node: (node.created_at, made[node.key].pk))
        conversation.current_leaf_id = made[item.leaf_key or newest.key].pk
        conversation.created_at = item.created_at
        conversation.updated_at = max(item.created_at, newest.created_at)
        for node in item.nodes:
            made[node.key].created_at = node.created_at
    # Parents are created before their children (each conversation's nodes are ordered
    # so), then every message gets its own time back: created_at is set on insert
    # (auto_now_add), and it also orders siblings.
    times = [message.created_at for message in rows]
    Message.objects.bulk_create(rows, batch_size=500)
    for message, moment in zip(rows, times, strict=True):
        message.created_at = moment
    _set_times(Message._meta.db_table, [(m.pk, {"created_at": m.created_at}) for m in rows])
    _set_times(
        Conversation._meta.db_table,
        [(c.pk, {"created_at": c.created_at, "updated_at": c.updated_at, "current_leaf_id": c.current_leaf_id}) for c in conversations],
    )
    return conversations


def _set_times(table: str, rows: list[tuple[str, dict[str, Any]]], batch: int = 300) -> None:
    """``UPDATE … SET column = CASE id WHEN … END`` for many rows in one statement per batch
    (Django's bulk_update builds an expression per row: seconds for thousands of rows)."""
    if not rows:
        return
    timestamp = "CAST(%s AS timestamp with time zone)" if connection.vendor == "postgresql" else "%s"
    columns = list(rows[0][1])
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            assignments, params = [], []
            for column in columns:
                value_sql = "%s" if column.endswith("_id") else timestamp
                cases = " ".join(f"WHEN %s THEN {value_sql}" for _ in chunk)
                assignments.append(f"{connection.ops.quote_name(column)} = CASE {connection.ops.quote_name('id')} {cases} END")
                for pk, values in chunk:
                    value = values[column]
                    params += [pk, value if column.endswith("_id") else connection.ops.adapt_datetimefield_value(value)]
            placeholders = ", ".join("%s" for _ in chunk)
            quoted_id = connection.ops.quote_name("id")
            sql = f"UPDATE {connection.ops.quote_name(table)} SET {', '.join(assignments)} WHERE {quoted_id} IN ({placeholders})"
            cursor.execute(sql, [*params, *(pk for pk, _ in chunk)])
