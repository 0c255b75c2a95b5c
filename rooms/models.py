from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from luxx.ids import new_room_id


class RoomStatus(models.TextChoices):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ERROR = "error"
    WAITING = "waiting"  # for the room owner's message (``human_turn``)


class SpeakerPolicy(models.TextChoices):
    ROUND_ROBIN = "round_robin"
    SELECTOR = "selector"
    MENTION = "mention"
    MODERATOR = "moderator"


class HumanTurn(models.TextChoices):
    NEVER = "never"
    EVERY_ROUND = "every_round"
    ON_MENTION = "on_mention"


class ChatRoomQuerySet(models.QuerySet["ChatRoom"]):
    def owned_by(self, user: Any) -> ChatRoomQuerySet:
        return self.filter(user=user)


class ChatRoom(models.Model):
    """Several agents discussing a task, round by round."""

    id = models.CharField(primary_key=True, max_length=24, default=new_room_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_rooms")
    title = models.CharField(max_length=200)
    task = models.TextField()
    status = models.CharField(max_length=16, choices=RoomStatus.choices, default=RoomStatus.IDLE)
    max_rounds = models.PositiveSmallIntegerField(default=5)
    current_round = models.PositiveSmallIntegerField(default=0)
    next_turn_index = models.PositiveSmallIntegerField(default=0, help_text="Where a paused run resumes in the current round.")
    stop_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Refreshed by a live run; a running room whose heartbeat is stale has lost its run."
    )
    run_owner = models.CharField(
        max_length=100, blank=True, help_text="The turn task holding the run (worker process # random), empty between turns."
    )
    run_task_id = models.CharField(max_length=64, blank=True, help_text="The task result of the run's current or next turn.")
    # How the room works as a team (see rooms.team); the defaults are plain rounds.
    speaker_policy = models.CharField(max_length=16, choices=SpeakerPolicy.choices, default=SpeakerPolicy.ROUND_ROBIN)
    allow_repeated_speaker = models.BooleanField(default=False)
    selector_provider = models.ForeignKey(
        "agents.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The selector's provider."
    )
    selector_model = models.CharField(max_length=200, blank=True, help_text="The selector's model; empty: the first agent's.")
    moderator = models.CharField(max_length=100, blank=True, help_text="The name of the agent that moderates (policy moderator).")
    termination = models.JSONField(default=list, blank=True, help_text="Conditions, any of which ends the run.")
    summarizer = models.CharField(max_length=100, blank=True, help_text="The name of the agent that writes the closing summary.")
    human_turn = models.CharField(max_length=16, choices=HumanTurn.choices, default=HumanTurn.NEVER)
    # The state of a team run.
    run_started_at = models.DateTimeField(null=True, blank=True, help_text="When the run was last started or resumed.")
    selected_seat = models.SmallIntegerField(null=True, blank=True, help_text="The seat chosen to speak the current turn.")
    human_request = models.CharField(max_length=200, blank=True, help_text="Why the owner's message is awaited; empty: it is not.")
    end_reason = models.CharField(max_length=32, blank=True, help_text="The termination condition that ended (or is ending) the run.")
    summary_message_id = models.CharField(max_length=24, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChatRoomQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title


class RoomAgent(models.Model):
    """An agent's seat in a room: from a template (``agent``) with overrides, or inline."""

    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="agents")
    agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="room_seats")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=500, blank=True)
    provider = models.ForeignKey("agents.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="room_seats")
    model = models.CharField(max_length=200, blank=True)
    system_prompt = models.TextField(blank=True)
    color = models.CharField(max_length=7, default="#10b981")
    turn_order = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["turn_order", "id"]

    def __str__(self) -> str:
        return f"{self.name} in {self.room_id}"


class RoomEvent(models.Model):
    """A room's event kept for observers when there is no Redis: the log that the web
    processes relay to their observers (see ``rooms.eventstream``). ``seq`` counts per
    channel from 1, with no gaps, as ``Last-Event-ID`` expects."""

    channel = models.CharField(max_length=64)
    seq = models.PositiveBigIntegerField()
    event_type = models.CharField(max_length=64)
    data = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "seq"], name="rooms_event_unique_seq")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.seq}"
