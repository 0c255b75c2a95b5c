"""What a newcomer meets first: the settings page with no provider, testing a provider,
and the registration form's errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from fakellm import Scenario, ToolCall
from tests.e2e.conftest import PASSWORD, add_fake_provider, api, register, unique
from tests.e2e.test_browser_manage import register_read_only

pytestmark = pytest.mark.e2e


def test_the_settings_empty_state_points_at_the_presets_where_they_are(page: Any) -> None:
    # Given a new account with no provider
    register(page)

    # When the settings page opens
    page.goto("/settings/")
    empty = page.locator("#provider-list .empty")

    # Then the empty state sends the user to the presets, which are below it
    expect(empty).to_have_text("No providers yet. Pick a preset below to add one.")
    presets = page.get_by_role("group", name="Start from a preset")
    assert presets.bounding_box()["y"] > empty.bounding_box()["y"] + empty.bounding_box()["height"]
    assert page.errors == []


def test_a_default_choice_made_before_the_provider_list_arrives_is_kept(page: Any) -> None:
    # Given a new account whose provider list is slow to arrive on the settings page
    register(page)
    held: list[Any] = []
    providers = re.compile(r".*/api/providers/$")
    page.route(providers, lambda route: held.append(route))
    page.goto("/settings/")

    # When the user clears "default" (after ticking it) before the list is there
    box = page.get_by_label("Use as my default provider")
    box.check()
    box.uncheck()
    assert held and page.locator("#provider-list").get_attribute("data-ready") is None
    for route in held:  # (the page's other scripts may have asked for the list too)
        route.continue_()
    page.unroute(providers)  # (which lets through any request that came since)
    expect(page.locator("#provider-list")).to_have_attribute("data-ready", "true")

    # Then their choice stands (with no provider yet, the form would otherwise offer it checked)
    expect(box).not_to_be_checked()
    assert page.errors == []


def test_testing_a_provider_says_whether_it_answered_in_plain_words(new_page: Any, fake_llm: Any) -> None:
    # Given a working provider and one that fails, for a user whose language is Chinese
    page = new_page(locale="zh-CN")
    register_zh(page)
    working = add_fake_provider(page, fake_llm)
    failing = api(
        page,
        "POST",
        "/api/providers/",
        {"name": "Broken", "provider_type": "openai", "base_url": fake_llm.base_url + "/v1", "api_key": "k", "default_model": "m"},
    )
    page.goto("/settings/")
    expect(page.locator("#settings")).to_have_attribute("data-ready", "true")

    # When the working one is tested, then the outcome is one sentence in the user's
    # language, not the raw completion
    card = page.locator(f".provider-card[data-provider-id='{working['id']}']")
    card.get_by_role("button", name="测试").click()
    expect(card.locator(".test-result")).to_have_text(re.compile(r"^✓ 已连接：fake-model 在 \d+ 毫秒内回复$"))
    expect(card.locator(".test-result")).to_have_class("test-result test-ok")

    # And when the failing one is tested, the failure is in plain words too
    fake_llm.script(Scenario(fault="500"))
    broken = page.locator(f".provider-card[data-provider-id='{failing['id']}']")
    broken.get_by_role("button", name="测试").click()
    expect(broken.locator(".test-result")).to_have_text("✗ 失败：HTTP 500：提供方内部出错（Scripted fault 500.）。")
    expect(broken.locator(".test-result")).to_have_class("test-result test-fail")
    assert page.errors == []


def register_zh(page: Any) -> str:
    username = unique("zh")
    page.goto("/register/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("电子邮箱").fill(f"{username}@example.com")
    page.get_by_label("密码", exact=True).fill("correct-horse-42")
    page.get_by_label("确认密码").fill("correct-horse-42")
    page.get_by_role("button", name="创建账户").click()
    page.wait_for_url("**/")
    return username


def test_registration_shows_every_error_at_once(page: Any) -> None:
    # Given a taken username
    taken = register(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")

    # When someone registers with it, a short password and a confirmation that differs
    page.goto("/register/")
    page.get_by_label("Username").fill(taken)
    page.get_by_label("Email").fill(f"{unique('new')}@example.com")
    page.get_by_label("Password", exact=True).fill("zkqv")
    page.get_by_label("Confirm password").fill("zkqw")
    page.get_by_role("button", name="Create account").click()

    # Then every problem is shown beside its field, not only the mismatch
    expect(page.locator("#id_username-error")).to_have_text("A user with this username already exists.")
    expect(page.locator("#id_password-error")).to_have_text(
        "This password is too short. It must contain at least 8 characters. The password must contain both letters and digits."
    )
    expect(page.locator("#id_password_confirm-error")).to_have_text("The two passwords do not match.")
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    assert page.url.endswith("/register/")
    assert page.errors == []


def test_the_agent_dialog_describes_tools_as_the_chats_panel_does(page: Any, fake_llm: Any) -> None:
    # Given a user at level 1 (some tools forbidden), and the tools as the chat's panel shows them
    register_read_only(page)
    add_fake_provider(page, fake_llm)
    tools = api(page, "GET", "/api/tools/")["tools"]
    forbidden = next(tool for tool in tools if not tool["allowed"] or tool["available"] is False)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.get_by_role("button", name="Tools").click()
    in_chat = page.eval_on_selector_all(
        "#tools-panel .tool-group-title, #tools-panel .tool-option", "nodes => nodes.map(n => n.innerText.trim())"
    )

    # When the agent dialog opens
    page.goto("/agents/")
    expect(page.locator("#agents")).to_have_attribute("data-ready", "true")
    page.get_by_role("button", name="New agent").click()
    dialog = page.locator("#agent-dialog")

    # Then it lists the same groups and tools, each with its description (and the reason
    # when it cannot be chosen), not bare identifiers
    in_dialog = dialog.evaluate("d => [...d.querySelectorAll('.tool-group-title, .tool-option')].map(n => n.innerText.trim())")
    assert in_dialog == in_chat
    process = dialog.locator("[data-tool=process_data]")
    expect(process.locator(".tool-option-desc")).to_have_text(next(t["description"] for t in tools if t["name"] == "process_data"))
    expect(dialog.get_by_role("checkbox", name="process_data")).to_have_accessible_description(
        next(t["description"] for t in tools if t["name"] == "process_data")
    )
    expect(dialog.locator(f"[data-tool={forbidden['name']}] input")).to_be_disabled()
    expect(dialog.locator(f"[data-tool={forbidden['name']}] .tool-option-reason")).not_to_be_empty()

    # And a tool checked there is saved on the agent
    dialog.get_by_label("Name").fill("Formatter")
    dialog.get_by_role("checkbox", name="process_data").check()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    assert api(page, "GET", "/api/agents/")[0]["enabled_tools"] == ["process_data"]
    assert page.errors == []


def test_a_chat_started_from_an_agent_shows_its_name_and_colour(page: Any, fake_llm: Any) -> None:
    # Given an agent with a colour
    register(page)
    add_fake_provider(page, fake_llm)
    api(page, "POST", "/api/agents/", {"name": "Navigator", "role": "plans routes", "color": "#ff5500"})

    # When a chat is started from the agents page and a reply comes
    page.goto("/agents/")
    page.get_by_role("button", name="Chat: Navigator").click()
    page.wait_for_url("**/c/conv_*")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.get_by_role("textbox", name="Message").fill(f"Hello {unique('agent')}")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator("[data-role=assistant]").last).to_have_attribute("data-status", "complete")

    # Then the header names the agent beside its colour, and the reply wears the colour,
    # also after the conversation got its own title and after a reload
    chip = page.locator("#chat-agent")
    for _ in range(2):
        expect(chip).to_be_visible()
        expect(chip.locator(".chat-agent-name")).to_have_text("Navigator")
        expect(chip.locator(".swatch")).to_have_css("background-color", "rgb(255, 85, 0)")
        expect(page.locator("[data-role=assistant] .message-avatar").last).to_have_css("background-color", "rgb(255, 85, 0)")
        page.reload()
        expect(page.locator("#chat")).to_have_attribute("data-ready", "true")

    # And a plain chat shows no agent
    page.get_by_role("button", name="New chat").click()
    expect(chip).to_be_hidden()
    assert page.errors == []


def background_luminance(page: Any) -> float:
    css = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(part) for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return 0.299 * red + 0.587 * green + 0.114 * blue


def test_the_theme_switch_overrides_the_system_and_is_remembered(new_page: Any) -> None:
    # Given a system in light mode
    page = new_page(color_scheme="light")
    register(page)
    switch = page.locator(".rail [data-theme-switch]")
    expect(switch).to_have_accessible_name("Theme: as the system")
    assert background_luminance(page) > 200

    # When the switch is pressed twice: light, then dark
    switch.click()
    expect(switch).to_have_accessible_name("Theme: light")
    assert background_luminance(page) > 200
    switch.click()
    expect(switch).to_have_accessible_name("Theme: dark")

    # Then the page is dark, code is highlighted in the dark style, and both stay so on
    # another page and after a reload
    assert background_luminance(page) < 60
    for path in ("/settings/", "/settings/"):
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert background_luminance(page) < 60
        assert page.evaluate("document.querySelector('link[data-hljs=dark]').media") == "all"
        assert page.evaluate("matchMedia(document.querySelector('link[data-hljs=light]').media).matches") is False
    expect(page.locator(".rail [data-theme-switch]")).to_have_accessible_name("Theme: dark")

    # When it is pressed once more, the system's choice applies again
    page.locator(".rail [data-theme-switch]").click()
    expect(page.locator(".rail [data-theme-switch]")).to_have_accessible_name("Theme: as the system")
    assert background_luminance(page) > 200
    assert page.evaluate("localStorage.getItem('luxx.theme')") is None

    # And on a dark system, a remembered light choice wins, from the sign-in page on
    dark = new_page(color_scheme="dark")
    dark.goto("/login/")
    assert background_luminance(dark) < 60
    dark.locator("[data-theme-switch]").click()
    expect(dark.locator("[data-theme-switch]")).to_have_accessible_name("Theme: light")
    dark.reload()
    assert background_luminance(dark) > 200
    assert page.errors == [] and dark.errors == []


def upload(page: Any, name: str, text: str) -> None:
    page.goto("/knowledge/")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")
    page.locator("#file-input").set_input_files([{"name": name, "mimeType": "text/markdown", "buffer": text.encode()}])
    expect(page.locator(f"#document-rows tr[data-status=ready]:has-text('{name}')")).to_have_count(1, timeout=20_000)


def test_a_knowledge_search_shows_that_it_is_searching_and_highlights_the_matched_words(page: Any) -> None:
    # Given two documents
    register(page)
    upload(page, "panels.md", "# Panels\n\nSolar panels need cleaning twice a year; a clean panel yields more.")
    upload(page, "batteries.md", "# Batteries\n\nStore the batteries somewhere cool and dry.")
    search = page.get_by_role("searchbox", name="Search the knowledge base")
    results = page.locator("#search-results")
    search.fill("batteries")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(results.locator(".result")).to_have_count(1)

    # When another search is sent and its answer is slow to come
    held: list[Any] = []
    page.route("**/api/knowledge/search", lambda route: held.append(route))
    search.fill("how to clean the solar panels")
    page.get_by_role("button", name="Search", exact=True).click()

    # Then the earlier results are gone and the search says it is under way
    expect(results.get_by_role("status")).to_have_text("Searching…")
    expect(results).to_have_attribute("aria-busy", "true")
    expect(results.locator(".result")).to_have_count(0)

    # And when the answer comes, the query's words are marked in the passage (stopwords not)
    held[0].continue_()
    expect(results.locator(".result")).to_have_count(1)
    expect(results).to_have_attribute("aria-busy", "false")
    expect(results.locator(".result-doc")).to_have_text("panels.md")
    expect(results.locator(".result-content")).to_have_text("Solar panels need cleaning twice a year; a clean panel yields more.")
    marks = results.locator(".result-content mark").all_inner_texts()
    assert marks == ["Solar", "panels", "cleaning", "clean", "panel"]
    assert page.errors == []


def test_a_document_for_all_chats_is_cited_in_a_plain_chat(page: Any, fake_llm: Any) -> None:
    # Given a document uploaded with "No agent (all chats)"
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/knowledge/")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label("Attach to agent")).to_have_value("")
    expect(page.get_by_label("Attach to agent").locator("option:checked")).to_have_text("No agent (all chats)")
    upload(page, "ferry.md", "# Ferry\n\nThe ferry to the lighthouse leaves every morning at seven.")

    # When a plain chat asks about it
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.get_by_role("textbox", name="Message").fill("When does the ferry to the lighthouse leave?")
    page.get_by_role("textbox", name="Message").press("Enter")

    # Then the reply cites it, and the citation opens the cited passage
    reply = page.locator("[data-role=assistant]").last
    expect(reply).to_have_attribute("data-status", "complete")
    citation = reply.locator(".citation")
    expect(citation).to_have_count(1)
    expect(citation.locator(".citation-name")).to_have_text("ferry.md")
    expect(citation.locator(".citation-snippet")).to_have_text("The ferry to the lighthouse leaves every morning at seven.")
    assert "The ferry to the lighthouse leaves every morning at seven." in fake_llm.requests[-1].body["messages"][0]["content"]
    citation.click()
    expect(page.locator(".chunk-cited .chunk-text")).to_have_text("The ferry to the lighthouse leaves every morning at seven.")
    assert page.errors == []


def sign_in(page: Any, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def test_the_tool_choice_is_remembered_for_new_chats_and_agents_bring_their_own(new_page: Any, fake_llm: Any) -> None:
    # Given a user who enabled process_data in a chat and sent a message
    page = new_page()
    username = register(page)
    add_fake_provider(page, fake_llm)
    agent = api(page, "POST", "/api/agents/", {"name": "Searcher", "enabled_tools": ["web_search"]})
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.get_by_role("button", name="Tools").click()
    page.get_by_role("checkbox", name="process_data").check()
    page.keyboard.press("Escape")
    page.get_by_role("textbox", name="Message").fill(f"Hello {unique('first')}")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator("[data-role=assistant]").last).to_have_attribute("data-status", "complete")

    # When they open a new chat in another browser, where the model calls that tool
    other = new_page()
    sign_in(other, username)
    expect(other.locator("#chat")).to_have_attribute("data-ready", "true")
    marker = unique("tool")
    fake_llm.script(Scenario(tool_calls=[ToolCall("process_data", {"data": '[{"n": 2}, {"n": 1}]', "sort_by": "n"})]), match=marker)
    other.get_by_role("textbox", name="Message").fill(f"Sort these {marker}")
    other.get_by_role("textbox", name="Message").press("Enter")

    # Then the tool is still enabled there and the call runs, instead of "not enabled here"
    expect(other.locator("#tools-count")).to_have_text("1")
    reply = other.locator("[data-role=assistant]").last
    expect(reply.locator(".tool-card[data-tool=process_data]")).to_have_attribute("data-result", "success")
    expect(reply).to_have_attribute("data-status", "complete")

    # And a chat with an agent shows the agent's tools; a new chat after it the user's again
    other.goto(f"/c/{api(other, 'POST', '/api/conversations/', {'agent_id': agent['id']})['id']}")
    expect(other.locator("#chat")).to_have_attribute("data-ready", "true")
    other.get_by_role("button", name="Tools").click()
    expect(other.get_by_role("checkbox", name="web_search")).to_be_checked()
    expect(other.get_by_role("checkbox", name="process_data")).not_to_be_checked()
    other.keyboard.press("Escape")
    other.get_by_role("button", name="New chat").click()
    other.get_by_role("button", name="Tools").click()
    expect(other.get_by_role("checkbox", name="process_data")).to_be_checked()
    expect(other.get_by_role("checkbox", name="web_search")).not_to_be_checked()

    # And a conversation opened again shows the tools it was sent with
    other.keyboard.press("Escape")
    page.reload()
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    expect(page.locator("#tools-count")).to_have_text("1")
    assert page.errors == [] and other.errors == []
