"""Upload, index and search real files, in both dialects; every rejection; scoping."""

from __future__ import annotations

import hashlib
import io
import itertools
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from fpdf import FPDF
from PIL import Image, ImageDraw
from pypdf import PdfReader, PdfWriter

from agents.models import Agent
from knowledge import services
from knowledge.models import Chunk, Document, DocumentUpload
from tests.support.factories import api_client_for, make_admin, make_user
from tests.support.tasks import run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def make_pdf(pages: list[str], *, encrypt: bool = False, owner_password_only: bool = False, text: bool = True) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for body in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, body)
        else:
            pdf.rect(20, 20, 100, 60, style="F")
    if encrypt:
        pdf.set_encryption(owner_password="owner", user_password="user")
    if owner_password_only:
        pdf.set_encryption(owner_password="owner")
    return bytes(pdf.output())


def make_scanned_pdf() -> bytes:
    """A page that is only a raster image, as a scanner makes it."""
    image = Image.new("RGB", (200, 80), "white")
    ImageDraw.Draw(image).text((10, 30), "scanned words", fill="black")
    png = io.BytesIO()
    image.save(png, format="PNG")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(io.BytesIO(png.getvalue()), x=10, y=10, w=150)
    return bytes(pdf.output())


def make_pageless_pdf() -> bytes:
    out = io.BytesIO()
    PdfWriter().write(out)
    return out.getvalue()


MARKDOWN = """# Luxx Guide

Intro paragraph about the platform.

## Install

### Linux

Run the installer with apt and start the service on port 8000.

### Windows

Use the graphical setup wizard.

## Usage

Chat with agents and upload documents.
"""

CHINESE = "第一章 概述\n\n自然语言处理是人工智能的重要方向。我们在北京大学研究机器翻译。\n\n第二章 应用\n\n知识库可以帮助客服回答常见问题。"


