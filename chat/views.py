"""Conversations and messages (Luxx dialect). Streaming replies are SSE: every check that
can fail runs before the stream starts and answers as a normal error response."""

from __future__ import annotations

from collections.abc import AsyncIterator

from asgiref.sync import async_to_sync
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.cancellation import stop_bus
from chat import selectors, services
from chat import serializers as s
from chat.models import Message, MessageRole, MessageStatus
from chat.streaming import Heartbeat, Retrying, StepEvent, TurnFinished, collect_turn, run_turn
from luxx.api import Conflict, LuxxPagination, UpstreamError, ok, paginate, parse_positive_int, validated
from luxx.asyncapi import documented_by, drf_request, error_response
from luxx.db import run_db
from luxx.fields import CONVERSATION_ID_PATTERN
from luxx.schema import SSE_EVENT_SCHEMA
from luxx.sse import KEEPALIVE, sse_frame, sse_response

SSE_RESPONSE = {(200, "text/event-stream"): SSE_EVENT_SCHEMA}


class ConversationListView(APIView):
    pagination_class = LuxxPagination

    @extend_schema(
        tags=["conversations"],
        summary="List conversations",
        parameters=[
            OpenApiParameter("project_id", str, required=False),
            OpenApiParameter("search", str, required=False, description="Only conversations whose title contains this text (any case)."),
        ],
        responses=s.ConversationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        conversations = selectors.conversation_list(
            user=request.user,  # type: ignore[arg-type]
            project_id=request.query_params.get("project_id"),
            search=request.query_params.get("search", "").strip()[:200],
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

    @extend_schema(tags=["conversations"], summary="Update a conversation", request=s.ConversationInput, responses=s.ConversationSerializer)
    def put(self, request: Request, conversation_id: str) -> Response:
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        data = validated(s.ConversationInput, request.data)
        conversation = services.conversation_update(conversation=conversation, user=request.user, **data)  # type: ignore[arg-type]
        return ok(s.ConversationSerializer(conversation).data, "Conversation updated")

    @extend_schema(tags=["conversations"], summary="Delete a conversation and its messages", responses={200: None})
    def delete(self, request: Request, conversation_id: str) -> Response:
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        conversation.delete()
        return ok(None, "Conversation deleted")


class MessageListView(APIView):
    luxx_query_params = True
    luxx_error_codes = {"POST": ["404", "409"]}

    @extend_schema(
        tags=["messages"],
        summary="Messages of a conversation (the latest `limit`, oldest first)",
        parameters=[
            OpenApiParameter("conversation_id", {"type": "string", "pattern": CONVERSATION_ID_PATTERN}, required=True),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, required=False),
        ],
        responses=s.MessageListOutput,
    )
    def get(self, request: Request) -> Response:
        conversation_id = request.query_params.get("conversation_id")
        if not conversation_id:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"conversation_id": ["This query parameter is required."]})
        limit = parse_positive_int(request, "limit", 100, maximum=1000)
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        messages = services.messages_for_listing(conversation=conversation, limit=limit)
        first = conversation.messages.filter(role=MessageRole.USER).order_by("created_at", "id").values_list("content", flat=True).first()
        return ok({"messages": s.MessageSerializer(messages, many=True).data, "title": conversation.title, "first_message": first})

    @extend_schema(
        tags=["messages"], summary="Send a message and wait for the whole reply", request=s.SendMessageInput, responses=s.SendMessageOutput
    )
    def post(self, request: Request) -> Response:
        data = validated(s.SendMessageInput, request.data)
        prepared = services.turn_prepare(
            user=request.user,  # type: ignore[arg-type]
            conversation_id=data["conversation_id"],
            content=data.get("content", ""),
            thinking_enabled=data.get("thinking_enabled"),
            enabled_tools=data.get("enabled_tools"),
            retry_message_id=data.get("retry_message_id"),
            attachments=data.get("attachments"),
        )
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


async def luxx_event_stream(prepared: services.PreparedTurn) -> AsyncIterator[bytes]:
    """The Luxx dialect's SSE: ``process_step`` pieces (and ``retrying`` while the model is
    retried before its first token), then ``done`` or ``error``."""
    async for batch in run_turn(prepared):
        frames = []
        for event in batch:
            if isinstance(event, StepEvent):
                frames.append(sse_frame("process_step", {"step": event.piece}))
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
                    frames.append(sse_frame("error", {"content": event.error, "message_id": event.message_id}))
                else:
                    done = {"message_id": event.message_id, "token_count": event.token_count, "usage": event.usage, "status": event.status}
                    if event.citations:
                        done["citations"] = list(event.citations)
                    frames.append(sse_frame("done", done))
        yield b"".join(frames)


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
            "the conversation is regenerated: its user message is reused and the named reply is replaced by the new one."
        ),
        request=s.SendMessageInput,
        responses=SSE_RESPONSE,
    )
    def post(self, request: Request) -> object:
        raise MethodNotAllowed("POST")  # never routed: message_stream serves it


def _prepare_stream(request: HttpRequest) -> services.PreparedTurn:
    api_request = drf_request(request)
    data = validated(s.SendMessageInput, api_request.data)
    return services.turn_prepare(
        user=api_request.user,  # type: ignore[arg-type]
        conversation_id=data["conversation_id"],
        content=data.get("content", ""),
        thinking_enabled=data.get("thinking_enabled"),
        enabled_tools=data.get("enabled_tools"),
        retry_message_id=data.get("retry_message_id"),
        attachments=data.get("attachments"),
    )


@documented_by(MessageStreamView)
async def message_stream(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return error_response(request, MethodNotAllowed(request.method or ""))
    try:
        prepared = await run_db(_prepare_stream, request)
    except Exception as error:
        return error_response(request, error)
    return sse_response(luxx_event_stream(prepared))


class MessageDetailView(APIView):
    @extend_schema(tags=["messages"], summary="Delete a message", responses={200: None})
    def delete(self, request: Request, message_id: str) -> Response:
        message = services.message_get(user=request.user, message_id=message_id)  # type: ignore[arg-type]
        if message.status == MessageStatus.STREAMING:
            raise Conflict(_("The message is still being generated: stop it first."))
        message.delete()
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
