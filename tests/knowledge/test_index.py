"""The full-text index kept by the database, query stopwords, and the vector half of search."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from agents.models import Agent, Provider
from knowledge import index, services, vector_search
from knowledge.embeddings import embed_texts
from knowledge.models import Chunk
from knowledge.segment import query_words, words
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)

NOTES = "# Returns\n\nThe zanzibarite refund window is thirty days.\n\n# Shipping\n\nParcels leave the warehouse every morning."


def indexed_rowids(word: str) -> list[int]:
    """Row ids the full-text index itself holds for a word, whether or not their chunk row
    still exists (on SQLite the index is a table of its own)."""
    [term] = words(word)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT rowid FROM knowledge_chunk_fts WHERE knowledge_chunk_fts MATCH %s", [f'"{term}"'])
        else:
            cursor.execute("SELECT id FROM knowledge_chunk WHERE search_vector @@ plainto_tsquery('simple', %s)", [term])
        return sorted(row[0] for row in cursor.fetchall())


def test_a_stored_chunk_is_in_the_index_without_any_indexing_call() -> None:
    user = make_user()

    document = services.document_upload(user=user, agent=None, name="notes.md", data=NOTES.encode(), background=False)

    refund_chunk = Chunk.objects.get(document=document, heading="Returns")
    assert indexed_rowids("zanzibarite") == [refund_chunk.pk]


def test_deleting_an_agent_removes_its_documents_from_the_index() -> None:
    user = make_user()
    agent = Agent.objects.create(user=user, name="Support")
    services.document_upload(user=user, agent=agent, name="notes.md", data=NOTES.encode(), background=False)
    assert len(indexed_rowids("zanzibarite")) == 1

    response = api_client_for(user).delete(f"/api/agents/{agent.pk}")

    assert response.status_code == 200
    assert indexed_rowids("zanzibarite") == []
    assert Chunk.objects.count() == 0


def test_deleting_a_user_removes_their_chunks_from_the_index() -> None:
    user = make_user()
    services.document_upload(user=user, agent=None, name="notes.md", data=NOTES.encode(), background=False)

    user.delete()

    assert indexed_rowids("zanzibarite") == [] and indexed_rowids("warehouse") == []


def test_a_question_ranks_on_its_content_words_not_its_stopwords() -> None:
    user = make_user()
    filler = "\n\n".join(f"# Part {i}\n\nWhat is the use of this and that, and what is it for?" for i in range(8))
    services.document_upload(user=user, agent=None, name="notes.md", data=(NOTES + "\n\n" + filler).encode(), background=False)

    results = services.knowledge_search(user_id=user.pk, query="What is the refund window?", top_k=3)

    assert results[0].heading == "Returns"
    assert query_words("What is the refund window?") == ["refund", "window"]
    assert query_words("怎么申请退款？") == ["申请", "退款"]
    assert query_words("what is it") == ["what", "is", "it"]  # nothing but stopwords: keep them


def test_an_embeddings_outage_at_upload_still_indexes_the_document_for_words(fake_llm: Any) -> None:
    user = make_user()
    broken = Provider.objects.create(user=None, name="embeddings", provider_type="openai", base_url=fake_llm.base_url + "/missing")

    with override_settings(LUXX_EMBEDDINGS_PROVIDER_ID=broken.pk):
        document = services.document_upload(user=user, agent=None, name="notes.md", data=NOTES.encode(), background=False)
        results = services.knowledge_search(user_id=user.pk, query="refund window", top_k=1)

    document.refresh_from_db()
    assert (document.status, document.chunk_count) == ("ready", 2)
    assert not any(Chunk.objects.filter(document=document).values_list("embedding", flat=True))
    assert results[0].heading == "Returns"


MODEL = "text-embedding-3-small"  # LUXX_EMBEDDINGS_MODEL's default


def ids_of(found: list[tuple[int, float]]) -> list[int]:
    assert all(similarity > 0 for _, similarity in found)
    return [chunk_id for chunk_id, _ in found]


def test_vector_search_sees_a_new_document_after_the_scope_was_cached(fake_llm: Any) -> None:
    user = make_user()
    provider = Provider.objects.create(user=None, name="embeddings", provider_type="openai", base_url=fake_llm.base_url + "/v1")
    with override_settings(LUXX_EMBEDDINGS_PROVIDER_ID=provider.pk):
        services.document_upload(user=user, agent=None, name="notes.md", data=NOTES.encode(), background=False)
        [query_vector] = embed_texts(provider, ["penguins huddle on the ice"])
        before = ids_of(vector_search.nearest_chunks(query_vector=query_vector, model=MODEL, user_id=user.pk, agent_id=None, limit=5))
        document = services.document_upload(
            user=user, agent=None, name="birds.md", data=b"# Birds\n\nPenguins huddle together on the ice.", background=False
        )
        after = ids_of(vector_search.nearest_chunks(query_vector=query_vector, model=MODEL, user_id=user.pk, agent_id=None, limit=5))
        services.document_delete(document=document)
        gone = ids_of(vector_search.nearest_chunks(query_vector=query_vector, model=MODEL, user_id=user.pk, agent_id=None, limit=5))

    penguins = Chunk.objects.filter(document__name="birds.md").values_list("pk", flat=True)
    assert list(penguins) == []  # deleted
    assert after[0] not in before and after[0] not in gone
    assert len(after) == len(before) + 1


def test_vector_search_is_scoped_to_the_user_and_the_agent(fake_llm: Any) -> None:
    alice, bob = make_user(), make_user()
    agent = Agent.objects.create(user=alice, name="Support")
    provider = Provider.objects.create(user=None, name="embeddings", provider_type="openai", base_url=fake_llm.base_url + "/v1")
    with override_settings(LUXX_EMBEDDINGS_PROVIDER_ID=provider.pk):
        services.document_upload(user=alice, agent=agent, name="notes.md", data=NOTES.encode(), background=False)
        services.document_upload(
            user=alice, agent=None, name="other.md", data=b"# Other\n\nThe refund desk is on floor two.", background=False
        )
        [query_vector] = embed_texts(provider, ["refund"])
        for_bob = ids_of(vector_search.nearest_chunks(query_vector=query_vector, model=MODEL, user_id=bob.pk, agent_id=None, limit=5))
        for_agent = ids_of(
            vector_search.nearest_chunks(query_vector=query_vector, model=MODEL, user_id=alice.pk, agent_id=agent.pk, limit=5)
        )

    assert for_bob == []
    assert set(Chunk.objects.filter(pk__in=for_agent).values_list("document__agent_id", flat=True)) == {agent.pk}


def test_a_users_own_match_is_found_below_many_better_matches_of_another_user() -> None:
    alice, bob = make_user(), make_user()
    crowd = "\n\n".join(f"# Part {i}\n\nQuasar quasar quasar observations, night {i}." for i in range(12))
    services.document_upload(user=alice, agent=None, name="crowd.md", data=crowd.encode(), background=False)
    services.document_upload(
        user=bob,
        agent=None,
        name="mine.md",
        data=b"# Mine\n\nA long essay that mentions a quasar only once, among many other words.",
        background=False,
    )

    results = services.knowledge_search(user_id=bob.pk, query="quasar", top_k=5)

    assert [r.document_name for r in results] == ["mine.md"]


def test_a_word_in_most_chunks_brings_no_chunks_in_but_alone_it_still_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "COMMON_FRACTION", 0.3)
    user = make_user()
    body = "\n\n".join(f"# Part {i}\n\nThe lantern glows over the harbour on evening {i}." for i in range(10))
    services.document_upload(
        user=user, agent=None, name="harbour.md", data=(body + "\n\n# Lighthouse\n\nA lantern and a zeppelin.").encode(), background=False
    )

    both = services.knowledge_search(user_id=user.pk, query="lantern zeppelin", top_k=5)
    alone = services.knowledge_search(user_id=user.pk, query="lantern", top_k=3)

    assert both[0].heading == "Lighthouse"
    assert len(alone) == 3 and all("lantern" in r.content for r in alone)


def test_when_few_chunks_hold_the_rare_word_chunks_with_the_common_ones_fill_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "COMMON_FRACTION", 0.3)
    monkeypatch.setattr(index, "EXHAUSTIVE_ROWS", 0)
    user = make_user()
    body = "\n\n".join(f"# Part {i}\n\nThe lantern glows over the harbour on evening {i}." for i in range(6))
    services.document_upload(
        user=user, agent=None, name="harbour.md", data=(body + "\n\n# Lighthouse\n\nA lantern and a zeppelin.").encode(), background=False
    )

    results = services.knowledge_search(user_id=user.pk, query="zeppelin lantern", top_k=4)

    assert results[0].heading == "Lighthouse"
    assert len(results) == 4 and all("lantern" in r.content for r in results)


def test_right_after_the_first_upload_a_rare_word_outweighs_a_common_one() -> None:
    user = make_user()
    body = "\n\n".join(f"# Part {i}\n\nHarbour harbour harbour, evening {i}." for i in range(6))
    body += "\n\n# Sky\n\nA zeppelin drifts."
    services.document_upload(user=user, agent=None, name="harbour.md", data=body.encode(), background=False)

    results = services.knowledge_search(user_id=user.pk, query="harbour zeppelin", top_k=3)

    assert results[0].heading == "Sky"
