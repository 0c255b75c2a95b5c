"""Chat rooms (Luxx dialect). Starting streams the run as server-sent events."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.models import Message
from luxx.api import LuxxPagination, ok, paginate, validated
from luxx.db import release_request_connection
from luxx.schema import SSE_EVENT_SCHEMA
from luxx.sse import sse_response
from rooms import serializers as s
from rooms import services
from rooms.eventstream import channel_name, current_id, follow_run, last_event_id, observe
from rooms.models import ChatRoom
from rooms.orchestrator import TERMINAL_EVENTS

SSE_RESPONSE = {(200, "text/event-stream"): SSE_EVENT_SCHEMA}


class StreamNegotiation(DefaultContentNegotiation):
    """SSE clients send ``Accept: text/event-stream``; the stream is not rendered by DRF,
    and an error before it starts is the usual JSON envelope, so the header is not a 406."""

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


def _detail(room: ChatRoom) -> dict:
    room.message_count = Message.objects.filter(room=room).count()  # type: ignore[attr-defined]
    return s.RoomDetailSerializer(room).data


class RoomListView(APIView):
    pagination_class = LuxxPagination

    @extend_schema(tags=["chat rooms"], summary="List chat rooms", responses=s.RoomSerializer(many=True))
    def get(self, request: Request) -> Response:
        rooms = ChatRoom.objects.owned_by(request.user).prefetch_related("agents").order_by("-updated_at")
        return ok(paginate(request, rooms, s.RoomSerializer))

    @extend_schema(
        tags=["chat rooms"],
        summary="Create a chat room with its agents",
        request=s.RoomCreateInput,
        responses={201: s.RoomDetailSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.RoomCreateInput, request.data)
        room = services.room_create(user=request.user, **data)
        return ok(_detail(room), "Room created", 201)


class RoomDetailView(APIView):
    luxx_error_codes = {"PUT": ["409"], "DELETE": ["409"]}

    @extend_schema(tags=["chat rooms"], summary="Get a chat room", responses=s.RoomDetailSerializer)
    def get(self, request: Request, room_id: str) -> Response:
        return ok(_detail(services.room_get(user=request.user, room_id=room_id)))

    @extend_schema(tags=["chat rooms"], summary="Update a chat room", request=s.RoomUpdateInput, responses=s.RoomDetailSerializer)
    def put(self, request: Request, room_id: str) -> Response:
        room = services.room_get(user=request.user, room_id=room_id)
        room = services.room_update(room=room, data=validated(s.RoomUpdateInput, request.data))
        return ok(_detail(room), "Room updated")

    @extend_schema(tags=["chat rooms"], summary="Delete a chat room (not while it runs)", responses={200: None})
    def delete(self, request: Request, room_id: str) -> Response:
        services.room_delete(room=services.room_get(user=request.user, room_id=room_id))
        return ok(None, "Room deleted")


class RoomStartView(APIView):
    luxx_error_codes = {"POST": ["409", "429"]}
    content_negotiation_class = StreamNegotiation

    @extend_schema(
        tags=["chat rooms"],
        summary="Start (or resume) a room; its run streams as server-sent events",
        description="Events: room_started, round_start, message_start, message_chunk, message_end, message, round_end, "
        "room_completed, room_paused, agent_error (with the failed turn's `message_id`, an addition), error, and "
        "message_interrupted (a turn cut by a crash, spoken again). "
        "A room that works as a team (any of speaker_policy, termination, summarizer, human_turn set) also sends "
        "`speaker_selected` {room_id, round, agent, policy, reason, reason_code, fallback} before a turn of the selector, mention or "
        "moderator policy; `human_turn_requested` {room_id, round, reason: every_round|on_mention, agent} when the run "
        "waits for the owner's message (status `waiting`; this stream ends there, the run goes on after "
        "POST /messages); `human_message` {room_id, id, role, content, sender_name, sender_color, round_number}; "
        "`summary` {room_id, message_id, agent, content} after the summarizer's closing turn; and `room_completed` "
        "carries `reason` (max_rounds, max_messages, text_mention, token_budget, timeout_seconds, all, moderator) "
        "and `summary_message_id`. Every event's `type` is its name. "
        "The owner's usage limits hold for every model call of the run: a start over a token or cost limit is a 429 "
        "(as a chat request's); a call refused mid-run ends it, without a summary, with `room_completed` "
        "{reason: usage_limit, message} in any room (`message`, an addition: the limit in plain words, also sent when "
        "only the summary was refused). "
        "The run executes on a worker and goes on if this client disconnects; each frame has the `id` of the room's "
        "event channel, for resuming with GET /events and `Last-Event-ID`.",
        request=None,
        responses=SSE_RESPONSE,
    )
    def post(self, request: Request, room_id: str) -> object:
        room = services.room_get(user=request.user, room_id=room_id)
        # Read before the run is queued, so that its first event is the first one streamed.
        after = current_id(room.pk)
        services.room_claim_for_run(room_id=room.pk)
        release_request_connection()
        stream = follow_run(channel_name(room.pk), user_id=request.user.pk, after=after, ends_on=TERMINAL_EVENTS)  # type: ignore[arg-type]
        return sse_response(stream)


class RoomStopView(APIView):
    luxx_error_codes = {"POST": ["409"]}

    @extend_schema(tags=["chat rooms"], summary="Pause a running room after the current chunk", request=None, responses=s.RoomStopOutput)
    def post(self, request: Request, room_id: str) -> Response:
        room = services.room_get(user=request.user, room_id=room_id)
        status = services.room_request_stop(room=room)
        return ok({"room_id": room.pk, "status": status}, "Stop requested")


class RoomResetView(APIView):
    luxx_error_codes = {"POST": ["409"]}

    @extend_schema(
        tags=["chat rooms"],
        summary="Clear a room's messages and rounds",
        description="Observers get a `room_reset` event; a replay from before it is a `stream-reset`.",
        request=None,
        responses=s.RoomDetailSerializer,
    )
    def post(self, request: Request, room_id: str) -> Response:
        room = services.room_reset(room=services.room_get(user=request.user, room_id=room_id))
        return ok(_detail(room), "Room reset")


class RoomMessagesView(APIView):
    @extend_schema(
        tags=["chat rooms"],
        summary="The room owner speaks in the room",
        description="Adds the owner's message to the transcript (seen by every later speaker) and sends `human_message` "
        "to observers. A room waiting for it (status `waiting`, after `human_turn_requested`) runs on; in any other "
        "state the message is only added.",
        request=s.RoomHumanMessageInput,
        responses={201: s.RoomMessageSerializer},
    )
    def post(self, request: Request, room_id: str) -> Response:
        room = services.room_get(user=request.user, room_id=room_id)
        data = validated(s.RoomHumanMessageInput, request.data)
        if not data["content"].strip():
            raise ValidationError({"content": ["Write something."]})
        message = services.room_human_message(room=room, content=data["content"])
        return ok(s.RoomMessageSerializer(message).data, "Message added", 201)

    @extend_schema(
        tags=["chat rooms"],
        summary="A room's messages",
        description="A turn that failed has status `error` and the reason in `error` (addition).",
        responses=s.RoomMessagesOutput,
    )
    def get(self, request: Request, room_id: str) -> Response:
        room = services.room_get(user=request.user, room_id=room_id)
        messages = Message.objects.filter(room=room).order_by("created_at", "id")
        return ok({"messages": s.RoomMessageSerializer(messages, many=True).data, "room": _detail(room)})


class RoomAgentListView(APIView):
    luxx_error_codes = {"POST": ["409"]}

    @extend_schema(tags=["chat rooms"], summary="Add an agent to a room", request=s.RoomAgentInput, responses={201: s.RoomAgentSerializer})
    def post(self, request: Request, room_id: str) -> Response:
        room = services.room_get(user=request.user, room_id=room_id)
        seat = services.room_agent_add(user=request.user, room=room, spec=validated(s.RoomAgentInput, request.data))
        return ok(s.RoomAgentSerializer(seat).data, "Agent added", 201)


class RoomAgentDetailView(APIView):
    luxx_error_codes = {"PUT": ["409"], "DELETE": ["409"]}

    @extend_schema(tags=["chat rooms"], summary="Update a room agent", request=s.RoomAgentUpdateInput, responses=s.RoomAgentSerializer)
    def put(self, request: Request, room_id: str, agent_id: int) -> Response:
        room = services.room_get(user=request.user, room_id=room_id)
        seat = services.room_agent_get(room=room, room_agent_id=agent_id)
        seat = services.room_agent_update(room=room, seat=seat, data=validated(s.RoomAgentUpdateInput, request.data))
        return ok(s.RoomAgentSerializer(seat).data, "Agent updated")

    @extend_schema(tags=["chat rooms"], summary="Remove an agent from a room", responses={200: None})
    def delete(self, request: Request, room_id: str, agent_id: int) -> Response:
        room = services.room_get(user=request.user, room_id=room_id)
        services.room_agent_remove(room=room, seat=services.room_agent_get(room=room, room_agent_id=agent_id))
        return ok(None, "Agent removed")


class RoomEventsView(APIView):
    content_negotiation_class = StreamNegotiation

    @extend_schema(
        tags=["chat rooms"],
        summary="Observe a room: its events, live, from whichever server process runs it",
        description="The same events as /start, from a django-eventstream channel, whichever server process "
        "runs the room: each frame has an `id`; reconnecting with that id in `Last-Event-ID` (or "
        "`?lastEventId=`) replays exactly the events missed since. Replay reaches back an hour after the room's "
        "last event (LUXX_ROOM_EVENTS_TTL); beyond it a `stream-reset` event says to reload `/messages`. "
        "A reset sends `room_reset` (clear the transcript) and starts the replay afresh: a replay from before "
        "it is a `stream-reset`. Owner only.",
        parameters=[OpenApiParameter("Last-Event-ID", str, OpenApiParameter.HEADER, required=False)],
        responses=SSE_RESPONSE,
    )
    def get(self, request: Request, room_id: str) -> HttpResponseBase:
        room = services.room_get(user=request.user, room_id=room_id)
        channel = channel_name(room.pk)
        header = request.headers.get("Last-Event-ID") or request.query_params.get("lastEventId")
        try:
            after = last_event_id(header, channel)
        except ValueError as error:
            raise ValidationError({"Last-Event-ID": [f"Cannot read {header!r}."]}) from error
        release_request_connection()
        return sse_response(observe(channel, user_id=request.user.pk, after=after))  # type: ignore[arg-type]
