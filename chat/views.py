"""Conversations and messages (Luxx dialect). Streaming replies are SSE: every check that
can fail runs before the stream starts and answers as a normal error response."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import MethodNotAllowed, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.cancellation import stop_bus
from chat import replies, selectors, services, transfer
from chat import serializers as s
from chat.events import Heartbeat, Retrying, StepEvent, TurnEvent, TurnFinished
from chat.models import Message, MessageRole, MessageStatus
from chat.streaming import collect_turn, run_turn
from luxx.api import Conflict, LuxxError, LuxxPagination, UpstreamError, ok, paginate, parse_positive_int, query_text, validated
from luxx.asyncapi import documented_by, drf_request, error_response
from luxx.db import run_db
from luxx.fields import CONVERSATION_ID_PATTERN
from luxx.schema import NO_NUL_PATTERN, SSE_EVENT_SCHEMA
from luxx.sse import KEEPALIVE, sse_frame, sse_response

SSE_RESPONSE = {(200, "text/event-stream"): SSE_EVENT_SCHEMA}
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around an uploaded file


def parse_flag(request: Request, name: str) -> bool:
    """A ``true``/``false`` query parameter (absent: false); anything else is a 400."""
    value = request.query_params.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise ValidationError({name: ["Must be true or false."]})
    return value == "true"


class ConversationListView(APIView):
    pagination_class = LuxxPagination

    @extend_schema(
        tags=["conversations"],
        summary="List conversations",
        parameters=[
            OpenApiParameter("project_id", {"type": "string", "pattern": NO_NUL_PATTERN}, required=False),
            OpenApiParameter(
                "search",
                {"type": "string", "pattern": NO_NUL_PATTERN},
                required=False,
                description="Only conversations whose title contains this text (any case).",
            ),
        ],
        responses=s.ConversationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        conversations = selectors.conversation_list(
            user=request.user,  # type: ignore[arg-type]
            project_id=query_text(request, "project_id"),
            search=(query_text(request, "search", "") or "").strip()[:200],
        )
        return ok(paginate(request, conversations, s.ConversationSerializer))

    @extend_schema(
        tags=["conversations"], summary="Create a conversation", request=s.ConversationInput, responses={201: s.ConversationSerializer}
    )
    def post(self, request: Request) -> Response:
        data = validated(s.ConversationInput, request.data)
        conversation = services.conversation_create(user=request.user, **data)  # type: ignore[arg-type]
        return ok(s.ConversationSerializer(conversation).data, "Conversation created", 201)


class ConversationDetailView(APIView):
    @extend_schema(tags=["conversations"], summary="Get a conversation", responses=s.ConversationSerializer)
    def get(self, request: Request, conversation_id: str) -> Response:
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        return ok(s.ConversationSerializer(conversation).data)

    @extend_schema(
        tags=["conversations"], summary="Update a conversation", request=s.ConversationUpdateInput, responses=s.ConversationSerializer
    )
    def put(self, request: Request, conversation_id: str) -> Response:
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        data = validated(s.ConversationUpdateInput, request.data)
        conversation = services.conversation_update(conversation=conversation, user=request.user, **data)  # type: ignore[arg-type]
        return ok(s.ConversationSerializer(conversation).data, "Conversation updated")

    @extend_schema(tags=["conversations"], summary="Delete a conversation and its messages", responses={200: None})
    def delete(self, request: Request, conversation_id: str) -> Response:
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        conversation.delete()
        return ok(None, "Conversation deleted")


class _AnyFormat(BaseContentNegotiation):
    """The export's ``format`` parameter names the file's format, not a DRF renderer."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class ConversationExportView(APIView):
    content_negotiation_class = _AnyFormat
    luxx_query_params = True  # format: a 400 for an unknown one
    luxx_raw_success = True

    @extend_schema(
        tags=["conversations"],
        summary="Export a conversation: JSON (the whole tree) or Markdown (the current branch)",
        description=(
            "Addition. `format=json` (default) is Luxx's export format: the conversation's settings and every message "
            "of its tree with `parent_id`, process steps, citations and usage; `POST /api/conversations/import` reads it "
            "back. `format=markdown` is the current branch as a readable document. Sent as a file download."
        ),
        parameters=[OpenApiParameter("format", {"type": "string", "enum": ["json", "markdown"]}, required=False)],
        responses={(200, "application/json"): s.ConversationExport, (200, "text/markdown"): OpenApiTypes.STR},
    )
    def get(self, request: Request, conversation_id: str) -> HttpResponse:
        file_format = request.query_params.get("format", "json")
        if file_format not in ("json", "markdown"):
            raise ValidationError({"format": ["Must be json or markdown."]})
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        if file_format == "json":
            body = json.dumps(transfer.conversation_export(conversation=conversation), ensure_ascii=False, indent=1)
            response = HttpResponse(body, content_type="application/json; charset=utf-8")
        else:
            response = HttpResponse(transfer.conversation_markdown(conversation=conversation), content_type="text/markdown; charset=utf-8")
        name = f"{_file_name(conversation.title)}.{'json' if file_format == 'json' else 'md'}"
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response


