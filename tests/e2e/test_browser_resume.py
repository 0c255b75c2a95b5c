"""Replies that survive the page: a reload or a second tab during a reply shows it
continuing live, and it can be stopped from there."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from fakellm import Scenario
from tests.e2e.conftest import add_fake_provider, api, register, unique

pytestmark = pytest.mark.e2e


def ready(tab: Any) -> None:
    expect(tab.locator("#chat")).to_have_attribute("data-ready", "true")


def send(tab: Any, text: str) -> None:
    tab.get_by_role("textbox", name="Message").fill(text)
    tab.get_by_role("textbox", name="Message").press("Enter")


def test_a_reload_and_a_second_tab_show_the_reply_continuing_live_and_can_stop_it(page: Any, fake_llm: Any) -> None:
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/")
    ready(page)

    # Given a reply streaming in the page
    marker = unique("resume")
    fake_llm.script(Scenario(tokens=80, tokens_per_second=16), match=marker)
    send(page, f"Count slowly {marker}")
    expect(page.locator("[data-role=assistant]").last.locator(".md")).to_contain_text("word3")
    conversation_id = page.url.rsplit("/", 1)[-1]

    # When the page is reloaded mid-reply
    page.reload()
    ready(page)

    # Then the reply shows what it had and goes on live to its end, equal to the stored reply
    reply = page.locator("[data-role=assistant]").last
    expect(reply).to_have_class(re.compile(r"\blive\b"))
    expect(page.locator("#send-button")).to_have_attribute("aria-label", "Stop")
    expect(reply.locator(".md")).to_contain_text("word40", timeout=20_000)
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    stored = api(page, "GET", f"/api/messages/?conversation_id={conversation_id}")["messages"]
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    assert stored[-1]["content"] == " ".join(f"word{i}" for i in range(80))
    assert reply.locator(".md").inner_text().split() == stored[-1]["content"].split()
    expect(page.locator(".message-user")).to_have_count(1)
    expect(page.locator("[data-role=assistant]")).to_have_count(1)

    # And a second tab opened during the next reply follows it too, and stops it
    long_marker = unique("long")
    fake_llm.script(Scenario(tokens=600, tokens_per_second=16), match=long_marker)
    send(page, f"Go on {long_marker}")
    first_reply = page.locator("[data-role=assistant]").last
    expect(first_reply.locator(".md")).to_contain_text("word2")
    second = page.context.new_page()
    second.goto(f"/c/{conversation_id}")
    ready(second)
    followed = second.locator("[data-role=assistant]").last
    expect(followed).to_have_class(re.compile(r"\blive\b"))
    expect(followed.locator(".md")).to_contain_text("word8", timeout=20_000)
    second.keyboard.press("Escape")
    expect(followed).to_have_attribute("data-status", "stopped", timeout=15_000)
    expect(first_reply).to_have_attribute("data-status", "stopped", timeout=15_000)
    stopped = api(page, "GET", f"/api/messages/?conversation_id={conversation_id}")["messages"][-1]
    assert stopped["status"] == "stopped"
    assert followed.locator(".md").inner_text().split() == stopped["content"].split()
    assert page.errors == [] and second.errors == []


def test_a_stream_that_drops_resumes_from_its_last_event_without_losing_or_repeating_anything(page: Any, fake_llm: Any) -> None:
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/")
    ready(page)

    # Given a connection that drops after the first few events of the reply
    def cut(route: Any) -> None:
        response = route.fetch()
        frames = response.text().split("\n\n")
        route.fulfill(status=200, headers={"content-type": "text/event-stream; charset=utf-8"}, body="\n\n".join(frames[:6]) + "\n\n")

    page.route("**/api/messages/stream", cut)
    marker = unique("drop")
    fake_llm.script(Scenario(tokens=60, tokens_per_second=60), match=marker)

    # When a message is sent
    send(page, f"Count {marker}")

    # Then the page picks the reply up where the stream stopped: all of it, each word once
    reply = page.locator("[data-role=assistant]").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    conversation_id = page.url.rsplit("/", 1)[-1]
    stored = api(page, "GET", f"/api/messages/?conversation_id={conversation_id}")["messages"][-1]
    assert stored["content"] == " ".join(f"word{i}" for i in range(60))
    assert reply.locator(".md").inner_text().split() == stored["content"].split()
    assert page.errors == []
