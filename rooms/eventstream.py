"""Who may read a room's observer channel: its owner only."""

from __future__ import annotations

from typing import Any

from django_eventstream.channelmanager import DefaultChannelManager

from rooms.models import ChatRoom


class RoomChannelManager(DefaultChannelManager):
    def get_channels_for_request(self, request: Any, view_kwargs: dict[str, Any]) -> set[str]:
        return set(view_kwargs.get("channels") or ())

    def can_read_channel(self, user: Any, channel: str) -> bool:
        if not channel.startswith("room-") or user is None:
            return False
        return ChatRoom.objects.filter(pk=channel.removeprefix("room-"), user=user).exists()

    def is_channel_reliable(self, channel: str) -> bool:
        return True
