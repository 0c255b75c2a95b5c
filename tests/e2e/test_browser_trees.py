"""Conversations as trees in the browser: edit a question and get a new branch, flip
between versions, regenerate a reply, copy a message, export and import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from fakellm import Scenario
from tests.e2e.conftest import add_fake_provider, register, unique

pytestmark = pytest.mark.e2e


def contents(page: Any) -> list[str]:
    """The text of every message shown, in order."""
    return page.eval_on_selector_all(
        ".messages > [data-role]",
        "nodes => nodes.map(n => (n.dataset.role === 'user' ? n.querySelector('.bubble') : n.querySelector('.steps')).innerText.trim())",
    )


def send(page: Any, text: str) -> None:
    saved = page.locator(".messages > [data-role=assistant][data-status=complete] .message-actions")
    count = saved.count()
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("textbox", name="Message").press("Enter")
    # The reply is saved and the branch drawn again with its buttons
    expect(saved).to_have_count(count + 1, timeout=30_000)


def test_edit_flip_regenerate_copy_export_and_import(page: Any, fake_llm: Any, tmp_path: Path) -> None:
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    marker = unique("tree")
    fake_llm.script(Scenario(text="First answer."), match=f"One {marker}")
    fake_llm.script(Scenario(text="Second answer."), match=f"Two {marker}")
    fake_llm.script(Scenario(text="Edited answer."), match=f"Edited {marker}")
    fake_llm.script(Scenario(text="Regenerated answer."), match=f"Edited {marker}")

    # Given two turns
    send(page, f"One {marker}")
    send(page, f"Two {marker}")
    assert contents(page) == [f"One {marker}", "First answer.", f"Two {marker}", "Second answer."]

    # When the second question is edited (pencil, new text, Ctrl+Enter)
    page.get_by_role("button", name="Edit message").nth(1).click()
    editor = page.get_by_role("textbox", name="Edit message")
    expect(editor).to_be_focused()
    editor.fill(f"Edited {marker}")
    editor.press("Control+Enter")

    # Then a new branch answers it, the model saw only that branch, and the question shows 2/2
    expect(page.locator(".messages > [data-role=assistant]").last).to_contain_text("Edited answer.", timeout=30_000)
    question = page.locator(".messages > [data-role=user]").nth(1)
    expect(question.locator(".sibling-position")).to_have_text("2/2")
    sent = [m["content"] for m in fake_llm.requests[-1].body["messages"] if m["role"] != "system"]
    assert sent == [f"One {marker}", "First answer.", f"Edited {marker}"]
    assert contents(page) == [f"One {marker}", "First answer.", f"Edited {marker}", "Edited answer."]

    # When the user flips back to the first version, by keyboard
    question.get_by_role("button", name="Previous version").focus()
    page.keyboard.press("Enter")

    # Then the old branch is back, whole, and the focus stays on the version switch
    expect(page.locator(".messages > [data-role=user]").nth(1).locator(".sibling-position")).to_have_text("1/2")
    assert contents(page) == [f"One {marker}", "First answer.", f"Two {marker}", "Second answer."]
    expect(page.locator(".messages > [data-role=user]").nth(1).get_by_role("button", name="Next version")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".messages > [data-role=user]").nth(1).locator(".sibling-position")).to_have_text("2/2")

    # When the edited branch's reply is regenerated
    page.locator(".messages > [data-role=assistant]").last.get_by_role("button", name="Regenerate").click()

    # Then a second version of the reply shows, beside the first
    reply = page.locator(".messages > [data-role=assistant]").last
    expect(reply).to_contain_text("Regenerated answer.", timeout=30_000)
    expect(reply.locator(".sibling-position")).to_have_text("2/2")
    expect(page.locator(".messages > [data-role=user]")).to_have_count(2)
    reply.get_by_role("button", name="Previous version").click()
    expect(page.locator(".messages > [data-role=assistant]").last).to_contain_text("Edited answer.")
    page.locator(".messages > [data-role=assistant]").last.get_by_role("button", name="Next version").click()
    expect(page.locator(".messages > [data-role=assistant]").last).to_contain_text("Regenerated answer.")

    # And a message can be copied as its Markdown source
    copy = page.locator(".messages > [data-role=assistant]").last.get_by_role("button", name="Copy message")
    copy.click()
    expect(copy).to_have_attribute("data-copied", "true")

    # When the conversation is exported from the menu, reached by keyboard
    page.locator("#conv-menu-button").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem", name="Export as JSON")).to_be_focused()
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    exported_path = tmp_path / "export.json"
    download_info.value.save_as(exported_path)
    exported = json.loads(exported_path.read_text())
    assert len(exported["messages"]) == 7  # 3 questions, 4 replies: the whole tree
    page.locator("#conv-menu-button").click()
    with page.expect_download() as markdown_info:
        page.get_by_role("menuitem", name="Export as Markdown").click()
    markdown_path = tmp_path / "export.md"
    markdown_info.value.save_as(markdown_path)
    markdown = markdown_path.read_text()
    assert f"Edited {marker}" in markdown and "Regenerated answer." in markdown
    assert f"Two {marker}" not in markdown and "Edited answer." not in markdown

    # And imported again: a new conversation with the same branch opens
    conversation_url = page.url
    page.locator("#conv-menu-button").click()
    with page.expect_file_chooser() as chooser_info:
        page.get_by_role("menuitem", name="Import conversations…").click()
    chooser_info.value.set_files(str(exported_path))
    expect(page.locator(".toast", has_text="Conversations imported: 1.")).to_be_visible()
    expect(page).not_to_have_url(conversation_url)
    expect(page.locator(".messages > [data-role=assistant]").last).to_contain_text("Regenerated answer.")
    assert contents(page) == [f"One {marker}", "First answer.", f"Edited {marker}", "Regenerated answer."]
    expect(page.locator(".messages > [data-role=user]").nth(1).locator(".sibling-position")).to_have_text("2/2")
    assert page.errors == []


def test_regenerating_while_another_tab_streams_says_why_and_keeps_the_branch(new_page: Any, fake_llm: Any) -> None:
    # Given a conversation open in two tabs
    page = new_page()
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    marker = unique("busy")
    fake_llm.script(Scenario(text="Done."), match=f"First {marker}")
    fake_llm.script(Scenario(tokens=400, tokens_per_second=20), match=f"Slow {marker}")
    send(page, f"First {marker}")
    other = page.context.new_page()
    other.goto(page.url)
    expect(other.locator("#chat")).to_have_attribute("data-ready", "true")

    # When the second tab starts a long reply and the first regenerates its reply meanwhile
    other.get_by_role("textbox", name="Message").fill(f"Slow {marker}")
    other.get_by_role("textbox", name="Message").press("Enter")
    expect(other.locator(".messages > [data-role=assistant]").last.locator(".md")).to_contain_text("word3", timeout=30_000)
    page.get_by_role("button", name="Regenerate").click()

    # Then the first tab says why (409) and shows the branch as it now is: its reply kept,
    # the other tab's question after it, no second version
    expect(page.locator(".toast", has_text="still being generated")).to_be_visible()
    expect(page.locator(".messages > [data-role=user]")).to_have_count(2)
    assert contents(page)[:3] == [f"First {marker}", "Done.", f"Slow {marker}"]
    expect(page.locator(".sibling-position")).to_have_count(0)
    other.keyboard.press("Escape")
    expect(other.locator(".messages > [data-role=assistant]").last).to_have_attribute("data-status", "stopped", timeout=15_000)
    assert page.errors == [] and other.errors == []
