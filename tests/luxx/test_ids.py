"""Public ids: a prefix and 16 characters of [a-z0-9], every position drawn from the whole alphabet."""

from __future__ import annotations

import re
from collections import Counter

from luxx.ids import new_conversation_id, new_id, new_message_id, new_room_id


def test_ids_have_their_prefix_and_sixteen_lowercase_alphanumerics() -> None:
    for make, prefix in ((new_conversation_id, "conv_"), (new_message_id, "msg_"), (new_room_id, "room_")):
        assert re.fullmatch(rf"{prefix}[a-z0-9]{{16}}", make())


def test_every_position_takes_every_character_about_equally() -> None:
    ids = [new_id("") for _ in range(7200)]  # 200 of each character per position, expected

    assert len(set(ids)) == len(ids)
    for position in range(16):
        counts = Counter(value[position] for value in ids)
        assert len(counts) == 36, position
        assert min(counts.values()) > 120 and max(counts.values()) < 290, (position, counts.most_common(3))
