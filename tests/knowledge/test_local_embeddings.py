"""The local embeddings backend: all-MiniLM-L6-v2 from its package, run in numpy, offline;
vectors made by a background task after a document is searchable by words."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from knowledge import local_model as local_model_module
from knowledge import services
from knowledge.errors import EmbeddingError
from knowledge.local_model import MiniLM, local_model, model_directory
from knowledge.models import Chunk, Document
from tests.support.factories import api_client_for, make_user
from tests.support.tasks import run_queued_tasks

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text(encoding="utf-8"))
DOC = (
    "# Pets\n\nDogs and cats are loved companions in many homes.\n\n"
    "# Money\n\nThe central bank raised interest rates to curb inflation.\n\n"
    "# Weather\n\nHeavy rain and strong wind are expected tomorrow."
)


def test_the_encoder_reproduces_the_sentence_transformers_vectors() -> None:
    vectors = local_model().encode(REFERENCE["texts"])

    expected = np.asarray(REFERENCE["vectors"], dtype=np.float32)
    assert vectors.shape == expected.shape == (3, 384)
    assert np.abs(vectors - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_the_model_loads_and_encodes_with_the_network_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network cut by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    model = MiniLM(model_directory())  # a fresh load, not the process's cached one
    [vector] = model.encode(["offline"])

    assert vector.shape == (384,)


def test_a_batch_encodes_each_text_as_it_would_alone() -> None:
    texts = ["short", "a much longer sentence that pads the short one in the same batch " * 4]
    together = local_model().encode(texts)
    alone = np.concatenate([local_model().encode([text]) for text in texts])

    assert np.abs(together - alone).max() < 1e-5


def test_a_long_passage_is_read_in_overlapping_windows_the_first_as_encode_reads_it() -> None:
    model = local_model()
    text = " ".join(f"word{i}" for i in range(400))
    pieces = len(model._pieces(text))

    [windows] = model.encode_passages([text])

    assert model.window == 254 and pieces > 2 * model.stride
    assert len(windows) == 1 + -(-(pieces - model.window) // model.stride)
    assert np.abs(windows[0] - model.encode([text])[0]).max() < 1e-5
    assert [len(w) for w in model.encode_passages(["short", ""])] == [1, 1]


def test_only_queries_in_the_models_language_are_understood() -> None:
    assert local_model().unknown_share("Which bank raised interest rates?") == 0.0
    assert local_model().unknown_share("熊猫喜欢吃竹子") > 0.5


@pytest.mark.django_db(transaction=True)
@override_settings(LUXX_EMBEDDINGS="local")
def test_an_upload_is_searchable_by_words_at_once_and_by_meaning_after_its_task() -> None:
    # Given a user with local embeddings on
    user = make_user()
    client = api_client_for(user)

    # When a document is uploaded and indexed, but its vectors' task has not run yet
    response = client.post("/api/knowledge/documents/", {"file": SimpleUploadedFile("notes.md", DOC.encode())}, format="multipart")
    document_id = response.json()["data"]["id"]
    run_queued_tasks(max_tasks=1)  # the indexing task alone
    by_words = client.post("/api/knowledge/search", {"query": "interest rates"}, format="json").json()["data"]["results"]
    before = client.post("/api/knowledge/search", {"query": "monetary policy"}, format="json").json()["data"]["results"]
    assert Document.objects.get(pk=document_id).status == "ready"
    assert not Chunk.objects.filter(document_id=document_id, embedding__isnull=False).exists()

    # And then the task makes the vectors
    run_queued_tasks()
    after = client.post("/api/knowledge/search", {"query": "monetary policy"}, format="json").json()["data"]["results"]

    # Then the words matched at once; a question sharing no word with the text matches by meaning once the vectors exist
    assert [r["heading"] for r in by_words][:1] == ["Money"]
    assert before == []
    assert [r["heading"] for r in after][:1] == ["Money"]
    assert Chunk.objects.filter(document_id=document_id, embedding__isnull=True).count() == 0
    tasks = list(DBTaskResult.objects.order_by("enqueued_at").values_list("task_path", "status"))
    assert tasks == [("knowledge.tasks.index_document", "SUCCESSFUL"), ("knowledge.tasks.embed_document", "SUCCESSFUL")]


@pytest.mark.django_db(transaction=True)
@override_settings(LUXX_EMBEDDINGS="local")
def test_a_long_chunk_is_found_by_meaning_in_its_last_part() -> None:
    user = make_user()
    garden = " ".join(["Tomatoes, beans and roses grow in the sunny garden behind the old house."] * 20)
    body = f"# Notes\n\n{garden} The central bank raised interest rates to curb inflation.\n\n# Cooking\n\nBake the bread for an hour."
    document = services.document_upload(user=user, agent=None, name="long.md", data=body.encode(), background=False)

    results = services.knowledge_search(user_id=user.pk, query="monetary policy", top_k=2)

    notes = Chunk.objects.get(document=document, heading="Notes")
    assert len(bytes(notes.embedding)) >= 2 * 384 * 4  # more than one window
    assert [r.heading for r in results][:1] == ["Notes"]


@pytest.mark.django_db(transaction=True)
@override_settings(LUXX_EMBEDDINGS="local")
def test_a_query_the_model_does_not_understand_is_ranked_by_words_alone() -> None:
    user = make_user()
    body = "# 熊猫\n\n熊猫喜欢吃竹子。\n\n# Pets\n\nDogs and cats are loved companions."
    services.document_upload(user=user, agent=None, name="mixed.md", data=body.encode(), background=False)
    lexical = services.knowledge_search(user_id=user.pk, query="熊猫吃什么", top_k=5)

    with override_settings(LUXX_EMBEDDINGS="off"):
        words_only = services.knowledge_search(user_id=user.pk, query="熊猫吃什么", top_k=5)

    assert [(r.heading, r.score) for r in lexical] == [(r.heading, r.score) for r in words_only]
    assert [r.heading for r in lexical] == ["熊猫"]


@pytest.mark.django_db(transaction=True)
@override_settings(LUXX_EMBEDDINGS="local")
def test_embedding_resumes_where_a_run_stopped_and_a_second_run_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user()
    with override_settings(LUXX_EMBEDDINGS="off"):
        document = services.document_upload(user=user, agent=None, name="notes.md", data=DOC.encode(), background=False)
    chunks = list(Chunk.objects.filter(document=document).order_by("index"))
    local_chunk = chunks[0]
    # As if a first run stored a batch and died
    Chunk.objects.filter(pk=local_chunk.pk).update(embedding=b"kept", embedding_model="all-MiniLM-L6-v2")
    monkeypatch.setattr(services, "EMBED_BATCH", 1)

    made = services.document_embed(document_id=document.pk)
    again = services.document_embed(document_id=document.pk)

    assert (made, again) == (len(chunks) - 1, 0)
    assert bytes(Chunk.objects.get(pk=local_chunk.pk).embedding) == b"kept"
    assert all(
        len(bytes(c.embedding)) % (384 * 4) == 0 and c.embedding for c in Chunk.objects.filter(document=document).exclude(pk=local_chunk.pk)
    )


@pytest.mark.django_db(transaction=True)
def test_without_an_embedder_no_embedding_task_is_enqueued() -> None:
    user = make_user()
    client = api_client_for(user)

    with override_settings(LUXX_EMBEDDINGS="off"):
        client.post("/api/knowledge/documents/", {"file": SimpleUploadedFile("notes.md", DOC.encode())}, format="multipart")
        run_queued_tasks()

    assert list(DBTaskResult.objects.values_list("task_path", flat=True)) == ["knowledge.tasks.index_document"]


@pytest.mark.django_db(transaction=True)
@override_settings(LUXX_EMBEDDINGS="local")
def test_vectors_of_another_model_are_not_compared_and_are_replaced_by_the_command() -> None:
    # Given a document whose chunks have 384-wide vectors of another model (4 x 384 = 1536 floats, one chunk too)
    user = make_user()
    with override_settings(LUXX_EMBEDDINGS="off"):
        document = services.document_upload(user=user, agent=None, name="notes.md", data=DOC.encode(), background=False)
    foreign = np.ones(4 * 384, dtype="<f4").tobytes()
    Chunk.objects.filter(document=document).update(embedding=foreign, embedding_model="text-embedding-3-small")

    # When searching by meaning, then embedding the documents again from the command line
    before = services.knowledge_search(user_id=user.pk, query="monetary policy", top_k=3)
    assert services.documents_to_embed() == [document.pk]
    call_command("embed", "--now", stdout=io.StringIO())
    after = services.knowledge_search(user_id=user.pk, query="monetary policy", top_k=3)

    # Then the other model's vectors were never read as windows of this one, and are replaced
    assert before == []
    assert [r.heading for r in after][:1] == ["Money"]
    assert set(Chunk.objects.filter(document=document).values_list("embedding_model", flat=True)) == {"all-MiniLM-L6-v2"}
    assert services.documents_to_embed() == []


@pytest.mark.django_db(transaction=True)
@override_settings(LUXX_EMBEDDINGS="local")
def test_the_command_enqueues_one_task_per_document_lacking_vectors() -> None:
    user = make_user()
    with override_settings(LUXX_EMBEDDINGS="off"):
        first = services.document_upload(user=user, agent=None, name="a.md", data=DOC.encode(), background=False)
        second = services.document_upload(user=user, agent=None, name="b.md", data=b"# B\n\nAnother text.", background=False)
    services.document_embed(document_id=first.pk)
    output = io.StringIO()

    call_command("embed", stdout=output)

    tasks = list(DBTaskResult.objects.values_list("task_path", "args_kwargs"))
    assert tasks == [("knowledge.tasks.embed_document", {"args": [second.pk], "kwargs": {}})]
    assert output.getvalue().strip() == "Enqueued 1 document(s) for all-MiniLM-L6-v2."


@pytest.mark.django_db(transaction=True)
@override_settings(LUXX_EMBEDDINGS="local")
def test_without_the_optional_package_search_ranks_by_words_and_the_task_fails_to_be_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Path:
        raise local_model_module.LocalModelMissing("not installed")

    monkeypatch.setattr(local_model_module, "model_directory", missing)
    local_model_module._loaded.cache_clear()
    try:
        user = make_user()
        document = services.document_upload(user=user, agent=None, name="notes.md", data=DOC.encode(), background=False)
        results = services.knowledge_search(user_id=user.pk, query="interest rates", top_k=1)

        assert [r.heading for r in results] == ["Money"]
        assert not Chunk.objects.filter(document=document, embedding__isnull=False).exists()
        with pytest.raises(EmbeddingError):
            services.document_embed(document_id=document.pk)
    finally:
        local_model_module._loaded.cache_clear()
