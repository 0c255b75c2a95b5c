"""How a room works as a team: who speaks next, when the discussion ends, when the person
who owns the room is asked to speak. Plain functions over plain data, no database and no
model calls: the orchestrator gathers the facts, asks the selector model when the policy
needs it, and calls these.

Policies (``ChatRoom.speaker_policy``):

- ``round_robin``: every agent once a round, in turn order (the rooms of before).
- ``selector``: a model picks the next speaker from the agents' names and roles and the
  transcript; an answer that names nobody of the room, names the previous speaker when
  repeats are off, or is empty, falls back to the next agent in turn order after the
  previous speaker, which is never the previous speaker, so a run cannot livelock.
- ``mention``: the agent @-named in the last message speaks next, otherwise turn order.
- ``moderator``: the moderator speaks after every turn, naming the next speaker on a
  line ``NEXT: <name>`` or ending the discussion with its conclusion and a line ``END``.

A round is as many turns as the room has agents (with a moderator: two turns for each
other agent, one theirs and one the moderator's).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CONDITION_TYPES = ("max_rounds", "max_messages", "text_mention", "token_budget", "timeout_seconds", "all")
HUMAN_HANDLES = ("user", "human")
_MENTION = re.compile(r"@([^\s@,;:!?()\[\]{}\"'`*]+)")
_NEXT = re.compile(r"^\W*next(?:\s+speaker)?\s*[:：-]\s*@?(.+?)\W*$", re.IGNORECASE)
_END = re.compile(r"^\W*(end|terminate)\W*$", re.IGNORECASE)


@dataclass(frozen=True)
class Facts:
    """What the termination conditions look at, before a turn."""

    rounds_done: int
    messages: int
    tokens: int
    elapsed_seconds: float
    last_text: str


def condition_fires(condition: dict[str, Any], facts: Facts) -> bool:
    kind = condition.get("type")
    value = condition.get("value")
    if kind == "all":
        conditions = condition.get("conditions") or []
        return bool(conditions) and all(condition_fires(c, facts) for c in conditions)
    if kind == "max_rounds":
        return facts.rounds_done >= int(value)  # type: ignore[arg-type]
    if kind == "max_messages":
        return facts.messages >= int(value)  # type: ignore[arg-type]
    if kind == "text_mention":
        return bool(value) and str(value) in facts.last_text
    if kind == "token_budget":
        return facts.tokens >= int(value)  # type: ignore[arg-type]
    if kind == "timeout_seconds":
        return facts.elapsed_seconds >= float(value)  # type: ignore[arg-type]
    return False


def fired_condition(conditions: Sequence[dict[str, Any]], facts: Facts) -> str | None:
    """The type of the first condition that fires (``all`` for a combined one), or None."""
    for condition in conditions:
        if condition_fires(condition, facts):
            return str(condition["type"])
    return None


def _plain(text: str) -> str:
    return re.sub(r"[\s*_`\"'“”‘’.,!?:;()\[\]]+", " ", text).strip().casefold()


def name_in(answer: str, names: Sequence[str]) -> int | None:
    """The index of the name a selector's answer gives: the whole answer (without quotes,
    ``@`` or punctuation) is a name, or exactly one of the names appears in it as words."""
    plain = _plain(answer.replace("@", " "))
    if not plain:
        return None
    folded = [_plain(name) for name in names]
    if plain in folded:
        return folded.index(plain)
    found = {i for i, name in enumerate(folded) if name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", plain)}
    return found.pop() if len(found) == 1 else None


def mentions(text: str, names: Sequence[str]) -> list[int]:
    """The indexes of the names @-mentioned in ``text``, in the order they appear. A name
    with spaces is matched as written after the ``@``."""
    found: list[int] = []
    folded = [name.casefold() for name in names]
    for match in re.finditer("@", text):
        rest = text[match.end() :].casefold()
        best = None
        for index, name in enumerate(folded):
            whole = name and rest.startswith(name) and not (len(rest) > len(name) and (rest[len(name)].isalnum() or rest[len(name)] == "_"))
            if whole and (best is None or len(name) > len(folded[best])):
                best = index
        if best is not None and best not in found:
            found.append(best)
    return found


def mentions_human(text: str, handles: Sequence[str]) -> bool:
    """Whether an agent @-mentions the person (``@user``, ``@human``, their user name or nickname)."""
    wanted = {h.casefold() for h in (*HUMAN_HANDLES, *handles) if h}
    return bool(mentions(text, sorted(wanted, key=len, reverse=True)))


@dataclass(frozen=True)
class Choice:
    """The next speaker (a seat index), or the end of the discussion (``end``)."""

    seat: int | None
    reason: str
    code: str  # the reason as a word, for clients that word it themselves (the rooms page, translated)
    fallback: bool = False
    end: bool = False


def next_in_turn_order(count: int, previous: int | None, skip: int | None = None) -> int:
    """The agent after ``previous`` in turn order, never ``skip`` (the moderator) nor,
    when there is anyone else, ``previous`` itself."""
    start = -1 if previous is None else previous
    for step in range(1, count + 1):
        seat = (start + step) % count
        if seat != skip and (seat != previous or count == 1):
            return seat
    return 0


def choose_from_answer(answer: str, names: Sequence[str], previous: int | None, allow_repeat: bool) -> Choice:
    """The selector model's answer taken, or the turn order when it is of no use."""
    picked = name_in(answer, names)
    fallback = next_in_turn_order(len(names), previous)
    if picked is None:
        if not answer.strip():
            return Choice(fallback, "The selector gave no answer: next in turn order.", "no_answer", fallback=True)
        why = f"The selector named nobody of the room ({answer.strip()[:60]!r}): next in turn order."
        return Choice(fallback, why, "unknown_name", fallback=True)
    if picked == previous and not allow_repeat and len(names) > 1:
        why = f"The selector picked {names[picked]} again, and repeats are off: next in turn order."
        return Choice(fallback, why, "repeat", fallback=True)
    return Choice(picked, "Picked by the selector.", "picked")


