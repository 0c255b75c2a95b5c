"""Attachments in the chat page: paste a screenshot, send it, see it in the transcript and
in the fake LLM's answer; attach a document through the button and read its text; a file
refused for its content shows the server's words on its chip."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import add_fake_provider, register

pytestmark = pytest.mark.e2e


def png_base64(width: int, height: int) -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 160, 90)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


PASTE = """([data, name]) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, { type: "image/png" }));
    const textarea = document.getElementById("composer-input");
    textarea.focus();
    textarea.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }));
}"""


def test_a_pasted_screenshot_is_sent_shown_and_seen_by_the_model(page: Any, fake_llm: Any) -> None:
    # Given a signed-in user with the fake LLM as provider, on an empty chat
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")

    # When a screenshot is pasted into the composer
    page.evaluate(PASTE, [png_base64(64, 48), "image.png"])

    # Then it uploads and shows as a thumbnail with a remove button
    chip = page.locator(".attach-chip")
    expect(chip).to_have_attribute("data-status", "ready")
    expect(chip.locator("img.attach-thumb")).to_be_visible()
    expect(chip.get_by_role("button", name="Remove image.png")).to_be_visible()

    # When it is sent with a question
    page.get_by_role("textbox", name="Message").fill("What is in this screenshot?")
    page.get_by_role("textbox", name="Message").press("Enter")

    # Then the tray empties, the transcript shows the image, and the model saw it
    expect(page.locator(".attach-chip")).to_have_count(0)
    question = page.locator("[data-role=user]").last
    expect(question.locator(".message-image img")).to_be_visible()
    reply = page.locator("[data-role=assistant]").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(reply).to_contain_text("I see 1 image: 64x48 PNG. You said: What is in this screenshot?")
    sent = fake_llm.requests[-1].body["messages"][-1]["content"]
    assert [part["type"] for part in sent] == ["text", "image_url"]

    # And after a reload the image is still there, and a click enlarges it
    page.reload()
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    image = page.locator("[data-role=user] .message-image img").first
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('[data-role=user] .message-image img').naturalWidth === 64")
    page.get_by_role("button", name="Enlarge image.png").click()
    dialog = page.locator("#file-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("img.file-dialog-image")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    assert page.errors == []


def test_a_document_is_attached_with_the_button_and_its_text_opens(page: Any, fake_llm: Any, tmp_path: Any) -> None:
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    notes = tmp_path / "notes.md"
    notes.write_text("# Plan\n\nShip the attachments feature on Friday.\n")
    fake = tmp_path / "photo.png"
    fake.write_text("only words, not a picture")

    # When a document and a file that only claims to be an image are chosen
    page.locator("#attach-input").set_input_files([str(notes), str(fake)])

    # Then the document is ready and the other chip says why it was refused
    expect(page.locator(".attach-chip[data-status=ready]")).to_contain_text("notes.md")
    refused = page.locator(".attach-chip[data-status=error]")
    expect(refused).to_contain_text("photo.png is not a PNG, JPEG, WebP or GIF image (its content is text).")
    refused.get_by_role("button", name="Remove photo.png").click()
    expect(page.locator(".attach-chip")).to_have_count(1)

    # When it is sent
    page.get_by_role("textbox", name="Message").fill("When do we ship?")
    page.get_by_role("textbox", name="Message").press("Enter")

    # Then the model got its text, the reply cites it, and its chip opens the text
    reply = page.locator("[data-role=assistant]").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    assert "> Ship the attachments feature on Friday." in fake_llm.requests[-1].body["messages"][-1]["content"]
    expect(reply.locator(".citation")).to_contain_text("notes.md")
    page.locator("[data-role=user] .file-chip").click()
    dialog = page.locator("#file-dialog")
    expect(dialog.locator(".file-text")).to_contain_text("Ship the attachments feature on Friday.")
    page.keyboard.press("Escape")
    reply.locator(".citation").first.click()
    expect(dialog.locator(".file-text")).to_contain_text("Ship the attachments feature on Friday.")
    assert page.errors == []


DROP = """([data, name]) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, { type: "image/png" }));
    const zone = document.querySelector(".chat-pane");
    for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }
}"""


def test_a_dropped_image_joins_the_tray_and_can_be_removed(page: Any, fake_llm: Any) -> None:
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")

    page.evaluate(DROP, [png_base64(20, 10), "dropped.png"])

    chip = page.locator(".attach-chip")
    expect(chip).to_have_attribute("data-status", "ready")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()  # files alone can be sent
    chip.get_by_role("button", name="Remove dropped.png").click()
    expect(page.locator(".attach-chip")).to_have_count(0)
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    assert page.errors == []
