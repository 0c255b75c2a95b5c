"""PDFs as a browser prints them: headings in a larger font start a section, and text
drawn with a font that has no Unicode map (Chinese without a CJK font) is never stored
as NUL characters, which PostgreSQL text columns refuse."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import sync_playwright
from pypdf import PdfReader

from knowledge.models import Chunk, Document
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.tasks import run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)

CHAPTERS = (
    "<h1>Chapter 1 Solar Panels</h1><p>Solar panels turn sunlight into electricity.</p>"
    "<h1>Chapter 2 Batteries</h1><p>Batteries store the energy for the night.</p>"
)
MIXED = (
    "<h1>Chapter 1 Solar Panels</h1><p>Solar panels turn sunlight into electricity on roofs and in fields, facing the sun.</p>"
    "<p>太阳能电池板把阳光变成电。</p>"
)
CHINESE_ONLY = "<h1>第一章 太阳能</h1><p>太阳能电池板把阳光变成电。电池在夜里储存能量，锂电池轻而耐用。</p>"


@pytest.fixture(scope="module")
def print_pdf() -> Callable[[str], bytes]:
    """Chromium's print to PDF of an HTML body, as a user's "Save as PDF" makes it."""
    made: dict[str, bytes] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        for html in (CHAPTERS, MIXED, CHINESE_ONLY):
            page.set_content(f"<html><body>{html}</body></html>")
            made[html] = page.pdf()
        browser.close()
    return made.__getitem__


def upload(client: Any, name: str, data: bytes) -> Any:
    """Upload a file, then run the tasks it queued with the worker's code, as a worker would."""
    response = client.post("/api/knowledge/documents/", {"file": SimpleUploadedFile(name, data)}, format="multipart")
    run_queued_tasks()
    return response


def status_of(response: Any) -> tuple[int, str]:
    """The upload's status code and its document's status once the worker has run."""
    return response.status_code, Document.objects.get(pk=response.json()["data"]["id"]).status


def raw_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_headings_printed_by_chromium_start_their_own_sections(client: Any, print_pdf: Callable[[str], bytes]) -> None:
    response = upload(client, "energy.pdf", print_pdf(CHAPTERS))

    assert status_of(response) == (202, "ready")
    chunks = Chunk.objects.filter(document_id=response.json()["data"]["id"]).order_by("index")
    assert [(c.heading, c.content, c.page) for c in chunks] == [
        ("Chapter 1 Solar Panels", "Solar panels turn sunlight into electricity.", 1),
        ("Chapter 2 Batteries", "Batteries store the energy for the night.", 1),
    ]


def test_unmapped_glyphs_are_stripped_and_the_rest_is_indexed(client: Any, print_pdf: Callable[[str], bytes]) -> None:
    data = print_pdf(MIXED)

    response = upload(client, "mixed.pdf", data)

    # Given: no CJK font, so Chromium draws the Chinese with glyphs pypdf reads as NULs.
    assert "\x00" * 5 in raw_text(data)
    assert status_of(response) == (202, "ready")
    chunks = list(Chunk.objects.filter(document_id=response.json()["data"]["id"]).order_by("index"))
    assert [(c.heading, c.content) for c in chunks] == [
        ("Chapter 1 Solar Panels", "Solar panels turn sunlight into electricity on roofs and in fields, facing the sun.")
    ]
    assert not any("\x00" in c.search_text for c in chunks)


def test_a_pdf_whose_text_is_mostly_unreadable_is_rejected_with_the_reason(client: Any, print_pdf: Callable[[str], bytes]) -> None:
    data = print_pdf(CHINESE_ONLY)

    response = upload(client, "chinese.pdf", data)

    assert "\x00" * 5 in raw_text(data)
    assert status_of(response) == (202, "error")
    assert Document.objects.get().error_message == (
        "The PDF's text cannot be read: its fonts do not say which characters they draw (often Chinese or Japanese text "
        "without an embedded font). Export it again with the fonts embedded, or upload it as text."
    )
    assert Chunk.objects.count() == 0


def test_nul_characters_in_a_text_file_are_stripped(client: Any) -> None:
    response = upload(client, "notes.txt", b"Solar panels\x00 turn sunlight into electricity.\x00")

    assert status_of(response) == (202, "ready")
    assert list(Chunk.objects.filter(document_id=response.json()["data"]["id"]).values_list("content", flat=True)) == [
        "Solar panels turn sunlight into electricity."
    ]