def upload(client: Any, name: str, data: bytes, **extra: Any) -> Any:
    """Upload a file, then run the tasks it queued with the worker's code, as a worker would."""
    response = client.post("/api/knowledge/documents/", {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")
    run_queued_tasks()
    return response


def indexed(client: Any, response: Any) -> dict[str, Any]:
    """The uploaded document as the API shows it once the worker has run."""
    return client.get(f"/api/knowledge/documents/{response.json()['data']['id']}").json()["data"]


def accepted_then_refused(client: Any, response: Any) -> tuple[int, str, str, int, int]:
    """An upload answered at once, then refused by the worker: the upload's status code,
    the document's status, its reason, its chunk count and the chunks stored."""
    document = indexed(client, response)
    return response.status_code, document["status"], document["error_message"], document["chunk_count"], Chunk.objects.count()


def test_a_multi_page_pdf_keeps_its_page_numbers(client: Any) -> None:
    data = make_pdf(["Alpha page talks about apples.", "Beta page explains the photosynthesis of bananas.", "Gamma page covers cherries."])

    response = upload(client, "fruit.pdf", data)

    assert (response.status_code, response.json()["data"]["status"]) == (202, "processing")
    document = indexed(client, response)
    assert (document["name"], document["file_type"], document["status"], document["chunk_count"]) == ("fruit.pdf", "pdf", "ready", 3)
    assert document["size"] == len(data)
    assert list(Chunk.objects.filter(document_id=document["id"]).values_list("page", flat=True)) == [1, 2, 3]
    hits = client.post("/api/knowledge/search", {"query": "photosynthesis bananas", "top_k": 2}, format="json").json()["data"]["results"]
    assert hits[0]["page"] == 2 and hits[0]["document_name"] == "fruit.pdf" and "photosynthesis" in hits[0]["content"]
    assert set(hits[0]) == {"document_id", "document_name", "chunk_index", "content", "score", "page", "heading"}


def test_markdown_headings_become_heading_paths(client: Any) -> None:
    document_id = upload(client, "guide.md", MARKDOWN.encode()).json()["data"]["id"]

    headings = list(Chunk.objects.filter(document_id=document_id).values_list("heading", flat=True))
    hits = client.post("/api/knowledge/search", {"query": "installer apt"}, format="json").json()["data"]["results"]

    assert headings == ["Luxx Guide", "Luxx Guide > Install > Linux", "Luxx Guide > Install > Windows", "Luxx Guide > Usage"]
    assert hits[0]["heading"] == "Luxx Guide > Install > Linux"


def test_a_gbk_chinese_text_is_decoded_and_found_by_segmented_words(client: Any) -> None:
    response = upload(client, "中文.txt", CHINESE.encode("gbk"))

    assert (response.status_code, indexed(client, response)["status"]) == (202, "ready")
    assert list(Chunk.objects.filter(document_id=response.json()["data"]["id"]).values_list("heading", "content")) == [
        ("第一章 概述", "自然语言处理是人工智能的重要方向。我们在北京大学研究机器翻译。"),
        ("第二章 应用", "知识库可以帮助客服回答常见问题。"),
    ]
    hits = client.post("/api/knowledge/search", {"query": "北京的大学"}, format="json").json()["data"]["results"]
    assert len(hits) == 1 and "北京大学" in hits[0]["content"]
    assert client.post("/api/knowledge/search", {"query": "机器翻译研究"}, format="json").json()["data"]["total"] == 1


def test_a_chinese_query_matches_only_after_segmentation_and_the_right_chunk_ranks_first(client: Any) -> None:
    text = (
        "第一章 机器翻译\n\n机器翻译让计算机把一种语言的文字自动译成另一种语言。\n\n"
        "第二章 校园生活\n\n大学生喜欢在图书馆里安静地学习和阅读。\n\n"
        "第三章 研究机构\n\n我们的实验室设在北京大学，与多家企业合作开展研究。\n\n"
        "第四章 天气\n\n今天的天气非常晴朗，适合外出散步。"
    )
    document_id = upload(client, "机构.txt", text.encode("gb18030")).json()["data"]["id"]

    hits = client.post("/api/knowledge/search", {"query": "北京的大学"}, format="json").json()["data"]["results"]

    assert Chunk.objects.filter(document_id=document_id).count() == 4
    assert "北京的大学" not in text
    assert hits[0]["heading"] == "第三章 研究机构" and hits[0]["content"] == "我们的实验室设在北京大学，与多家企业合作开展研究。"
    assert "第二章 校园生活" in [hit["heading"] for hit in hits[1:]]  # 大学 alone also matches; it ranks lower


@pytest.mark.parametrize(
    ("name", "data", "status", "words"),
    [
        ("photo.png", b"\x89PNG....", 415, "Unsupported file type"),
        ("empty.txt", b"", 400, "empty"),
    ],
)
def test_files_refused_before_they_are_read_leave_nothing(client: Any, name: str, data: Any, status: int, words: str) -> None:
    response = upload(client, name, data)

    assert response.status_code == status
    assert words in response.json()["message"]
    assert Document.objects.count() == 0 and Chunk.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("blank.md", b"   \n\n  ", "The file is empty."),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "corrupt"),
        ("scan.pdf", None, "no extractable text"),
        ("locked.pdf", "encrypted", "The PDF is encrypted with a password."),
    ],
)
def test_unreadable_files_end_as_errors_with_the_reason_and_no_chunks(client: Any, name: str, data: Any, words: str) -> None:
    if data is None:
        data = make_pdf(["x"], text=False)
    elif data == "encrypted":
        data = make_pdf(["secret text"], encrypt=True)

    response = upload(client, name, data)

    code, status, reason, chunk_count, chunks = accepted_then_refused(client, response)
    assert (code, status, chunk_count, chunks) == (202, "error", 0, 0)
    assert words in reason
    assert not DocumentUpload.objects.exists()  # the file is not kept once refused


def test_an_image_only_pdf_is_rejected_as_possibly_scanned(client: Any) -> None:
    data = make_scanned_pdf()

    response = upload(client, "scan.pdf", data)

    assert len(PdfReader(io.BytesIO(data)).pages[0].images) == 1
    assert accepted_then_refused(client, response) == (202, "error", "The PDF has no extractable text (it may be scanned images).", 0, 0)


def test_a_pdf_without_pages_is_rejected_as_such(client: Any) -> None:
    response = upload(client, "nothing.pdf", make_pageless_pdf())

    assert accepted_then_refused(client, response) == (202, "error", "The PDF has no pages.", 0, 0)


def test_a_pdf_with_only_an_owner_password_is_indexed(client: Any) -> None:
    data = make_pdf(["Owner protected notes about tulips."], owner_password_only=True)

    response = upload(client, "tulips.pdf", data)

    assert PdfReader(io.BytesIO(data)).is_encrypted
    assert (response.status_code, indexed(client, response)["status"]) == (202, "ready")
    assert list(Chunk.objects.values_list("page", "content")) == [(1, "Owner protected notes about tulips.")]


