"""The Usage page: a chart of the user's tokens and cost after two chats, and their limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from fakellm import Scenario
from tests.e2e.conftest import add_fake_provider, api, register, unique

pytestmark = pytest.mark.e2e


def test_the_usage_page_shows_a_chart_after_two_chats(page: Any, fake_llm: Any) -> None:
    # Given a user who had two chats
    register(page)
    add_fake_provider(page, fake_llm)
    conversation: dict[str, Any] = {}
    for _ in range(2):
        marker = unique("usage")
        fake_llm.script(Scenario(tokens=12), match=marker)
        conversation = api(page, "POST", "/api/conversations/", {})
        sent = api(page, "POST", "/api/messages/", {"conversation_id": conversation["id"], "content": f"Hello {marker}"})
        assert sent["assistant_message"]["status"] == "complete"
    # When they open the Usage page from the navigation
    page.goto("/")
    page.get_by_role("link", name="Usage", exact=True).click()
    page.wait_for_url("**/usage/")
    # Then the totals count both calls, the chart is drawn, and the model is listed
    totals = page.locator("#usage-totals")
    expect(totals).to_contain_text("Calls")
    expect(totals.locator(".usage-tile").nth(2)).to_contain_text("2")
    expect(page.locator("#usage-chart canvas")).to_be_visible()
    expect(page.locator("#usage-chart .u-legend")).to_contain_text("Tokens")
    expect(page.locator("#usage-models")).to_contain_text("fake-model")
    expect(page.locator("#usage-limits")).to_contain_text("No limits apply to you.")
    # And the chart has a bar for today: the canvas is not blank
    drawn = page.evaluate(
        "() => { const c = document.querySelector('#usage-chart canvas');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )
    assert drawn > 500
    # And a conversation's header shows its tokens and cost
    page.goto(f"/c/{conversation['id']}")
    expect(page.locator("#chat-usage")).to_have_text(re.compile(r"^\d[\d,]* tokens · 0\.00 USD$"))
