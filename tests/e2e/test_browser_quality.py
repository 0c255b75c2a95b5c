"""Quality in the browser: script injection renders as text everywhere, the Chinese UI,
and a phone-sized viewport without horizontal scrolling."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from fakellm import Scenario
from tests.e2e.conftest import PASSWORD, add_fake_provider, api, register, unique

pytestmark = pytest.mark.e2e

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
PAYLOAD = f"{IMG} {SCRIPT}"


def assert_no_script_ran(page: Any) -> None:
    page.wait_for_timeout(300)  # let any injected image fail to load
    assert page.evaluate("typeof window.__xss") == "undefined"
    # Sanitized Markdown may keep a harmless <img src=x>, but never a handler or a script.
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert page.evaluate("[...document.scripts].some(s => s.textContent.includes('__xss'))") is False


def test_script_injection_renders_as_text(page: Any, fake_llm: Any) -> None:
    register(page)
    provider = add_fake_provider(page, fake_llm)

    # A message and a reply that both carry HTML and a javascript: link
    marker = unique("xss")
    fake_llm.script(Scenario(text=f"Echo: {PAYLOAD} [click](javascript:window.__xss=1) `{IMG}`"), match=marker)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.get_by_role("textbox", name="Message").fill(f"{PAYLOAD} {marker}")
    page.get_by_role("textbox", name="Message").press("Enter")
    reply = page.locator("[data-role=assistant]").last
    expect(reply).to_have_attribute("data-status", "complete")
    expect(page.locator(".message-user .bubble").last).to_contain_text(IMG)
    expect(page.locator(".message-user .bubble").last).to_contain_text(SCRIPT)
    expect(reply.locator("code")).to_contain_text(IMG)
    assert reply.locator("a[href^=javascript]").count() == 0
    assert_no_script_ran(page)

    # A conversation title
    conversation_id = page.url.rsplit("/", 1)[-1]
    item = page.locator(f".conv-item[data-id={conversation_id}]")
    item.hover()
    item.get_by_role("button", name="Rename").click()
    page.locator(".conv-rename").fill(PAYLOAD)
    page.locator(".conv-rename").press("Enter")
    expect(page.locator(f".conv-item[data-id={conversation_id}] a")).to_have_text(PAYLOAD)
    expect(page.locator("#chat-title")).to_have_text(PAYLOAD)
    page.reload()
    expect(page.locator("#chat-title")).to_have_text(PAYLOAD)
    assert_no_script_ran(page)

    # An agent name and role
    agent = api(page, "POST", "/api/agents/", {"name": PAYLOAD[:100], "role": SCRIPT, "color": "#123456"})
    page.goto("/agents/")
    expect(page.locator(".agent-card .agent-name")).to_have_text(agent["name"])
    assert_no_script_ran(page)

    # A room title, task and an inline agent's name, through a whole run
    fake_llm.script(Scenario(text=f"I say {PAYLOAD}"))
    room = api(
        page,
        "POST",
        "/api/chat-rooms/",
        {
            "title": PAYLOAD,
            "task": PAYLOAD,
            "max_rounds": 1,
            "agents": [{"name": IMG, "provider_id": provider["id"], "model": "fake-model", "color": "#10b981"}],
        },
    )
    page.goto(f"/rooms/{room['id']}")
    expect(page.locator("#room-title")).to_have_text(PAYLOAD)
    expect(page.locator(".task-card-text")).to_have_text(PAYLOAD)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#room-status")).to_have_attribute("data-status", "completed", timeout=20_000)
    expect(page.locator(".room-msg-name").first).to_have_text(IMG)
    expect(page.locator(".list-item-title").first).to_have_text(PAYLOAD)
    assert_no_script_ran(page)

    # A document name
    page.goto("/knowledge/")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")
    page.locator("#file-input").set_input_files(
        [{"name": f"{IMG}.md", "mimeType": "text/markdown", "buffer": b"# Notes\n\nSome harmless notes about onerror handlers."}]
    )
    # Indexed by the server's worker: searchable once its row says ready
    expect(page.locator("#document-rows tr[data-status=ready]")).to_have_count(1, timeout=30_000)
    # Exactly the name as uploaded (Chromium sends a filename's quotes as %22, per the
    # HTML standard's multipart encoding), as text, not an element
    expect(page.locator("#document-rows .name-cell")).to_have_text(IMG.replace('"', "%22") + ".md")
    assert page.locator("#document-rows .name-cell img").count() == 0
    page.get_by_role("searchbox", name="Search the knowledge base").fill("harmless notes")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator(".result").first).to_be_visible()
    assert_no_script_ran(page)
    assert page.errors == []


def test_the_chinese_ui_has_chinese_labels_and_a_switch_back_to_english(new_page: Any, fake_llm: Any) -> None:
    # Given a browser whose language is Chinese
    page = new_page(locale="zh-CN")
    page.goto("/register/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", level=1)).to_have_text("创建账户")
    username = unique("zh")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("电子邮箱").fill(f"{username}@example.com")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_label("确认密码").fill(PASSWORD)
    page.get_by_role("button", name="创建账户").click()
    page.wait_for_url("**/")

    # Then the navigation, the page and the scripts' strings are in Chinese
    nav = page.get_by_role("navigation", name="主导航")
    for label in ("聊天", "智能体", "聊天室", "知识库", "设置"):
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="新对话")).to_be_visible()
    expect(page.locator("#provider-banner")).to_contain_text("还没有模型提供方")
    expect(page.locator(".conv-empty")).to_have_text("还没有对话。")
    page.goto("/settings/")
    expect(page.get_by_role("heading", name="模型提供方")).to_be_visible()
    page.goto("/knowledge/")
    expect(page.get_by_role("heading", name="上传文档")).to_be_visible()
    page.goto("/rooms/")
    expect(page.get_by_role("button", name="新建聊天室")).to_be_visible()
    page.goto("/agents/")
    expect(page.get_by_role("button", name="新建智能体")).to_be_visible()

    # When the language switch picks English, the UI follows
    page.locator("#lang-rail").select_option("en")
    page.wait_for_load_state()
    expect(page.get_by_role("button", name="New agent")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.errors == []


def test_a_phone_sized_viewport_has_no_horizontal_scroll(new_page: Any, fake_llm: Any) -> None:
    page = new_page(width=375, height=812)
    register(page)
    add_fake_provider(page, fake_llm)
    long_word = "x" * 300
    marker = unique("wide")
    fake_llm.script(
        Scenario(
            text=f"A long line: {long_word}\n\n```python\nprint('{'y' * 200}')\n```\n\n"
            f"| a | b | c |\n|---|---|---|\n| {long_word} | 2 | 3 |"
        ),
        match=marker,
    )

    def no_horizontal_scroll() -> None:
        # body has overflow-x: hidden, so the document's width alone proves nothing: every
        # pane must fit its box, and no element may reach past the viewport's right edge,
        # except inside what scrolls on purpose (code blocks, Markdown tables).
        found = page.evaluate(
            """() => {
                const width = document.documentElement.clientWidth;
                const panes = ["html", "body", ".app", ".main", ".chat-layout", ".chat-pane", ".chat-head", ".messages", ".composer",
                               ".split", ".split-main", ".page", ".transcript", ".table-wrap"];
                const wide = [];
                for (const selector of panes) {
                    for (const node of document.querySelectorAll(selector)) {
                        if (node.scrollWidth > node.clientWidth + 1) {
                            wide.push(`${selector} scrolls: ${node.scrollWidth} > ${node.clientWidth}`);
                        }
                    }
                }
                const scrollsOnPurpose = [
                    "pre", ".md table", ".conv-sidebar:not(.open)", ".split-list:not(.open)", "dialog:not([open])",
                ].join(", ");
                for (const node of document.body.querySelectorAll("*")) {
                    if (node.closest(scrollsOnPurpose)) continue;
                    const box = node.getBoundingClientRect();
                    if (box.width && box.right > width + 1) {
                        wide.push(`${node.tagName.toLowerCase()}.${node.className} ends at ${Math.round(box.right)}`);
                    }
                }
                return wide;
            }"""
        )
        assert found == [], f"{page.url} at {page.viewport_size}: {found[:8]}"
        no_placeholder_is_cut()

    def no_placeholder_is_cut() -> None:
        # An empty field's placeholder fits in the lines the field shows (one for an input).
        cut = page.evaluate(
            """() => {
                const measure = document.createElement("canvas").getContext("2d");
                const cut = [];
                for (const field of document.querySelectorAll("input[placeholder], textarea[placeholder]")) {
                    if (field.value || !field.placeholder || !field.getClientRects().length) continue;
                    const style = getComputedStyle(field);
                    measure.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
                    const room = field.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
                    const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
                    const inner = field.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
                    const rows = field.tagName === "TEXTAREA" ? Math.max(1, Math.floor(inner / lineHeight + 0.01)) : 1;
                    const needed = Math.ceil(measure.measureText(field.placeholder).width / room);
                    if (needed > rows) cut.push(`${field.id || field.name}: "${field.placeholder}" needs ${needed} lines, shows ${rows}`);
                }
                return cut;
            }"""
        )
        assert cut == [], f"{page.url} at {page.viewport_size}: {cut}"

    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    no_horizontal_scroll()  # the empty chat: the composer's placeholder is not cut
    page.get_by_role("textbox", name="Message").fill(f"{long_word} {marker}")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator("[data-role=assistant]").last).to_have_attribute("data-status", "complete")

    no_horizontal_scroll()
    # The long word wraps inside the user's bubble
    bubble = page.locator(".message-user .bubble").last
    assert bubble.evaluate("n => n.scrollWidth <= n.clientWidth")
    # The conversation list opens as a drawer
    page.get_by_role("button", name="Show conversations").click()
    expect(page.locator("#conv-sidebar")).to_be_in_viewport()
    no_horizontal_scroll()
    for path in ("/agents/", "/rooms/", "/knowledge/", "/usage/", "/settings/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        no_horizontal_scroll()
    # A document with a long name: its row fits, Delete is on screen, and so are its chunks
    page.goto("/knowledge/")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")
    name = f"{'quarterly-solar-panel-maintenance-report-' * 3}final.md"
    page.locator("#file-input").set_input_files(
        [{"name": name, "mimeType": "text/markdown", "buffer": b"# Panels\n\nClean the solar panels twice a year."}]
    )
    row = page.locator("#document-rows tr[data-status=ready]")
    expect(row).to_have_count(1, timeout=20_000)
    expect(row.get_by_role("button", name=f"Delete: {name}")).to_be_in_viewport(ratio=1)
    expect(row.get_by_role("cell", name="Chunks: 1")).to_be_visible()
    no_horizontal_scroll()
    row.get_by_role("button", name=name, exact=True).click()
    expect(page.locator(".chunk")).to_have_count(1)
    no_horizontal_scroll()
    # The rooms list opens as a drawer too, and its toggle says so
    page.goto("/rooms/")
    expect(page.locator("#rooms")).to_have_attribute("data-ready", "true")
    toggle = page.locator("#room-empty [data-toggle-list]")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(page.locator("#room-sidebar")).to_be_in_viewport()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert page.errors == []
