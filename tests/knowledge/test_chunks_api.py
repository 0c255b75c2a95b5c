"""GET /api/knowledge/documents/{id}/chunks: a document's chunks in index order, paginated,
only the caller's."""

from __future__ import annotations

from typing import Any

import pytest
from fpdf import FPDF

from knowledge import services
from knowledge.models import Chunk, Document
from luxx.text import estimate_tokens
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)

GUIDE = """# Luxx Guide

Intro paragraph about the platform.

## Install

### Linux

Run the installer with apt and start the service on port 8000.

### Windows

Use the graphical setup wizard.

## Usage

Chat with agents and upload documents.
"""
HEADINGS = ["Luxx Guide", "Luxx Guide > Install > Linux", "Luxx Guide > Install > Windows", "Luxx Guide > Usage"]


@pytest.fixture
def guide(user: Any) -> Document:
    return services.document_upload(user=user, agent=None, name="guide.md", data=GUIDE.encode(), background=False)


def chunks_url(document_id: int) -> str:
    return f"/api/knowledge/documents/{document_id}/chunks"


def test_it_lists_the_documents_chunks_in_index_order_with_their_fields(client: Any, guide: Document) -> None:
    # Given a Markdown document of four sections (indexed as four chunks)
    stored = list(Chunk.objects.filter(document=guide).order_by("index"))
    assert len(stored) == 4

    # When its chunks are listed
    response = client.get(chunks_url(guide.pk))

    # Then they come in index order, each with exactly the documented fields
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert (data["total"], data["page"], data["page_size"]) == (4, 1, 20)
    assert data["items"] == [
        {
            "index": chunk.index,
            "content": chunk.content,
            "heading": chunk.heading,
            "page": None,
            "char_start": chunk.char_start,
            "char_end": chunk.char_end,
            "token_estimate": estimate_tokens(chunk.content),
        }
        for chunk in stored
    ]
    assert [item["index"] for item in data["items"]] == [0, 1, 2, 3]
    assert [item["heading"] for item in data["items"]] == HEADINGS
    assert "Run the installer with apt" in data["items"][1]["content"]


def test_it_pages_through_the_chunks(client: Any, guide: Document) -> None:
    first = client.get(chunks_url(guide.pk), {"page_size": 3}).json()["data"]
    second = client.get(chunks_url(guide.pk), {"page_size": 3, "page": 2}).json()["data"]
    past_the_end = client.get(chunks_url(guide.pk), {"page_size": 3, "page": 3}).json()["data"]

    assert [item["index"] for item in first["items"]] == [0, 1, 2]
    assert (first["total"], first["page"], first["page_size"]) == (4, 1, 3)
    assert [item["index"] for item in second["items"]] == [3]
    assert (second["total"], second["page"], second["page_size"]) == (4, 2, 3)
    assert past_the_end == {"items": [], "total": 4, "page": 3, "page_size": 3}


def test_a_page_whose_offset_passes_a_64_bit_integer_is_empty_not_an_error(client: Any, guide: Document) -> None:
    # (page - 1) * page_size past 2**63: PostgreSQL refuses such an OFFSET.
    response = client.get(chunks_url(guide.pk), {"page_size": 72, "page": 32589158477190044730})

    assert response.status_code == 200
    assert response.json()["data"] == {"items": [], "total": 4, "page": 32589158477190044730, "page_size": 72}


def test_a_page_size_of_100_is_allowed_and_over_100_is_a_400_naming_it(client: Any, guide: Document) -> None:
    allowed = client.get(chunks_url(guide.pk), {"page_size": 100})
    too_big = client.get(chunks_url(guide.pk), {"page_size": 101})

    assert allowed.status_code == 200 and allowed.json()["data"]["page_size"] == 100
    assert too_big.status_code == 400
    assert too_big.json() == {
        "success": False,
        "message": "page_size: Must be at least 1 and at most 100.",
        "errors": {"page_size": ["Must be at least 1 and at most 100."]},
    }


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"page": "two"}, "page", "Must be a whole number."),
        ({"page": "0"}, "page", "Must be at least 1."),
        ({"page": "-1"}, "page", "Must be at least 1."),
        ({"page_size": "0"}, "page_size", "Must be at least 1 and at most 100."),
        ({"page_size": "1.5"}, "page_size", "Must be a whole number."),
    ],
)
def test_a_bad_page_or_page_size_is_a_400_naming_the_parameter(
    client: Any, guide: Document, params: dict[str, str], field: str, text: str
) -> None:
    response = client.get(chunks_url(guide.pk), params)

    assert response.status_code == 400
    assert response.json() == {"success": False, "message": f"{field}: {text}", "errors": {field: [text]}}


def test_another_users_document_is_404_and_reveals_nothing(guide: Document) -> None:
    other = api_client_for(make_user())

    response = other.get(chunks_url(guide.pk))

    assert response.status_code == 404
    assert response.json() == {"success": False, "message": "Document not found."}


def test_an_unknown_document_is_404(client: Any) -> None:
    response = client.get(chunks_url(999999))

    assert response.status_code == 404
    assert response.json() == {"success": False, "message": "Document not found."}


def test_without_a_token_it_is_401(guide: Document) -> None:
    response = api_client_for().get(chunks_url(guide.pk))

    assert response.status_code == 401
    assert response.json() == {"success": False, "message": "Authentication credentials were not provided."}


def test_a_pdfs_chunks_carry_their_page(client: Any, user: Any) -> None:
    # Given a PDF of two pages
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for body in ("Apples grow on trees.", "Bananas grow in bunches."):
        pdf.add_page()
        pdf.multi_cell(0, 8, body)
    document = services.document_upload(user=user, agent=None, name="fruit.pdf", data=bytes(pdf.output()), background=False)

    # When its chunks are listed, each says the page it starts on
    items = client.get(chunks_url(document.pk)).json()["data"]["items"]

    assert [(item["index"], item["page"]) for item in items] == [(0, 1), (1, 2)]
    assert "Bananas" in items[1]["content"]


def test_the_chunks_are_read_in_a_fixed_number_of_queries(client: Any, guide: Document, django_assert_max_num_queries: Any) -> None:
    # Authentication, the token denylist, the document, the count and the page: never one per chunk.
    with django_assert_max_num_queries(5):
        response = client.get(chunks_url(guide.pk))

    assert response.status_code == 200 and len(response.json()["data"]["items"]) == 4
