"""Background tasks of rooms: a run's turns, and pruning the event logs kept in the database."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from rooms import orchestrator
from rooms.models import RoomEvent
from worker.durable import GiveUp, durable_task


def _turn_given_up(give_up: GiveUp, room_id: str, *args: object, **kwargs: object) -> None:
    orchestrator.run_given_up(room_id, give_up.cause)


@durable_task(on_give_up=_turn_given_up)
async def room_turn(room_id: str, round_number: int, seat_index: int, opening: bool = False) -> str:
    """One position of a room's run (see ``rooms.orchestrator``): speak it, pause, or close."""
    return await orchestrator.run_turn(room_id, round_number, seat_index, opening=opening)


@durable_task(attempts=1)  # periodic: the next period is the retry
def prune_event_logs() -> int:
    """Drop the database event logs of rooms idle for ROOM_EVENTS_TTL; answer how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.ROOM_EVENTS_TTL)
    idle = list(
        RoomEvent.objects.values("channel").annotate(last=Max("created_at")).filter(last__lt=cutoff).values_list("channel", flat=True)
    )
    if idle:
        RoomEvent.objects.filter(channel__in=idle).delete()
    return len(idle)