def test_a_pdf_stream_pypdf_cannot_decode_is_an_error_with_the_reason_not_a_crash(client: Any) -> None:
    # pypdf raises NotImplementedError ("Unsupported filter"), outside its own error classes.
    data = make_pdf(["Hello there."]).replace(b"/FlateDecode", b"/FlateDecodX")

    response = upload(client, "odd.pdf", data)

    assert accepted_then_refused(client, response) == (202, "error", "The PDF is corrupt or unreadable (NotImplementedError).", 0, 0)


def test_a_wrapped_multi_page_pdf_is_chunked_at_sentence_starts_on_the_page_each_starts(client: Any) -> None:
    sentences = [f"Sentence {i} explains how the river carries silt toward the delta and the farms beyond it." for i in range(150)]
    paragraphs = [" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6)]
    data = make_pdf(["\n\n".join(paragraphs)])
    raw_pages = [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]

    response = upload(client, "river.pdf", data)
    chunks = list(Chunk.objects.filter(document_id=response.json()["data"]["id"]).order_by("index").values_list("page", "content"))

    assert (response.status_code, indexed(client, response)["status"]) == (202, "ready")
    assert len(raw_pages) >= 3 and all("\n" in text for text in raw_pages)  # pypdf does hand over wrapped lines
    assert len(chunks) >= 4 and len({page for page, _ in chunks}) >= 3
    assert all(content.startswith("Sentence ") and content.endswith("beyond it.") for _, content in chunks)
    assert all(any(sentence in content for _, content in chunks) for sentence in sentences)
    for page, content in chunks:
        opening = " ".join(content.split()[:2])  # "Sentence 17"
        assert opening in " ".join(raw_pages[page - 1].split())


@override_settings(LUXX_MAX_UPLOAD_MB=1)
def test_a_file_over_the_limit_is_413(client: Any) -> None:
    response = upload(client, "big.txt", b"a" * (1024 * 1024 + 1))

    assert response.status_code == 413
    assert response.json()["message"] == "The file is larger than 1 MB."


@override_settings(LUXX_MAX_UPLOAD_MB=1)
def test_a_body_declared_far_over_the_limit_is_413_before_it_is_read(client: Any) -> None:
    body = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n--x--\r\n'

    response = client.generic(
        "POST", "/api/knowledge/documents/", body, content_type="multipart/form-data; boundary=x", CONTENT_LENGTH=str(50 * 1024 * 1024)
    )

    assert response.status_code == 413
    assert response.json()["message"] == "The file is larger than 1 MB."
    assert Document.objects.count() == 0


def test_the_same_bytes_twice_is_a_conflict_naming_the_document(client: Any) -> None:
    first = upload(client, "a.md", MARKDOWN.encode()).json()["data"]

    again = upload(client, "copy.md", MARKDOWN.encode())

    assert again.status_code == 409
    assert again.json()["message"] == f"This file is already uploaded as document {first['id']} (a.md)."


def test_bad_upload_and_search_input_names_the_field(client: Any, user: Any) -> None:
    stranger_agent = Agent.objects.create(user=make_user(), name="theirs")

    missing = client.post("/api/knowledge/documents/", {}, format="multipart")
    bad_agent = upload(client, "a.md", b"# hi\n\ntext", agent_id="abc")
    foreign_agent = upload(client, "a.md", b"# hi\n\ntext", agent_id=stranger_agent.pk)
    no_query = client.post("/api/knowledge/search", {"top_k": 3}, format="json")
    big_top_k = client.post("/api/knowledge/search", {"query": "x", "top_k": 101}, format="json")
    zero_top_k = client.post("/api/knowledge/search", {"query": "x", "top_k": 0}, format="json")

    assert missing.status_code == 400 and "file" in missing.json()["errors"]
    assert bad_agent.status_code == 400 and "agent_id" in bad_agent.json()["errors"]
    assert foreign_agent.status_code == 404 and foreign_agent.json()["message"] == "Agent not found."
    assert no_query.status_code == 400 and "query" in no_query.json()["errors"]
    assert big_top_k.status_code == 400 and "top_k" in big_top_k.json()["errors"]
    assert zero_top_k.status_code == 400
    assert Document.objects.count() == 0


def test_users_never_see_each_others_documents(client: Any) -> None:
    document_id = upload(client, "guide.md", MARKDOWN.encode()).json()["data"]["id"]
    other = api_client_for(make_user())

    assert other.post("/api/knowledge/search", {"query": "installer apt"}, format="json").json()["data"]["results"] == []
    assert other.get(f"/api/knowledge/documents/{document_id}").status_code == 404
    assert other.delete(f"/api/knowledge/documents/{document_id}").status_code == 404
    assert other.get("/api/knowledge/documents/").json()["data"]["total"] == 0
    assert Document.objects.filter(pk=document_id).exists()


def test_another_users_agent_is_404_everywhere(client: Any) -> None:
    theirs = Agent.objects.create(user=make_user(), name="theirs")

    search = client.post("/api/knowledge/search", {"query": "x", "agent_id": theirs.pk}, format="json")
    listed = client.get(f"/api/knowledge/documents/?agent_id={theirs.pk}")
    missing = client.get("/api/knowledge/documents/?agent_id=999999")
    v1_upload = client.post(
        "/api/v1/knowledge/documents/upload", {"file": SimpleUploadedFile("a.md", b"# a\n\nb"), "agent_id": theirs.pk}, format="multipart"
    )
    v1_search = client.post("/api/v1/knowledge/search", {"query": "x", "agent_id": theirs.pk}, format="json")

    assert [r.status_code for r in (search, listed, missing)] == [404, 404, 404]
    assert search.json()["message"] == "Agent not found."
    assert (v1_upload.json()["code"], v1_search.json()["code"]) == (40400, 40400)
    assert Document.objects.count() == 0


def test_a_document_that_failed_indexing_can_be_uploaded_again(client: Any, user: Any) -> None:
    data = MARKDOWN.encode()
    failed = Document.objects.create(user=user, name="a.md", file_type="markdown", sha256=hashlib.sha256(data).hexdigest(), status="error")

    response = upload(client, "a.md", data)

    assert response.status_code == 202 and indexed(client, response)["status"] == "ready"
    assert not Document.objects.filter(pk=failed.pk).exists()


def test_the_same_bytes_for_another_agent_is_a_new_document(client: Any, user: Any) -> None:
    agent = Agent.objects.create(user=user, name="Second")

    first = upload(client, "a.md", MARKDOWN.encode())
    second = upload(client, "a.md", MARKDOWN.encode(), agent_id=agent.pk)

    assert (first.status_code, second.status_code) == (202, 202)
    assert (indexed(client, first)["status"], indexed(client, second)["status"]) == ("ready", "ready")


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b""), ("utf-8-sig", b""), ("utf-16", b""), ("utf-16-le", b""), ("utf-16-be", b""), ("gbk", b""), ("gb18030", b"")],
)
def test_text_files_decode_in_the_usual_encodings(encoding: str, prefix: bytes) -> None:
    from knowledge.extract import decode_text

    text = "Luxx 知识库：自然语言处理与机器翻译。The quick brown fox."

    assert decode_text(prefix + text.encode(encoding)) == text


