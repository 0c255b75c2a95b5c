"""Dense vectors fused with the lexical ranking, and large files indexed in the background."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from agents.models import Provider
from knowledge import services
from knowledge.embeddings import reciprocal_rank_fusion
from knowledge.models import Chunk, Document
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)

DOC = "# Fruit\n\nBananas are yellow and sweet.\n\n# Vehicles\n\nThe red car drives fast on the highway."


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([1, 2, 3], [3, 4])

    assert [item for item, _ in fused] == [3, 1, 2, 4]
    assert fused[0][1] == pytest.approx(1 / 63 + 1 / 61)


def test_with_an_embeddings_provider_search_fuses_vectors_and_words(fake_llm: Any) -> None:
    user = make_user()
    provider = Provider.objects.create(user=None, name="embeddings", provider_type="openai", base_url=fake_llm.base_url + "/v1")
    with override_settings(LUXX_EMBEDDINGS_PROVIDER_ID=provider.pk):
        document = services.document_upload(user=user, agent=None, name="mixed.md", data=DOC.encode())
        lexical_miss = services.knowledge_search(user_id=user.pk, query="sweet banana yellow vehicle", top_k=2)

    assert all(chunk.embedding for chunk in Chunk.objects.filter(document=document))
    embedding_calls = [r for r in fake_llm.requests if r.path == "/v1/embeddings"]
    assert len(embedding_calls) == 2
    assert embedding_calls[0].body["input"] == ["Fruit\nBananas are yellow and sweet.", "Vehicles\nThe red car drives fast on the highway."]
    assert lexical_miss[0].heading == "Fruit"
    assert {r.heading for r in lexical_miss} == {"Fruit", "Vehicles"}


def test_a_large_file_is_indexed_in_the_background() -> None:
    user = make_user()
    body = "\n\n".join(f"## Part {i}\n\nParagraph number {i} about background indexing." for i in range(200)).encode()

    with override_settings(LUXX_KNOWLEDGE_SYNC_LIMIT_KB=1):
        response = api_client_for(user).post("/api/knowledge/documents/", {"file": SimpleUploadedFile("big.md", body)}, format="multipart")
        document_id = response.json()["data"]["id"]
        deadline = time.monotonic() + 20
        while Document.objects.get(pk=document_id).status == "processing" and time.monotonic() < deadline:
            time.sleep(0.05)

    assert response.status_code == 202
    assert response.json()["data"]["status"] == "processing"
    document = api_client_for(user).get(f"/api/knowledge/documents/{document_id}").json()["data"]
    assert (document["status"], document["chunk_count"]) == ("ready", 200)
    assert services.knowledge_search(user_id=user.pk, query="number 137", top_k=1)[0].heading == "Part 137"


def test_a_large_unreadable_file_ends_as_an_error_with_its_reason() -> None:
    user = make_user()

    with override_settings(LUXX_KNOWLEDGE_SYNC_LIMIT_KB=1):
        response = api_client_for(user).post(
            "/api/knowledge/documents/", {"file": SimpleUploadedFile("bad.pdf", b"%PDF-1.4 " + b"x" * 4096)}, format="multipart"
        )
        document_id = response.json()["data"]["id"]
        deadline = time.monotonic() + 20
        while Document.objects.get(pk=document_id).status == "processing" and time.monotonic() < deadline:
            time.sleep(0.05)

    document = Document.objects.get(pk=document_id)
    assert (document.status, document.chunk_count) == ("error", 0)
    assert "corrupt" in document.error_message
    assert Chunk.objects.filter(document=document).count() == 0
