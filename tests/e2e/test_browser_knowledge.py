"""Knowledge in the browser: drop a PDF and a Markdown file, see them become ready, open
their chunks, search them, and chat with an agent that has them and cites them."""

from __future__ import annotations

import base64
import re
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

    # And the citation opens the document's chunks on the knowledge page, at the cited one
    citation.click()
    page.wait_for_url("**/knowledge/?document=*&chunk=0*")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")
    expect(page.locator("#document-rows tr.highlight")).to_contain_text("policy.md")
    expect(page.locator("#document-rows tr.highlight")).to_be_in_viewport()
    toggle = page.locator("#document-rows tr.highlight").get_by_role("button", name="policy.md", exact=True)
    expect(toggle).to_have_attribute("aria-expanded", "true")
    cited = page.locator(".chunk.chunk-cited")
    expect(cited).to_have_count(1)
    expect(cited).to_contain_text("Cited passage")
    expect(cited.locator(".chunk-heading")).to_have_text("Returns policy")
    expect(cited.locator(".chunk-text")).to_contain_text("30 days")
    expect(cited).to_be_in_viewport()

    # And deleting a document removes it
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#document-rows tr", has_text="warranty.pdf").get_by_role("button", name="Delete: warranty.pdf").click()
    expect(page.locator("#document-rows tr", has_text="warranty.pdf")).to_have_count(0)
    assert agent["id"]
    assert page.errors == []


def upload_via_api(page: Any, files: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Upload through the API, then wait for the server's worker to index each file."""
    return page.evaluate(
        """async (files) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const made = [];
            for (const [name, text] of files) {
                const form = new FormData();
                form.append("file", new File([text], name, {type: "text/markdown"}));
                const r = await fetch("/api/knowledge/documents/", {method: "POST", headers: {"X-CSRFToken": token}, body: form});
                made.push((await r.json()).data);
            }
            const deadline = Date.now() + 60000;
            for (let i = 0; i < made.length; i++) {
                while (made[i].status === "processing" && Date.now() < deadline) {
                    await new Promise((done) => setTimeout(done, 100));
                    made[i] = (await (await fetch(`/api/knowledge/documents/${made[i].id}`)).json()).data;
                }
            }
            return made;
        }""",
        files,
    )


def test_a_large_file_indexed_in_the_background_goes_from_processing_to_ready_in_its_upload_row(page: Any) -> None:
    # Given a large Markdown file (every upload is indexed by the worker)
    register(page)
    page.goto("/knowledge/")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")
    sections = [f"# Section {n}\n\nParagraph {n} describes topic number {n} in plain words for the index." for n in range(1200)]
    big = "\n\n".join(sections).encode()
    assert len(big) > 64 * 1024

    # When it is dropped
    drop_files(page, "#dropzone", [("big-notes.md", "text/markdown", big)])

    # Then its upload row says processing at first, and ready with its chunks once the
    # background indexing is done, without a reload
    row = page.locator(".upload-row[data-file='big-notes.md']")
    expect(row).to_have_attribute("data-status", "processing", timeout=20_000)
    expect(row.locator(".upload-status")).to_have_text("Processing")
    expect(row).to_have_attribute("data-status", "ready", timeout=60_000)
    expect(row.locator(".upload-status")).to_have_text(re.compile(r"^Ready · Chunks: [1-9][0-9]*$"))
    expect(page.locator("#document-rows tr", has_text="big-notes.md")).to_have_attribute("data-status", "ready")
    assert page.errors == []


def test_a_citation_link_opens_its_document_even_beyond_the_first_page(page: Any) -> None:
    # Given 101 documents, so the oldest is not on the first page of 100
    register(page)
    page.goto("/knowledge/")
    oldest, *_ = upload_via_api(page, [(f"doc-{n:03d}.md", f"# Doc {n}\n\nUnique fact number {n}.") for n in range(101)])
    # (a citation stored before citations named their chunk: found by its snippet)
    citation = {
        "document_id": oldest["id"],
        "document_name": oldest["name"],
        "page": None,
        "heading": "Doc 0",
        "snippet": "Unique fact number 0.",
    }

    # When a citation of it is followed (the chat page remembers the cited passage)
    page.evaluate("(citation) => sessionStorage.setItem('luxx.citation', JSON.stringify(citation))", citation)
    page.goto(f"/knowledge/?document={oldest['id']}#doc-{oldest['id']}")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")

    # Then its row is shown, highlighted and scrolled to, with its chunks open under it and
    # the cited one highlighted
    row = page.locator(f"#doc-{oldest['id']}")
    expect(row).to_have_class("highlight")
    expect(row.locator(".name-cell")).to_have_text("doc-000.md")
    expect(row).to_be_in_viewport()
    cited = page.locator(f"#doc-{oldest['id']}-chunks .chunk-cited")
    expect(cited.locator(".chunk-text")).to_have_text("Unique fact number 0.")
    expect(cited.locator(".chunk-heading")).to_have_text("Doc 0")
    expect(cited).to_contain_text("Cited passage")
    expect(page.locator("#document-rows tr[data-document-id]")).to_have_count(101)
    assert page.errors == []


def test_a_citation_of_a_chunk_beyond_the_first_pages_loads_them_until_it_is_there(page: Any) -> None:
    # Given a document of 120 sections, one chunk each, and a citation of the 111th
    register(page)
    page.goto("/knowledge/")
    (document,) = upload_via_api(page, [("manual.md", "\n\n".join(f"# Part {n}\n\nStep {n} of the manual." for n in range(120)))])
    assert document["chunk_count"] == 120

    # When the citation's link is followed
    page.goto(f"/knowledge/?document={document['id']}&chunk=110#doc-{document['id']}")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")

    # Then the pages up to it are loaded (50 a page), and it is highlighted and in view
    panel = page.locator(f"#doc-{document['id']}-chunks")
    cited = panel.locator(".chunk-cited")
    expect(cited).to_have_attribute("data-chunk-index", "110")
    expect(cited.locator(".chunk-index")).to_have_text("#111")
    expect(cited.locator(".chunk-text")).to_have_text("Step 110 of the manual.")
    expect(cited).to_be_in_viewport()
    expect(panel.locator(".chunk")).to_have_count(120)
    expect(panel.locator(".chunks-summary")).to_have_text("120 of 120 chunks")
    expect(panel.get_by_role("button", name="Show more")).to_have_count(0)
    assert page.errors == []


INJECTED = '<img src=x onerror="window.__injected = true">'
NOTES = (
    "# Setup\n\nInstall the package and run the migrations.\n\n"
    "# Usage\n\nStart the server and open the browser.\n\n"
    f"# Security\n\nA name like {INJECTED} is shown as text.\n\n"
    "# Troubleshooting\n\nRead the log when something fails."
)


def test_clicking_a_documents_name_opens_its_chunks_with_headings_as_text(page: Any) -> None:
    # Given a Markdown file of four sections dropped on the page
    register(page)
    page.goto("/knowledge/")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")
    drop_files(page, "#dropzone", [("notes.md", "text/markdown", NOTES.encode())])
    row = page.locator("#document-rows tr", has_text="notes.md")
    expect(row).to_have_attribute("data-status", "ready", timeout=20_000)
    toggle = row.get_by_role("button", name="notes.md", exact=True)
    expect(toggle).to_have_attribute("aria-expanded", "false")

    # When its name is clicked
    toggle.click()

    # Then its chunks are listed in order with index, heading and text
    expect(toggle).to_have_attribute("aria-expanded", "true")
    panel = page.get_by_role("region", name="Chunks of notes.md")
    expect(panel).to_be_visible()
    assert toggle.get_attribute("aria-controls") == panel.get_attribute("id")
    chunks = panel.locator(".chunk")
    expect(chunks).to_have_count(4)
    expect(chunks.locator(".chunk-index")).to_have_text(["#1", "#2", "#3", "#4"])
    expect(chunks.locator(".chunk-heading")).to_have_text(["Setup", "Usage", "Security", "Troubleshooting"])
    expect(chunks.nth(1).locator(".chunk-text")).to_have_text("Start the server and open the browser.")
    expect(panel.locator(".chunks-summary")).to_have_text("4 of 4 chunks")
    expect(panel.get_by_role("button", name="Show more")).to_have_count(0)

    # And markup in a chunk is its text, never an element
    expect(chunks.nth(2).locator(".chunk-text")).to_have_text(f"A name like {INJECTED} is shown as text.")
    assert panel.locator("img").count() == 0
    assert page.evaluate("() => window.__injected") is None

    # And the toggle works from the keyboard: Enter closes, Space opens again
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.locator(".chunks-panel")).to_have_count(0)
    page.keyboard.press("Space")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(panel.locator(".chunk")).to_have_count(4)
    assert page.errors == []