def test_a_latin1_text_is_not_mistaken_for_chinese() -> None:
    from knowledge.extract import decode_text

    text = (
        "Le café de la gare est très agréable. Les élèves étudient la géographie et l'histoire de la région.\n"
        "Après le déjeuner, nous sommes allés au marché où l'on vend des légumes frais, du fromage et des pâtisseries.\n"
        "Ça coûte peu, et la qualité est excellente. Noël approche: les fenêtres sont décorées, les enfants sont ravis."
    )

    assert decode_text(text.encode("latin-1")) == text


def test_agent_id_limits_results_and_delete_removes_passages(client: Any, user: Any) -> None:
    agent = Agent.objects.create(user=user, name="Gardener")
    mine = upload(client, "guide.md", MARKDOWN.encode()).json()["data"]
    agents = upload(client, "garden.txt", b"Installer notes for the garden irrigation system.", agent_id=agent.pk).json()["data"]

    everything = client.post("/api/knowledge/search", {"query": "installer"}, format="json").json()["data"]
    scoped = client.post("/api/knowledge/search", {"query": "installer", "agent_id": agent.pk}, format="json").json()["data"]
    listed = client.get(f"/api/knowledge/documents/?agent_id={agent.pk}").json()["data"]
    deleted = client.delete(f"/api/knowledge/documents/{agents['id']}")
    after = client.post("/api/knowledge/search", {"query": "irrigation"}, format="json").json()["data"]

    assert {r["document_id"] for r in everything["results"]} == {mine["id"], agents["id"]}
    assert {r["document_id"] for r in scoped["results"]} == {agents["id"]}
    assert [d["id"] for d in listed["items"]] == [agents["id"]]
    assert deleted.status_code == 200
    assert after["results"] == [] and Chunk.objects.filter(document_id=agents["id"]).count() == 0