def _file_name(title: str) -> str:
    cleaned = re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", " ", title).strip(" .")
    return cleaned[:80] or "conversation"


class ConversationImportView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=["conversations"],
        summary="Import conversations from a Luxx export or a ChatGPT data export",
        description=(
            "Addition. Multipart `file`: a Luxx conversation export (`GET /api/conversations/{id}/export`) or the "
            "`conversations.json` of a ChatGPT data export. Every conversation in it is created for the caller, with its "
            "whole tree of messages and the branch that was shown; conversations that cannot be read are listed in "
            "`skipped` with the reason. A file that is not one of these, or of which nothing can be imported, is a 400 "
            "and creates nothing; one over `LUXX_MAX_UPLOAD_MB` a 413."
        ),
        request={"multipart/form-data": s.ImportInput},
        responses={201: s.ImportOutput},
    )
    def post(self, request: Request) -> Response:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.LUXX_MAX_UPLOAD_MB * 1024 * 1024
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise LuxxError(_too_large(), status_code=413)
        upload = validated(s.ImportInput, request.data)["file"]
        if upload.size > limit:
            raise LuxxError(_too_large(), status_code=413)
        summary = transfer.conversations_import(user=request.user, data=upload.read())  # type: ignore[arg-type]
        data = {
            "format": summary.source,
            "imported": len(summary.conversations),
            "messages": summary.messages,
            "skipped": summary.skipped,
            "skipped_messages": summary.skipped_messages,
            "conversations": s.ConversationSerializer(summary.conversations, many=True).data,
        }
        return ok(data, f"Imported {len(summary.conversations)} conversations", 201)


def _too_large() -> str:
    return _("The file is larger than %(limit)s MB.") % {"limit": settings.LUXX_MAX_UPLOAD_MB}


class MessageListView(APIView):
    luxx_query_params = True
    luxx_error_codes = {"GET": ["404"], "POST": ["404", "409"]}

    @extend_schema(
        tags=["messages"],
        summary="Messages of a conversation: the current branch (the latest `limit`, oldest first), or the whole tree",
        parameters=[
            OpenApiParameter("conversation_id", {"type": "string", "pattern": CONVERSATION_ID_PATTERN}, required=True),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, required=False),
            OpenApiParameter(
                "tree",
                {"type": "string", "enum": ["true", "false"]},
                required=False,
                description="Addition: `true` lists every message of the conversation in creation order (`limit` does not apply).",
            ),
        ],
        responses=s.MessageListOutput,
    )
    def get(self, request: Request) -> Response:
        conversation_id = request.query_params.get("conversation_id")
        if not conversation_id:
            raise ValidationError({"conversation_id": ["This query parameter is required."]})
        limit = parse_positive_int(request, "limit", 100, maximum=1000)
        tree = parse_flag(request, "tree")
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        messages, siblings = services.messages_for_listing(conversation=conversation, limit=limit, tree=tree)
        first = conversation.messages.filter(role=MessageRole.USER).order_by("created_at", "id").values_list("content", flat=True).first()
        items = s.MessageListItemSerializer(messages, many=True, context={"sibling_ids": siblings}).data
        return ok({"messages": items, "title": conversation.title, "first_message": first})

    @extend_schema(
        tags=["messages"], summary="Send a message and wait for the whole reply", request=s.SendMessageInput, responses=s.SendMessageOutput
    )
    def post(self, request: Request) -> Response:
        data = validated(s.SendMessageInput, request.data)
        prepared = services.turn_prepare(user=request.user, **_turn_arguments(data))  # type: ignore[arg-type]
        final = async_to_sync(collect_turn)(prepared)
        if final.status == MessageStatus.ERROR:
            raise UpstreamError(final.error)
        messages = {m.pk: m for m in Message.objects.filter(pk__in=[prepared.user_message_id, prepared.assistant_message_id])}
        return ok(
            {
                "user_message": s.MessageSerializer(messages[prepared.user_message_id]).data,
                "assistant_message": s.MessageSerializer(messages[prepared.assistant_message_id]).data,
            }
        )


