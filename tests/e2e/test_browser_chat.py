"""Sign in, add a provider in the settings page, chat with a streaming reply that thinks
and calls a tool, stop a long reply, and find the same conversation after a reload."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from fakellm import Scenario, ToolCall
from tests.e2e.conftest import PASSWORD, add_fake_provider, api, register, unique

pytestmark = pytest.mark.e2e


def steps_of(page: Any) -> list[list[str]]:
    """The step types of every assistant reply, in order."""
    return page.eval_on_selector_all(
        "[data-role=assistant]", "nodes => nodes.map(n => [...n.querySelectorAll('.steps > [data-type]')].map(s => s.dataset.type))"
    )


def test_a_user_signs_up_adds_a_provider_and_watches_a_reply_stream(page: Any, fake_llm: Any) -> None:
    # Given a new account, signed out and in again through the forms
    username = register(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    expect(page.locator("#provider-banner")).to_contain_text("No model provider yet")

    # When a provider pointing at the fake LLM is added in the settings page
    page.goto("/settings/")
    expect(page.locator("#provider-list")).to_have_attribute("data-ready", "true")
    page.get_by_role("button", name="Fake LLM (testing)").click()
    page.get_by_label("Base URL").fill(fake_llm.base_url + "/v1")
    page.get_by_label("Use as my default provider").check()
    page.get_by_role("button", name="Add provider").click()
    card = page.locator(".provider-card", has_text="Fake LLM")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Default")
    expect(card).to_contain_text("Key saved")
    card.get_by_role("button", name="Test").click()
    expect(card.locator(".test-result")).to_have_text(re.compile(r"^✓ Connected: fake-model replied in \d+ ms$"))

    # And a message is sent whose reply thinks, calls a tool and answers
    marker = unique("weather")
    fake_llm.script(
        Scenario(
            thinking="First I should format the numbers with the data tool, then explain the result.",
            tool_calls=[ToolCall("process_data", {"data": '[{"n": 3}, {"n": 1}]', "sort_by": "n"})],
            tokens_per_second=15,
        ),
        match=marker,
    )
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.get_by_role("button", name="Tools").click()
    page.locator("[data-tool=process_data] input").check()
    page.keyboard.press("Escape")
    page.get_by_role("textbox", name="Message").fill(f"Format my numbers {marker}")
    page.get_by_role("textbox", name="Message").press("Enter")

    # Then the thinking streams in live, the tool card shows its arguments and result,
    # and the final answer follows in the order of the steps
    reply = page.locator("[data-role=assistant]").last
    expect(reply.locator("details.thinking")).to_be_visible()
    expect(reply).to_have_class("message message-assistant live")
    expect(reply.locator("details.thinking .md")).to_contain_text("format the numbers")
    tool_card = reply.locator(".tool-card[data-tool=process_data]")
    expect(tool_card).to_have_attribute("data-result", "success", timeout=20_000)
    expect(tool_card.locator(".tool-args")).to_contain_text('"sort_by": "n"')
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(reply.locator(".message-meta")).to_contain_text("tokens")
    assert steps_of(page)[-1][:2] == ["thinking", "tool_call"]
    assert steps_of(page)[-1][-1] == "text"
    tool_card.locator("summary").click()
    expect(tool_card.locator(".tool-result")).to_be_visible()
    conversation_url = page.url
    assert "/c/conv_" in conversation_url
    expect(page.locator(".conv-item.active")).to_have_count(1)

    # When a long reply is stopped mid-way with the stop button
    long_marker = unique("essay")
    fake_llm.script(Scenario(tokens=600, tokens_per_second=25), match=long_marker)
    page.get_by_role("textbox", name="Message").fill(f"Write a long essay {long_marker}")
    page.get_by_role("button", name="Send").click()
    long_reply = page.locator("[data-role=assistant]").last
    expect(long_reply.locator(".md")).to_contain_text("word5")
    page.get_by_role("button", name="Stop").click()

    # Then it ends as stopped, with only part of the text
    expect(long_reply).to_have_attribute("data-status", "stopped", timeout=15_000)
    expect(long_reply.locator(".message-meta")).to_contain_text("Stopped")
    partial = long_reply.locator(".md").inner_text()
    assert "word5" in partial and "word599" not in partial
    before = steps_of(page)

    # And after a reload the saved conversation shows the same steps
    page.reload()
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    expect(page.locator("[data-role=assistant]")).to_have_count(2)
    assert steps_of(page) == before
    first = page.locator("[data-role=assistant]").first
    expect(first.locator("details.thinking .md")).to_contain_text("format the numbers", use_inner_text=False)
    expect(first.locator(".tool-card[data-tool=process_data]")).to_have_attribute("data-result", "success")
    expect(page.locator("[data-role=assistant]").last).to_have_attribute("data-status", "stopped")
    assert page.errors == []


def test_escape_stops_a_reply_and_errors_show_in_plain_words_with_retry(page: Any, fake_llm: Any) -> None:
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")

    # Given a reply that fails upstream
    failing = unique("fail")
    fake_llm.script(*[Scenario(fault="500")] * 4, match=failing)
    page.get_by_role("textbox", name="Message").fill(f"This will fail {failing}")
    page.get_by_role("textbox", name="Message").press("Enter")
    reply = page.locator("[data-role=assistant]").last
    error = reply.locator(".error-card")
    expect(error).to_be_visible(timeout=30_000)
    # The upstream fault in plain words, not a stack trace or a status code alone
    expect(error.locator(".error-text")).to_have_text(re.compile(r"^HTTP 500: the provider had an internal error( \(.+\))?\.$"))
    expect(reply.locator(".message-meta")).to_have_text("Error")

    # When the user retries and the model answers this time
    fake_llm.script(Scenario(text="All good now."), match=failing)
    error.get_by_role("button", name="Retry").click()
    expect(page.locator("[data-role=assistant]").last).to_contain_text("All good now.")

    # Then the reply was regenerated for the same user message: one question, one answer,
    # in the page and on the server (also after a reload)
    expect(page.locator("[data-role=assistant]").last).to_have_attribute("data-status", "complete")
    expect(page.locator(".message-user")).to_have_count(1)
    expect(page.locator("[data-role=assistant]")).to_have_count(1)
    expect(page.locator(".error-card")).to_have_count(0)
    conversation_id = page.url.rsplit("/", 1)[-1]
    stored = api(page, "GET", f"/api/messages/?conversation_id={conversation_id}")["messages"]
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    assert stored[0]["content"] == f"This will fail {failing}"
    page.reload()
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    expect(page.locator(".message-user")).to_have_count(1)
    expect(page.locator("[data-role=assistant]")).to_have_text(re.compile("All good now."))

    # And Escape stops a long reply
    long_marker = unique("long")
    fake_llm.script(Scenario(tokens=600, tokens_per_second=25), match=long_marker)
    page.get_by_role("textbox", name="Message").fill(f"Go on {long_marker}")
    page.get_by_role("textbox", name="Message").press("Enter")
    long_reply = page.locator("[data-role=assistant]").last
    expect(long_reply.locator(".md")).to_contain_text("word3")
    page.keyboard.press("Escape")
    expect(long_reply).to_have_attribute("data-status", "stopped", timeout=15_000)
    assert page.errors == []