def test_v1_upload_and_search(client: Any, user: Any) -> None:
    agent = Agent.objects.create(user=user, name="Support")

    uploaded = client.post(
        "/api/v1/knowledge/documents/upload",
        {"file": SimpleUploadedFile("faq.md", MARKDOWN.encode()), "agent_id": agent.pk},
        format="multipart",
    ).json()
    run_queued_tasks()
    found = client.post("/api/v1/knowledge/search", {"query": "graphical wizard", "agent_id": agent.pk}, format="json").json()
    no_agent = client.post(
        "/api/v1/knowledge/documents/upload", {"file": SimpleUploadedFile("x.md", b"# x\n\ny")}, format="multipart"
    ).json()
    search_without_agent = client.post("/api/v1/knowledge/search", {"query": "x"}, format="json").json()

    assert uploaded["code"] == 200 and uploaded["data"]["status"] == "processing" and uploaded["data"]["agent_id"] == agent.pk
    assert Document.objects.get(pk=uploaded["data"]["id"]).status == "ready"
    assert found["code"] == 200 and found["data"]["results"][0]["heading"] == "Luxx Guide > Install > Windows"
    assert no_agent["code"] == 40000 and "agent_id" in no_agent["message"]
    assert search_without_agent["code"] == 40000 and "agent_id" in search_without_agent["message"]


def test_retrieval_helpers_for_chat(user: Any) -> None:
    agent = Agent.objects.create(user=user, name="Docs")
    services.document_upload(user=user, agent=agent, name="guide.md", data=MARKDOWN.encode(), background=False)

    chunks = services.knowledge_retrieve(user_id=user.pk, agent_id=agent.pk, query="Windows setup wizard", top_k=1)
    prompt = services.format_sources_for_prompt(chunks)
    citations = services.citations_from(chunks)

    assert services.agent_has_documents(agent_id=agent.pk) is True
    assert [(c.document_name, c.chunk_index, c.page, c.heading) for c in chunks] == [
        ("guide.md", 2, None, "Luxx Guide > Install > Windows")
    ]
    assert chunks[0].content == "Use the graphical setup wizard." and chunks[0].score > 0
    assert prompt == "Sources:\n\n[1] guide.md (Luxx Guide > Install > Windows)\nUse the graphical setup wizard."
    assert citations == [
        {
            "index": 1,
            "document_id": chunks[0].document_id,
            "document_name": "guide.md",
            "chunk_index": 2,
            "page": None,
            "heading": "Luxx Guide > Install > Windows",
            "snippet": "Use the graphical setup wizard.",
        }
    ]


def test_sources_for_the_prompt_are_numbered_with_page_and_heading() -> None:
    chunks = [
        services.RetrievedChunk(1, "manual.pdf", 4, "Press the red button.", 2.5, 3, "Safety > Stop"),
        services.RetrievedChunk(2, "notes.txt", 0, "x" * 300, 1.0, None, ""),
    ]

    prompt = services.format_sources_for_prompt(chunks)
    citations = services.citations_from(chunks)

    assert prompt == "Sources:\n\n[1] manual.pdf (page 3, Safety > Stop)\nPress the red button.\n\n[2] notes.txt\n" + "x" * 300
    assert citations[1] == {
        "index": 2,
        "document_id": 2,
        "document_name": "notes.txt",
        "chunk_index": 0,
        "page": None,
        "heading": "",
        "snippet": "x" * 240,
    }
    assert services.format_sources_for_prompt([]) == "" and services.citations_from([]) == []


def test_retrieval_without_ready_documents_is_empty(user: Any) -> None:
    agent = Agent.objects.create(user=user, name="Empty")
    Document.objects.create(user=user, agent=agent, name="pending.md", file_type="markdown", sha256="0" * 64, status="processing")

    assert services.knowledge_retrieve(user_id=user.pk, agent_id=agent.pk, query="anything", top_k=5) == []
    assert services.knowledge_retrieve(user_id=user.pk, agent_id=None, query="anything") == []
    assert services.agent_has_documents(agent_id=agent.pk) is False