def choose_by_mention(last_text: str, last_speaker: str, names: Sequence[str], previous: int | None, allow_repeat: bool) -> Choice:
    for seat in mentions(last_text, names):
        if seat != previous or allow_repeat or len(names) == 1:
            return Choice(seat, f"Mentioned by {last_speaker}.", "mentioned")
    return Choice(next_in_turn_order(len(names), previous), "Nobody was @-named: next in turn order.", "no_mention", fallback=True)


def moderator_verdict(text: str, names: Sequence[str]) -> tuple[bool, int | None]:
    """(the moderator ended the discussion, the seat it named) from its message."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines and _END.match(lines[-1]):
        return True, None
    for line in reversed(lines):
        match = _NEXT.match(line)
        if match:
            return False, name_in(match.group(1), names)
    named = mentions(text, names)
    return False, named[-1] if named else None


def choose_by_moderator(
    moderator: int, last_agent: int | None, last_text: str, previous_member: int | None, names: Sequence[str], allow_repeat: bool
) -> Choice:
    """After any turn but the moderator's, the moderator; after the moderator's, whom it named."""
    if last_agent is None:
        return Choice(moderator, "The moderator opens the discussion.", "moderator_opens")
    if last_agent != moderator:
        return Choice(moderator, "The moderator speaks after every turn.", "moderator_turn")
    ended, named = moderator_verdict(last_text, names)
    if ended:
        return Choice(None, "The moderator ended the discussion.", "moderator_ended", end=True)
    fallback = next_in_turn_order(len(names), previous_member, skip=moderator)
    if named is None or named == moderator:
        return Choice(fallback, "The moderator named nobody else of the room: next in turn order.", "unknown_name", fallback=True)
    if named == previous_member and not allow_repeat and len(names) > 2:
        why = f"The moderator named {names[named]} again, and repeats are off: next in turn order."
        return Choice(fallback, why, "repeat", fallback=True)
    return Choice(named, "Named by the moderator.", "moderator_named")


def turns_per_round(policy: str, seats: int) -> int:
    if policy == "moderator" and seats > 1:
        return 2 * (seats - 1)
    return max(1, seats)


def selector_prompt(task: str, members: Sequence[tuple[str, str]], transcript: Sequence[tuple[str, str]], candidates: Sequence[str]) -> str:
    """The selector model's one message: the task, who is who, the transcript so far."""
    roster = "\n".join(f"- {name}" + (f": {role}" if role else "") for name, role in members)
    # The last turns, each cut short: the selector needs who said what, not every word.
    said = "\n\n".join(f"[{name}]: {text[:1500]}" for name, text in transcript[-30:]) or "(nobody has spoken yet)"
    return (
        f"You choose who speaks next in a discussion about this task:\n{task}\n\nParticipants:\n{roster}\n\n"
        f"Transcript so far:\n{said}\n\nWho speaks next? Answer with exactly one name from: {', '.join(candidates)}."
    )


SUMMARY_REQUEST = "The discussion has ended. Summarize the discussion and state its conclusion, briefly."


def moderator_instructions(others: Sequence[str]) -> str:
    return (
        "You moderate this discussion. After every turn, say in a sentence or two where the discussion stands, then "
        f"end with a line `NEXT: <name>` naming who speaks next (one of: {', '.join(others)}). When the task is "
        "done, write the conclusion instead and end with a line `END`."
    )
