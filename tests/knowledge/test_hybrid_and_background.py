"""Dense vectors fused with the lexical ranking, and uploads indexed in the background by a worker."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from agents.models import Provider
from fakellm.embeddings import embed
from knowledge import services
from knowledge.embeddings import hybrid_fusion
from knowledge.models import Chunk, Document, DocumentUpload
from tests.support.factories import api_client_for, make_user
from tests.support.tasks import run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)

DOC = "# Fruit\n\nBananas are yellow and sweet.\n\n# Vehicles\n\nThe red car drives fast on the highway.\n\n# Animals\n\n熊猫喜欢吃竹子。"


def test_fusion_adds_the_weighted_similarity_to_the_lexical_score_over_the_best_one() -> None:
    fused = hybrid_fusion([(5, 8.0), (2, 4.0)], [(2, 0.9), (9, 0.6), (7, -0.2)], weight=0.5)

    assert fused == [(5, pytest.approx(1.0)), (2, pytest.approx(0.5 + 0.45)), (9, pytest.approx(0.3)), (7, 0.0)]


def test_fusion_without_words_ranks_by_similarity_and_breaks_ties_by_id() -> None:
    assert hybrid_fusion([], [(4, 0.5), (3, 0.5), (8, 0.7)], weight=1.0) == [(8, 0.7), (3, 0.5), (4, 0.5)]
    assert hybrid_fusion([(6, 2.0)], [], weight=1.0) == [(6, 1.0)]


def test_with_an_embeddings_provider_search_fuses_vectors_and_words(fake_llm: Any) -> None:
    user = make_user()
    provider = Provider.objects.create(user=None, name="embeddings", provider_type="openai", base_url=fake_llm.base_url + "/v1")
    query = "bananas 猫竹"  # "bananas" is a word of chunk 0; 猫 and 竹 are characters (not words) of chunk 2
    document = services.document_upload(user=user, agent=None, name="mixed.md", data=DOC.encode(), background=False)
    lexical_only = services.knowledge_search(user_id=user.pk, query=query, top_k=5)
    Chunk.objects.filter(document=document).delete()
    Document.objects.filter(pk=document.pk).delete()

    with override_settings(LUXX_EMBEDDINGS_PROVIDER_ID=provider.pk, LUXX_HYBRID_VECTOR_WEIGHT=0.4):
        document = services.document_upload(user=user, agent=None, name="mixed.md", data=DOC.encode(), background=False)
        hybrid = services.knowledge_search(user_id=user.pk, query=query, top_k=5)

    assert [r.heading for r in lexical_only] == ["Fruit"]
    assert all(chunk.embedding for chunk in Chunk.objects.filter(document=document))
    embedding_calls = [r for r in fake_llm.requests if r.path == "/v1/embeddings"]
    assert [call.body["input"] for call in embedding_calls] == [
        ["Fruit\nBananas are yellow and sweet.", "Vehicles\nThe red car drives fast on the highway.", "Animals\n熊猫喜欢吃竹子。"],
        [query],
    ]

    def similarity(text: str) -> float:
        return sum(a * b for a, b in zip(embed(query), embed(text), strict=True))

    assert [r.heading for r in hybrid][:2] == ["Fruit", "Animals"]
    assert hybrid[0].score == pytest.approx(1.0 + 0.4 * similarity("Fruit\nBananas are yellow and sweet."), abs=1e-4)
    assert hybrid[1].score == pytest.approx(0.4 * similarity("Animals\n熊猫喜欢吃竹子。"), abs=1e-4)
    assert hybrid[1].score > 0


def test_without_documents_no_query_embedding_is_requested(fake_llm: Any) -> None:
    user = make_user()
    provider = Provider.objects.create(user=None, name="embeddings", provider_type="openai", base_url=fake_llm.base_url + "/v1")

    with override_settings(LUXX_EMBEDDINGS_PROVIDER_ID=provider.pk):
        results = services.knowledge_retrieve(user_id=user.pk, agent_id=None, query="anything")

    assert results == [] and fake_llm.requests == []


def wait_until_not_processing(document_id: int, timeout: float = 20) -> Document:
    deadline = time.monotonic() + timeout
    while Document.objects.get(pk=document_id).status == "processing" and time.monotonic() < deadline:
        time.sleep(0.05)
    return Document.objects.get(pk=document_id)


def test_an_upload_answers_at_once_and_a_worker_indexes_it(task_worker: Any) -> None:
    # Given a worker running beside the server
    user = make_user()
    body = "\n\n".join(f"## Part {i}\n\nParagraph number {i} about background indexing." for i in range(200)).encode()

    # When a file is uploaded
    response = api_client_for(user).post("/api/knowledge/documents/", {"file": SimpleUploadedFile("big.md", body)}, format="multipart")
    document_id = response.json()["data"]["id"]
    wait_until_not_processing(document_id)

    # Then the upload answered processing, and the worker made it ready and searchable
    assert (response.status_code, response.json()["data"]["status"]) == (202, "processing")
    document = api_client_for(user).get(f"/api/knowledge/documents/{document_id}").json()["data"]
    assert (document["status"], document["chunk_count"]) == ("ready", 200)
    assert services.knowledge_search(user_id=user.pk, query="number 137", top_k=1)[0].heading == "Part 137"
    assert not DocumentUpload.objects.filter(document_id=document_id).exists()


def test_an_unreadable_file_ends_as_an_error_with_its_reason(task_worker: Any) -> None:
    user = make_user()

    response = api_client_for(user).post(
        "/api/knowledge/documents/", {"file": SimpleUploadedFile("bad.pdf", b"%PDF-1.4 " + b"x" * 4096)}, format="multipart"
    )
    document = wait_until_not_processing(response.json()["data"]["id"])

    assert (document.status, document.chunk_count) == ("error", 0)
    assert "corrupt" in document.error_message
    assert Chunk.objects.filter(document=document).count() == 0


def test_indexing_that_keeps_failing_is_retried_then_the_document_shows_the_failure(
    task_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a server whose indexing step fails every time
    calls: list[int] = []

    def broken(data: bytes, file_type: str, **_: Any) -> Any:
        calls.append(len(data))
        raise OSError("No space left on device")

    monkeypatch.setattr(services, "_prepare", broken)
    user = make_user()

    # When a file is uploaded
    response = api_client_for(user).post(
        "/api/knowledge/documents/", {"file": SimpleUploadedFile("a.md", b"# A\n\nText.")}, format="multipart"
    )
    document = wait_until_not_processing(response.json()["data"]["id"])

    # Then it was tried three times, and the document is an error that says so
    assert len(calls) == 3
    assert (document.status, document.error_message) == ("error", "Indexing failed on the server after 3 attempts (OSError).")
    # (The worker records a task's failure just after the task gave up on the document.)
    deadline = time.monotonic() + 10
    failed = DBTaskResult.objects.filter(task_path="knowledge.tasks.index_document", status="FAILED")
    while failed.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert failed.count() == 3


def test_a_document_left_processing_by_a_restart_is_replaced_by_uploading_it_again() -> None:
    user = make_user()
    body = b"# Notes\n\nThe archive moved to the north wing."
    stuck = Document.objects.create(
        user=user, name="notes.md", file_type="markdown", size=len(body), sha256=hashlib.sha256(body).hexdigest()
    )
    Document.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(hours=2))

    response = api_client_for(user).post("/api/knowledge/documents/", {"file": SimpleUploadedFile("notes.md", body)}, format="multipart")
    run_queued_tasks()

    assert response.status_code == 202
    assert list(Document.objects.values_list("status", flat=True)) == ["ready"]
    assert not Document.objects.filter(pk=stuck.pk).exists()


def test_a_document_still_being_indexed_is_not_replaced() -> None:
    user = make_user()
    body = b"# Notes\n\nThe archive moved to the north wing."
    busy = Document.objects.create(
        user=user, name="notes.md", file_type="markdown", size=len(body), sha256=hashlib.sha256(body).hexdigest()
    )

    response = api_client_for(user).post("/api/knowledge/documents/", {"file": SimpleUploadedFile("notes.md", body)}, format="multipart")

    assert response.status_code == 409
    assert f"document {busy.pk}" in response.json()["message"]