def test_the_knowledge_search_tool_searches_the_callers_documents(user: Any) -> None:
    import asyncio

    from toolbox.registry import ToolContext, registry

    agent = Agent.objects.create(user=user, name="Docs")
    services.document_upload(user=user, agent=agent, name="guide.md", data=MARKDOWN.encode(), background=False)
    services.document_upload(
        user=make_user(), agent=None, name="other.md", data=b"# Other\n\nThe graphical wizard of someone else.", background=False
    )
    tool = registry.get("knowledge_search")
    assert tool is not None and (tool.category, tool.required_level) == ("knowledge", 1)

    result = asyncio.run(tool.handler({"query": "graphical wizard"}, ToolContext(user_id=user.pk, permission_level=1, agent_id=agent.pk)))

    assert result["count"] == 1
    assert result["results"][0]["document_name"] == "guide.md"
    assert result["results"][0]["heading"] == "Luxx Guide > Install > Windows"


def test_chinese_sentences_are_never_cut_when_chunking() -> None:
    from knowledge.chunking import chunk_pages
    from knowledge.extract import Page

    sentences = [f"第{i}句话讲的是知识库如何把长文档切分成段落。" for i in range(300)]
    drafts = chunk_pages([Page("".join(sentences), None)], markdown=False)

    assert len(drafts) > 2
    assert all(d.content.endswith("。") for d in drafts)
    assert all(d.content.startswith("第") for d in drafts)


def test_long_text_is_chunked_with_overlap_and_never_mid_sentence() -> None:
    from knowledge.chunking import TARGET_TOKENS, chunk_pages
    from knowledge.extract import Page
    from luxx.text import estimate_tokens

    sentences = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(400)]
    drafts = chunk_pages([Page(" ".join(sentences), None)], markdown=False)

    assert len(drafts) > 3
    assert all(estimate_tokens(d.content) <= TARGET_TOKENS + 20 for d in drafts)
    assert all(d.content.rstrip().endswith(".") for d in drafts)
    for first, second in itertools.pairwise(drafts):
        assert first.content.split(". ")[-1] in second.content


def test_the_pdf_writer_library_round_trips() -> None:
    assert make_pdf(["hello"]).startswith(b"%PDF")
    assert io.BytesIO(make_pdf(["a", "b"])).getbuffer().nbytes > 500


def test_the_ingest_command_indexes_a_folder(tmp_path: Any, user: Any) -> None:
    from django.core.management import call_command

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(MARKDOWN)
    (tmp_path / "docs" / "notes.txt").write_bytes(CHINESE.encode("gbk"))
    (tmp_path / "docs" / "image.png").write_bytes(b"png")

    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    out, err = io.StringIO(), io.StringIO()

    call_command("ingest", str(tmp_path / "docs"), "--user", user.username, stdout=out, stderr=err)

    assert out.getvalue().strip() == "Indexed 2 file(s); 1 skipped."
    assert "broken.pdf: The PDF is corrupt or unreadable" in err.getvalue()
    assert "3/3" in err.getvalue()
    assert sorted(Document.objects.filter(user=user).values_list("name", "status")) == [("guide.md", "ready"), ("notes.txt", "ready")]


def test_the_ingest_command_defaults_to_the_first_superuser(tmp_path: Any) -> None:
    from django.core.management import call_command

    make_user()
    admin = make_admin()
    (tmp_path / "guide.md").write_text(MARKDOWN)

    call_command("ingest", str(tmp_path / "guide.md"), stdout=io.StringIO(), stderr=io.StringIO())

    assert Document.objects.get().user == admin


def test_rejections_speak_the_callers_language(client: Any) -> None:
    unsupported = client.post(
        "/api/knowledge/documents/", {"file": SimpleUploadedFile("notes.docx", b"PK")}, format="multipart", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    corrupt = client.post(
        "/api/knowledge/documents/",
        {"file": SimpleUploadedFile("a.pdf", b"%PDF-1.4 nothing")},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    run_queued_tasks()  # the worker writes the reason in the uploader's language
    missing = client.get("/api/knowledge/documents/999999", HTTP_ACCEPT_LANGUAGE="zh-hans")
    english = client.get("/api/knowledge/documents/999999")

    assert (unsupported.status_code, unsupported.json()["message"]) == (415, "不支持的文件类型：请上传 PDF、TXT 或 Markdown 文件。")
    assert corrupt.status_code == 202
    assert Document.objects.get(pk=corrupt.json()["data"]["id"]).error_message.startswith("这个 PDF 已损坏或无法读取")
    assert (missing.status_code, missing.json()["message"]) == (404, "找不到该文档。")
    assert english.json()["message"] == "Document not found."
