"""Knowledge in the browser: drop a PDF and a Markdown file, see them become ready, search
them, and chat with an agent that has them and cites them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fpdf import FPDF
from playwright.sync_api import expect

from tests.e2e.conftest import add_fake_provider, api, register

pytestmark = pytest.mark.e2e

POLICY = (
    "# Returns policy\n\nCustomers may return any item within 30 days for a full refund.\n\n"
    "# Shipping\n\nOrders ship within two business days from our warehouse."
)


def make_pdf(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for body in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, body)
    return bytes(pdf.output())


def drop_files(page: Any, selector: str, files: list[tuple[str, str, bytes]]) -> None:
    """Drag and drop files onto an element, as a user would from the desktop."""
    payload = [[name, mime, base64.b64encode(data).decode()] for name, mime, data in files]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, type, b64] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, {type}));
            }
            return transfer;
        }""",
        payload,
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_documents_are_uploaded_searched_and_cited_in_a_chat(page: Any, fake_llm: Any) -> None:
    # Given an agent that will own the documents
    register(page)
    add_fake_provider(page, fake_llm)
    agent = api(page, "POST", "/api/agents/", {"name": "Support", "role": "customer support", "system_prompt": "You are support."})

    # When a PDF and a Markdown file are dropped at once, attached to the agent
    page.goto("/knowledge/")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")
    page.get_by_label("Attach to agent").select_option(label="Support")
    pdf = make_pdf(["Warranty overview.", "The warranty lasts 24 months from the date of delivery."])
    drop_files(page, "#dropzone", [("warranty.pdf", "application/pdf", pdf), ("policy.md", "text/markdown", POLICY.encode())])

    # Then each shows its own progress and becomes ready, with chunks
    expect(page.locator(".upload-row")).to_have_count(2)
    for name in ("warranty.pdf", "policy.md"):
        row = page.locator("#document-rows tr", has_text=name)
        expect(row).to_have_attribute("data-status", "ready", timeout=30_000)
        expect(row.locator(".chunk-count")).not_to_have_text("0")
        expect(row).to_contain_text("Support")
    expect(page.locator(".upload-row[data-status=ready]")).to_have_count(2)

    # When searching, the right chunk ranks first with its page or heading
    page.get_by_role("searchbox", name="Search the knowledge base").fill("how long does the warranty last")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator(".result").first
    expect(first.locator(".result-doc")).to_have_text("warranty.pdf")
    expect(first).to_contain_text("page 2")
    expect(first.locator(".result-content")).to_contain_text("24 months")
    page.get_by_role("searchbox", name="Search the knowledge base").fill("return an item refund")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator(".result").first
    expect(first.locator(".result-doc")).to_have_text("policy.md")
    expect(first.locator(".result-heading")).to_have_text("Returns policy")

    # And a chat with the agent cites the document under the answer
    page.goto("/agents/")
    page.locator(".agent-card", has_text="Support").get_by_role("button", name="Chat").click()
    page.wait_for_url("**/c/conv_*")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.get_by_role("textbox", name="Message").fill("How many days do I have to return an item?")
    page.get_by_role("textbox", name="Message").press("Enter")
    reply = page.locator("[data-role=assistant]").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    citation = reply.locator(".citation").first
    expect(citation).to_contain_text("policy.md")
    expect(citation).to_contain_text("Returns policy")
    expect(citation).to_contain_text("30 days")

    # And the citation links to the document on the knowledge page
    citation.click()
    page.wait_for_url("**/knowledge/?document=*")
    expect(page.locator("#document-rows tr.highlight")).to_contain_text("policy.md")

    # And deleting a document removes it
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#document-rows tr", has_text="warranty.pdf").get_by_role("button", name="Delete: warranty.pdf").click()
    expect(page.locator("#document-rows tr", has_text="warranty.pdf")).to_have_count(0)
    assert agent["id"]
    assert page.errors == []
