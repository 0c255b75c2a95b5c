from __future__ import annotations

from dataclasses import dataclass

from chat.context import estimate_tokens, history_within_budget, title_from_text


@dataclass
class FakeMessage:
    role: str
    content: str


def test_it_counts_cjk_characters_as_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("你好世界") == 4 + 1
    assert estimate_tokens("abcd" * 10) == 10


def test_history_keeps_the_newest_messages_that_fit() -> None:
    messages = [FakeMessage("user", "a" * 400), FakeMessage("assistant", "b" * 400), FakeMessage("user", "c" * 40)]

    assert history_within_budget(messages, 120) == [{"role": "user", "content": "c" * 40}]
    assert [m["role"] for m in history_within_budget(messages, 10_000)] == ["user", "assistant", "user"]


def test_history_always_keeps_the_question_and_never_starts_with_the_assistant() -> None:
    messages = [FakeMessage("assistant", "x" * 10), FakeMessage("user", "q" * 4000)]

    assert history_within_budget(messages, 1) == [{"role": "user", "content": "q" * 4000}]
    assert history_within_budget(messages, 100_000) == [{"role": "user", "content": "q" * 4000}]


def test_titles_come_from_the_first_sentence_in_its_language() -> None:
    assert title_from_text("How do I deploy Django? I tried gunicorn.") == "How do I deploy Django"
    assert title_from_text("帮我写一首关于秋天的诗。要求押韵") == "帮我写一首关于秋天的诗"
    assert title_from_text("   ") == "New conversation"
    long = title_from_text("word " * 30)
    assert long.endswith("…") and len(long) <= 41
    assert title_from_text('[[fake {"tokens": 5}]] Tell me a joke') == "Tell me a joke"