def luxx_frames(batch: Sequence[TurnEvent]) -> bytes:
    """A batch of a reply's events in the Luxx dialect: ``process_step`` pieces (and
    ``retrying`` while the model is retried before its first token), then ``done`` or
    ``error``. Pieces and the end carry the reply's position as their ``id:``."""
    frames = []
    for event in batch:
        if isinstance(event, StepEvent):
            frames.append(sse_frame("process_step", {"step": event.piece}, event_id=str(event.position)))
        elif isinstance(event, Heartbeat):
            frames.append(KEEPALIVE)
        elif isinstance(event, Retrying):
            frames.append(
                sse_frame(
                    "retrying",
                    {
                        "attempt": event.attempt,
                        "max_attempts": event.max_attempts,
                        "delay_seconds": event.delay_seconds,
                        "reason": event.reason,
                    },
                )
            )
        elif isinstance(event, TurnFinished):
            if event.status == MessageStatus.ERROR:
                frames.append(sse_frame("error", {"content": event.error, "message_id": event.message_id}, event_id=str(event.position)))
            else:
                done = {"message_id": event.message_id, "token_count": event.token_count, "usage": event.usage, "status": event.status}
                if event.citations:
                    done["citations"] = list(event.citations)
                frames.append(sse_frame("done", done, event_id=str(event.position)))
    return b"".join(frames)


async def luxx_event_stream(prepared: services.PreparedTurn) -> AsyncIterator[bytes]:
    """The Luxx dialect's SSE of a new reply."""
    # Closed here, in the request, when the client goes away: the turn then runs on to its end.
    async with aclosing(run_turn(prepared)) as batches:
        async for batch in batches:
            yield luxx_frames(batch)


class MessageStreamView(APIView):
    """The schema of ``POST /api/messages/stream``; requests are served by :func:`message_stream`."""

    luxx_error_codes = {"POST": ["404", "409"]}

    @extend_schema(
        tags=["messages"],
        summary="Send a message; the reply streams as server-sent events",
        description=(
            "Events: `process_step` (`{step}`; the first event of a step id creates it, later events of a "
            "thinking/text step carry the next piece of content), `retrying` (`{attempt, max_attempts, delay_seconds, "
            "reason}`, before the first token, each time the model call is made again after a passing fault), "
            "`done` (`{message_id, token_count, usage, status}`; `usage.estimated` is true when the provider "
            "reported no usage, e.g. for a stopped reply), `error` (`{content, message_id}`). A comment line is "
            "sent every 15 s as a keep-alive. With `retry_message_id` (instead of `content`) the latest reply of "
            "the conversation is regenerated: its user message is reused and the named reply is replaced by the new one. "
            "With `regenerate_message_id` (instead of `content`) a new reply to the same user message is generated "
            "beside the named one (409 while a reply of the conversation is being generated). `parent_id` places the "
            "new user message under that message (an edit); the new reply becomes the current leaf, and the model sees "
            "only the path from the root to it. "
            "Each `process_step`, and the final `done` or `error`, has an `id`: the reply's position after it. The reply "
            "does not end when the client goes away (unless the server runs with LUXX_STOP_ON_DISCONNECT): a client that "
            "lost the stream follows the rest from `GET /api/messages/{id}/events` with that `id` as `Last-Event-ID`."
        ),
        request=s.SendMessageInput,
        responses=SSE_RESPONSE,
    )
    def post(self, request: Request) -> object:
        raise MethodNotAllowed("POST")  # never routed: message_stream serves it


def _turn_arguments(data: dict[str, Any]) -> dict[str, Any]:
    """services.turn_prepare()'s arguments from a validated SendMessageInput."""
    arguments = {
        "conversation_id": data["conversation_id"],
        "content": data.get("content", ""),
        "thinking_enabled": data.get("thinking_enabled"),
        "enabled_tools": data.get("enabled_tools"),
        "retry_message_id": data.get("retry_message_id"),
        "regenerate_message_id": data.get("regenerate_message_id"),
        "attachments": data.get("attachments"),
    }
    if "parent_id" in data:  # absent: continue the current branch; null: a new first message
        arguments["parent_id"] = data["parent_id"]
    return arguments


