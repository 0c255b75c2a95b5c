"""The rules of rooms as teams, as plain functions: reading a selector's answer, @-mentions,
a moderator's verdict, the fallback that never picks the previous speaker, the conditions."""

from __future__ import annotations

from rooms import team

NAMES = ["Ada", "Bo", "Cy Young"]


def test_a_selectors_answer_is_read_as_one_name_or_none() -> None:
    answers = {
        "Bo": 1,
        "  @bo. ": 1,
        "**Cy Young**": 2,
        "I pick Ada because she knows.": 0,
        "Ada or Bo": None,
        "Zed": None,
        "": None,
        "Boris": None,
    }

    assert {answer: team.name_in(answer, NAMES) for answer in answers} == answers


def test_the_fallback_never_livelocks_on_the_previous_speaker() -> None:
    # Whatever the model answers, the run moves to someone else when it can
    for previous in (None, 0, 1, 2):
        for answer in ("", "Zed", "Ada", "Bo", "Cy Young", "Ada Bo"):
            choice = team.choose_from_answer(answer, NAMES, previous, allow_repeat=False)
            assert choice.seat is not None and choice.seat != previous and choice.code
    assert team.choose_from_answer("Ada", ["Ada"], 0, allow_repeat=False).seat == 0  # alone, an agent may repeat
    assert team.next_in_turn_order(3, 2, skip=0) == 1
    assert team.choose_from_answer("Bo", NAMES, 1, allow_repeat=True) == team.Choice(1, "Picked by the selector.", "picked")


def test_mentions_a_moderators_verdict_and_the_conditions() -> None:
    assert team.mentions("Over to @cy young, then @Ada; not @Adam", NAMES) == [2, 0]
    assert team.mentions_human("What do you think, @user?", ()) and team.mentions_human("@Maria?", ("maria",))
    assert not team.mentions_human("ask the user", ("maria",))
    assert team.moderator_verdict("Good.\nNEXT: @Bo", NAMES) == (False, 1)
    assert team.moderator_verdict("Conclusion: ship it.\n\n**END**", NAMES) == (True, None)
    assert team.moderator_verdict("Let @Cy Young answer.", NAMES) == (False, 2)
    assert team.moderator_verdict("No idea.", NAMES) == (False, None)
    facts = team.Facts(rounds_done=2, messages=5, tokens=900, elapsed_seconds=3.0, last_text="Looks APPROVED to me")
    approved = [{"type": "max_messages", "value": 6}, {"type": "text_mention", "value": "APPROVED"}]
    assert team.fired_condition(approved, facts) == "text_mention"
    assert team.fired_condition([{"type": "text_mention", "value": "approved"}, {"type": "token_budget", "value": 1000}], facts) is None
    both = {"type": "all", "conditions": [{"type": "max_rounds", "value": 2}, {"type": "timeout_seconds", "value": 3}]}
    assert team.fired_condition([both], facts) == "all"