def test_show_more_loads_the_next_chunks_and_moves_the_focus_to_them(page: Any) -> None:
    # Given a document of 60 chunks (the page shows 50 at a time)
    register(page)
    page.goto("/knowledge/")
    upload_via_api(page, [("long.md", "\n\n".join(f"# Chapter {n}\n\nChapter {n} in one sentence." for n in range(60)))])
    page.reload()
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")

    # When its chunks are opened, the first 50 are shown with a way to see more
    page.get_by_role("button", name="long.md", exact=True).click()
    panel = page.get_by_role("region", name="Chunks of long.md")
    expect(panel.locator(".chunk")).to_have_count(50)
    expect(panel.locator(".chunks-summary")).to_have_text("50 of 60 chunks")

    # And "Show more" loads the rest, in order, and puts the focus on the first new one
    panel.get_by_role("button", name="Show more").press("Enter")
    expect(panel.locator(".chunk")).to_have_count(60)
    expect(panel.locator(".chunks-summary")).to_have_text("60 of 60 chunks")
    expect(panel.get_by_role("button", name="Show more")).to_have_count(0)
    expect(panel.locator(".chunk").nth(50)).to_be_focused()
    expect(panel.locator(".chunk").nth(50).locator(".chunk-heading")).to_have_text("Chapter 50")
    expect(panel.locator(".chunk").last.locator(".chunk-text")).to_have_text("Chapter 59 in one sentence.")
    assert page.errors == []