def _prepare_stream(request: HttpRequest) -> services.PreparedTurn:
    api_request = drf_request(request)
    data = validated(s.SendMessageInput, api_request.data)
    return services.turn_prepare(user=api_request.user, **_turn_arguments(data))  # type: ignore[arg-type]


@documented_by(MessageStreamView)
async def message_stream(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return error_response(request, MethodNotAllowed(request.method or ""))
    try:
        prepared = await run_db(_prepare_stream, request)
    except Exception as error:
        return error_response(request, error)
    return sse_response(luxx_event_stream(prepared))


class MessageEventsView(APIView):
    """The schema of ``GET /api/messages/{id}/events``; requests are served by :func:`message_events`."""

    luxx_error_codes = {"GET": ["400", "404"]}

    @extend_schema(
        tags=["messages"],
        summary="Follow a reply: what it streamed so far, then the rest live",
        description=(
            "The events of `POST /api/messages/stream` for one reply (`process_step`, then `done` or `error`), "
            "from whichever server process generates it. While it streams: what the client missed first, then "
            "the rest live; a finished reply: its steps and `done` at once. Every event's `id` is the reply's "
            "position after it; send the last one as `Last-Event-ID` to resume exactly after it (without it, the "
            "reply is sent from its start)."
        ),
        parameters=[
            OpenApiParameter(
                "Last-Event-ID",
                {"type": "string", "pattern": "^[0-9]{0,15}$"},
                OpenApiParameter.HEADER,
                required=False,
                description="The `id` of the last event received (empty: as if not sent).",
            ),
            OpenApiParameter(
                "lastEventId",
                {"type": "string", "pattern": "^[0-9]{0,15}$"},
                required=False,
                description="The same as `Last-Event-ID`, for clients that cannot set headers.",
            ),
        ],
        responses=SSE_RESPONSE,
    )
    def get(self, request: Request, message_id: str) -> object:
        raise MethodNotAllowed("GET")  # never routed: message_events serves it


def _last_event_id(request: HttpRequest) -> int:
    """The header's id, else the query's (either may be empty); each one given must be valid."""
    given = [value.strip() for value in (request.headers.get("Last-Event-ID"), request.GET.get("lastEventId")) if value is not None]
    if any(value and (not value.isascii() or not value.isdigit() or len(value) > 15) for value in given):
        raise LuxxError(_("Last-Event-ID must be the id of an event of this reply (a whole number)."))
    return int(next((value for value in given if value), "0"))


def _prepare_follow(request: HttpRequest, message_id: str) -> tuple[replies.StoredReply, int]:
    api_request = drf_request(request)
    after = _last_event_id(request)
    return replies.reply_for_follow(user=api_request.user, message_id=message_id), after  # type: ignore[arg-type]


async def _follow_stream(reply: replies.StoredReply, after: int) -> AsyncIterator[bytes]:
    async with aclosing(replies.follow(reply, after=after)) as batches:
        async for batch in batches:
            yield luxx_frames(batch)


@documented_by(MessageEventsView)
async def message_events(request: HttpRequest, message_id: str) -> HttpResponseBase:
    if request.method != "GET":
        return error_response(request, MethodNotAllowed(request.method or ""))
    try:
        reply, after = await run_db(_prepare_follow, request, message_id)
    except Exception as error:
        return error_response(request, error)
    return sse_response(_follow_stream(reply, after))


class MessageDetailView(APIView):
    @extend_schema(
        tags=["messages"],
        summary="Delete a message and the messages below it in the tree",
        description="When the branch shown passed through it, the newest branch below its parent is shown instead.",
        responses={200: None},
    )
    def delete(self, request: Request, message_id: str) -> Response:
        message = services.message_get(user=request.user, message_id=message_id)  # type: ignore[arg-type]
        if message.status == MessageStatus.STREAMING:
            raise Conflict(_("The message is still being generated: stop it first."))
        services.message_delete(message=message)
        return ok(None, "Message deleted")


class MessageStopView(APIView):
    luxx_error_codes = {"POST": ["409"]}

    @extend_schema(tags=["messages"], summary="Stop a reply being generated, wherever it runs", request=None, responses=s.StopOutput)
    def post(self, request: Request, message_id: str) -> Response:
        message = services.message_get(user=request.user, message_id=message_id)  # type: ignore[arg-type]
        if message.status != MessageStatus.STREAMING:
            raise Conflict(f"The message is not being generated (status {message.status}).")
        async_to_sync(stop_bus.request_stop)(message.pk)
        return ok({"message_id": message.pk, "status": "stopping"}, "Stop requested")
