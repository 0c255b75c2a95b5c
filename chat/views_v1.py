"""Conversations in the v1 (agent-platform) dialect: ``data:`` lines of type token/done/error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import serializers as s
from chat import services
from chat.models import MessageStatus
from chat.streaming import Heartbeat, StepEvent, TurnFinished, run_turn
from chat.views import SSE_RESPONSE
from luxx.api import LuxxPagination, ok, paginate, validated
from luxx.asyncapi import documented_by, drf_request, error_response
from luxx.db import run_db
from luxx.sse import KEEPALIVE, sse_frame, sse_response


class V1ConversationCreateView(APIView):
    @extend_schema(
        tags=["v1 conversations"],
        summary="Create a conversation with an agent (v1)",
        request=s.V1ConversationInput,
        responses=s.V1ConversationSerializer,
    )
    def post(self, request: Request) -> Response:
        data = validated(s.V1ConversationInput, request.data)
        conversation = services.conversation_create(user=request.user, agent_id=data["agent_id"], title=data.get("title") or None)  # type: ignore[arg-type]
        return ok(s.V1ConversationSerializer(conversation).data)


async def v1_event_stream(prepared: services.PreparedTurn) -> AsyncIterator[bytes]:
    """Only the reply's text goes out, as ``token`` lines; thinking and tool steps are kept
    in the stored message but are not part of this dialect."""
    async with aclosing(run_turn(prepared)) as batches:
        async for batch in batches:
            frames = []
            for event in batch:
                if isinstance(event, StepEvent):
                    if event.piece["type"] == "text":
                        frames.append(sse_frame(None, {"type": "token", "content": event.piece["content"]}))
                elif isinstance(event, Heartbeat):
                    frames.append(KEEPALIVE)
                elif isinstance(event, TurnFinished):
                    if event.status == MessageStatus.ERROR:
                        frames.append(sse_frame(None, {"type": "error", "content": event.error}))
                    else:
                        done: dict[str, object] = {"type": "done", "message_id": event.message_id, "usage": event.usage}
                        if event.citations:
                            done["citations"] = list(event.citations)
                        frames.append(sse_frame(None, done))
            if frames:
                yield b"".join(frames)


class V1MessagesView(APIView):
    """History (GET) and the schema of sending (POST); requests are served by :func:`v1_messages`."""

    default_page_size = 50
    # For the schema: the history is paginated ({items, total, page, page_size}).
    pagination_class = LuxxPagination

    @extend_schema(
        tags=["v1 conversations"], summary="Conversation history: the current branch (v1)", responses=s.V1MessageSerializer(many=True)
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        conversation = services.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        messages = services.branch_messages(conversation=conversation)
        return ok(paginate(request, messages, s.V1MessageSerializer, default_page_size=50))

    @extend_schema(
        tags=["v1 conversations"],
        summary="Send a message; the reply streams as `data:` lines of type token, done or error (v1)",
        request=s.V1SendInput,
        responses=SSE_RESPONSE,
    )
    def post(self, request: Request, conversation_id: str) -> object:
        raise MethodNotAllowed("POST")  # never routed: v1_messages serves it


_history_view = V1MessagesView.as_view()


def _prepare_stream(request: HttpRequest, conversation_id: str) -> services.PreparedTurn:
    api_request = drf_request(request)
    data = validated(s.V1SendInput, api_request.data)
    return services.turn_prepare(user=api_request.user, conversation_id=conversation_id, content=data["content"])  # type: ignore[arg-type]


@documented_by(V1MessagesView)
async def v1_messages(request: HttpRequest, conversation_id: str) -> HttpResponseBase:
    if request.method != "POST":
        response: HttpResponseBase = await run_db(_history_view, request, conversation_id=conversation_id)
        return response
    try:
        prepared = await run_db(_prepare_stream, request, conversation_id)
    except Exception as error:
        return error_response(request, error)
    return sse_response(v1_event_stream(prepared))
