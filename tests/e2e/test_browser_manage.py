"""Managing things in the browser: conversations (rename, search, delete, more on scroll),
the model picker and thinking switch, agents (edit, delete), a provider's saved key, tools
a low level forbids, and the dark theme."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from fakellm import Scenario
from tests.e2e.conftest import add_fake_provider, api, register, unique

pytestmark = pytest.mark.e2e


def register_read_only(page: Any) -> str:
    """A user at level 1: the first account of the server is an admin, every later one not."""
    username = register(page)
    if api(page, "GET", "/api/auth/me")["permission_level"] == 1:
        return username
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    return register(page)


def create_conversations(page: Any, titles: list[str]) -> list[dict[str, Any]]:
    return page.evaluate(
        """async (titles) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const made = [];
            for (const title of titles) {
                const headers = {"Content-Type": "application/json", "X-CSRFToken": token};
                const r = await fetch("/api/conversations/", {method: "POST", headers, body: JSON.stringify({title})});
                made.push((await r.json()).data);
            }
            return made;
        }""",
        titles,
    )


def test_conversations_are_searched_on_the_server_loaded_on_scroll_renamed_and_deleted(page: Any, fake_llm: Any) -> None:
    # Given 56 conversations, the oldest of which is beyond the first page of 50
    register(page)
    add_fake_provider(page, fake_llm)
    needle = unique("Needle ")
    made = create_conversations(page, [needle, *[f"Topic {n:02d}" for n in range(55)]])
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    items = page.locator(".conv-item")
    expect(items).to_have_count(50)
    expect(page.locator(".conv-item", has_text=needle)).to_have_count(0)

    # When searching for the oldest title, the server finds it
    search = page.get_by_role("searchbox", name="Search conversations")
    search.fill(needle.lower())
    expect(items).to_have_count(1)
    expect(items.first.locator("a")).to_have_text(needle)
    search.fill(unique("nothing-like-this-"))
    expect(page.locator(".conv-empty")).to_have_text("No conversations match.")

    # And with the search cleared, scrolling to the end of the list loads the rest
    search.fill("")
    expect(items).to_have_count(50)
    page.locator("#conv-more").scroll_into_view_if_needed()
    expect(items).to_have_count(56)
    expect(page.locator("#conv-more")).to_have_count(0)

    # When one is renamed, the new title is shown, kept and searchable
    target = made[-1]
    item = page.locator(f".conv-item[data-id={target['id']}]")
    item.hover()
    item.get_by_role("button", name=f"Rename: {target['title']}").click()
    page.locator(".conv-rename").fill("Renamed plan")
    page.locator(".conv-rename").press("Enter")
    expect(page.locator(f".conv-item[data-id={target['id']}] a")).to_have_text("Renamed plan")
    page.reload()
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    search.fill("renamed")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-id", target["id"])

    # When it is deleted, it is gone from the list and from the server
    page.once("dialog", lambda dialog: dialog.accept())
    items.first.hover()
    items.first.get_by_role("button", name="Delete: Renamed plan").click()
    expect(page.locator(".conv-empty")).to_have_text("No conversations match.")
    assert api(page, "GET", "/api/conversations/?search=renamed")["total"] == 0
    assert page.errors == []


def test_the_model_is_typed_or_picked_and_thinking_follows_each_conversation(page: Any, fake_llm: Any) -> None:
    # Given a provider, an agent on another model, and conversations with and without thinking
    register(page)
    provider = add_fake_provider(page, fake_llm)
    api(page, "POST", "/api/agents/", {"name": "Reviewer", "provider_id": provider["id"], "model": "fake-reviewer-model"})
    thinking = api(page, "POST", "/api/conversations/", {"title": "Deep", "thinking_enabled": True})
    plain = api(page, "POST", "/api/conversations/", {"title": "Plain", "thinking_enabled": False})

    # When the thinking conversation is opened, then the plain one
    page.goto(f"/c/{thinking['id']}")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    expect(page.locator("#thinking-toggle")).to_be_checked()
    page.locator(f".conv-item[data-id={plain['id']}] a").click()
    expect(page.locator("#chat-title")).to_have_text("Plain")

    # Then the switch turns off again
    expect(page.locator("#thinking-toggle")).not_to_be_checked()

    # And the model field suggests the provider's and the agent's models
    model = page.get_by_role("combobox", name="Model")
    expect(model).to_have_value("fake-model")
    options = page.eval_on_selector_all("#model-options option", "nodes => nodes.map(n => n.value)")
    assert set(options) == {"fake-model", "fake-reviewer-model"}

    # When any model name is typed and a message sent, that model is asked
    marker = unique("model")
    fake_llm.script(Scenario(text="Answered by the typed model."), match=marker)
    model.fill("my-custom-model-7")
    model.press("Tab")
    page.get_by_role("textbox", name="Message").fill(f"Hello {marker}")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator("[data-role=assistant]").last).to_have_attribute("data-status", "complete")
    assert fake_llm.requests[-1].body["model"] == "my-custom-model-7"
    assert api(page, "GET", f"/api/conversations/{plain['id']}")["model"] == "my-custom-model-7"
    page.reload()
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    expect(model).to_have_value("my-custom-model-7")
    assert page.errors == []


def test_a_failed_reply_found_after_a_reload_is_retried_without_a_second_question(page: Any, fake_llm: Any) -> None:
    register(page)
    add_fake_provider(page, fake_llm)
    failing = unique("later")
    fake_llm.script(*[Scenario(fault="500")] * 4, match=failing)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.get_by_role("textbox", name="Message").fill(f"Fails first {failing}")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".error-card")).to_be_visible(timeout=30_000)

    # When the page is reloaded, the saved error still offers a retry
    page.reload()
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    fake_llm.script(Scenario(text="Second time lucky."), match=failing)
    page.locator(".error-card").get_by_role("button", name="Retry").click()

    # Then the same question gets the new answer
    expect(page.locator("[data-role=assistant]")).to_have_count(1)
    expect(page.locator("[data-role=assistant]")).to_have_attribute("data-status", "complete")
    expect(page.locator("[data-role=assistant] .md")).to_have_text("Second time lucky.")
    expect(page.locator(".message-user")).to_have_count(1)
    conversation_id = page.url.rsplit("/", 1)[-1]
    stored = api(page, "GET", f"/api/messages/?conversation_id={conversation_id}")["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert page.errors == []


def test_an_agent_is_edited_and_deleted(page: Any, fake_llm: Any) -> None:
    # Given an agent
    register(page)
    add_fake_provider(page, fake_llm)
    agent = api(page, "POST", "/api/agents/", {"name": "Drafter", "role": "writes drafts", "color": "#10b981"})
    page.goto("/agents/")
    expect(page.locator("#agents")).to_have_attribute("data-ready", "true")
    card = page.locator(f".agent-card[data-agent-id='{agent['id']}']")
    expect(card.locator(".agent-name")).to_have_text("Drafter")

    # When it is edited in the dialog
    card.get_by_role("button", name="Edit: Drafter").click()
    dialog = page.locator("#agent-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_have_value("Drafter")
    dialog.get_by_label("Name").fill("Editor")
    dialog.get_by_label("Role").fill("edits drafts")
    dialog.get_by_label("Model").fill("fake-editor-model")
    dialog.get_by_role("button", name="Save").click()

    # Then the card and the server show the change, also after a reload
    expect(dialog).to_be_hidden()
    expect(card.locator(".agent-name")).to_have_text("Editor")
    expect(card).to_contain_text("edits drafts")
    expect(card).to_contain_text("fake-editor-model")
    page.reload()
    expect(page.locator(f".agent-card[data-agent-id='{agent['id']}'] .agent-name")).to_have_text("Editor")
    stored = api(page, "GET", f"/api/agents/{agent['id']}")
    assert (stored["name"], stored["role"], stored["model"]) == ("Editor", "edits drafts", "fake-editor-model")

    # When it is deleted, it is gone
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete: Editor").click()
    expect(page.locator(".agent-card")).to_have_count(0)
    expect(page.locator("#agent-list .empty")).to_be_visible()
    assert api(page, "GET", "/api/agents/") == []
    assert page.errors == []


def test_a_saved_api_key_is_removed_from_the_settings_page(page: Any, fake_llm: Any) -> None:
    register(page)
    provider = add_fake_provider(page, fake_llm)
    page.goto("/settings/")
    card = page.locator(f".provider-card[data-provider-id='{provider['id']}']")
    expect(card).to_contain_text("Key saved")

    page.once("dialog", lambda d: d.accept())
    card.get_by_role("button", name="Remove key: Fake").click()

    expect(card).to_contain_text("No key")
    expect(card.get_by_role("button", name="Remove key: Fake")).to_have_count(0)
    assert api(page, "GET", f"/api/providers/{provider['id']}")["has_api_key"] is False
    assert page.errors == []


def forbidden_tool(page: Any) -> dict[str, Any]:
    tools = api(page, "GET", "/api/tools/")["tools"]
    return next(tool for tool in tools if not tool["allowed"] and tool["required_level"] == 3)


def test_a_read_only_user_sees_forbidden_tools_disabled_with_the_reason_in_their_language(page: Any, fake_llm: Any) -> None:
    # Given a user at level 1 and a tool that needs level 3
    register_read_only(page)
    add_fake_provider(page, fake_llm)
    tool = forbidden_tool(page)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")

    # When the tools are opened
    page.get_by_role("button", name="Tools").click()
    option = page.locator(f".tool-option[data-tool={tool['name']}]")

    # Then the tool is disabled and says which level it needs, in words
    expect(option.locator("input")).to_be_disabled()
    expect(option).to_have_class("tool-option disabled")
    expect(option.locator(".tool-option-reason")).to_have_text("Needs Execute permission")
    titles = page.eval_on_selector_all(".tool-group-title", "nodes => nodes.map(n => n.textContent)")
    assert "Code" in titles and "Files" in titles and "code" not in titles

    # And in Chinese, the reason, the categories and the role in settings are Chinese too
    page.keyboard.press("Escape")
    page.locator("#lang-rail").select_option("zh-hans")
    page.wait_for_load_state()
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.locator("#tools-button").click()
    expect(option.locator(".tool-option-reason")).to_have_text("需要“执行”权限")
    titles = page.eval_on_selector_all(".tool-group-title", "nodes => nodes.map(n => n.textContent)")
    assert "代码" in titles and "文件" in titles
    assert not any(title.isascii() for title in titles)
    page.goto("/settings/")
    expect(page.locator("[data-field=role]")).to_have_text("用户")
    expect(page.locator("[data-field=permission_level]")).to_have_text("1 · 只读")
    assert page.errors == []


def test_the_dark_theme_follows_the_system(new_page: Any, fake_llm: Any) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        page = new_page(color_scheme=scheme)
        page.goto("/login/")
        colours[scheme] = page.evaluate(
            """() => ({
                body: getComputedStyle(document.body).backgroundColor,
                card: getComputedStyle(document.querySelector('.auth-card')).backgroundColor,
                text: getComputedStyle(document.body).color,
            })"""
        )
        if scheme == "dark":
            register(page)
            page.goto("/")
            expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
            colours["dark_main"] = page.evaluate("getComputedStyle(document.querySelector('.conv-sidebar')).backgroundColor")
        assert page.errors == []

    def luminance(css: str) -> float:
        red, green, blue = (int(part) for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
        return 0.299 * red + 0.587 * green + 0.114 * blue

    assert colours["light"]["body"] != colours["dark"]["body"]
    assert colours["light"]["card"] != colours["dark"]["card"]
    assert luminance(colours["dark"]["body"]) < 60 < 200 < luminance(colours["light"]["body"])
    assert luminance(colours["dark"]["text"]) > 150 > luminance(colours["light"]["text"])
    assert luminance(colours["dark_main"]) < 60
