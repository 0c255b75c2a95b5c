"""BM25 over statistics the index keeps itself: the same ranking on SQLite and PostgreSQL,
whatever the planner knows, for late documents as for early ones, with pruning that keeps
the best chunks."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.db import connection

from knowledge import index, services
from knowledge.models import Chunk, Document
from knowledge.segment import query_words, words
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

# A fixed corpus: every document is one chunk (short Markdown sections), so a result is
# named by (document, heading) alike on both databases.
CORPUS = {
    "astronomy.md": "# Comets\n\nA comet's tail points away from the sun; the comet itself is ice and dust.\n\n"
    "# Quasars\n\nA quasar is the bright core of a distant galaxy, fed by a black hole.",
    "kitchen.md": "# Bread\n\nBread rises because yeast turns sugar into gas.\n\n# Ice\n\nIce cream is churned while it freezes.",
    "travel.md": "# Trains\n\nNight trains cross the mountains; the dust of the road stays behind.\n\n"
    "# Ferries\n\nThe ferry crosses to the island twice a day, weather allowing.",
    "notes.md": "# Sun\n\nThe sun rises in the east. Sun, sun, sun: the sun warms the ice and the dust.",
}
QUERIES = ["comet ice dust", "sun", "the ice", "quasar galaxy black hole", "trains crossing mountains", "ferry island weather"]
# The same on both databases (each test database starts empty): (document, heading, score).
EXPECTED = {
    "comet ice dust": [
        ("astronomy.md", "Comets", 2.625),
        ("notes.md", "Sun", 0.4389),
        ("kitchen.md", "Ice", 0.3891),
        ("travel.md", "Trains", 0.2535),
    ],
    "sun": [("notes.md", "Sun", 1.3841), ("astronomy.md", "Comets", 0.7075)],
    "the ice": [("kitchen.md", "Ice", 0.3891), ("astronomy.md", "Comets", 0.2255), ("notes.md", "Sun", 0.2195)],
    "quasar galaxy black hole": [("astronomy.md", "Quasars", 5.9664)],
    "trains crossing mountains": [("travel.md", "Trains", 4.3033), ("travel.md", "Ferries", 0.821)],
    "ferry island weather": [("travel.md", "Ferries", 5.1262)],
}


def upload_corpus(user: Any) -> None:
    for name, text in CORPUS.items():
        services.document_upload(user=user, agent=None, name=name, data=text.encode(), background=False)


def ranking(user: Any, query: str, top_k: int = 5) -> list[tuple[str, str, float]]:
    return [(r.document_name, r.heading, round(r.score, 4)) for r in services.knowledge_search(user_id=user.pk, query=query, top_k=top_k)]


def test_a_fixed_corpus_ranks_the_same_chunks_with_the_same_scores_on_either_database() -> None:
    user = make_user()
    upload_corpus(user)

    rankings = {query: ranking(user, query) for query in QUERIES}

    assert rankings == EXPECTED
    if connection.vendor == "sqlite":  # the scores are FTS5's own bm25() (which it negates)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT d.name, c.heading, -bm25(knowledge_chunk_fts) FROM knowledge_chunk_fts f JOIN knowledge_chunk c ON c.id = f.rowid "
                "JOIN knowledge_document d ON d.id = c.document_id WHERE knowledge_chunk_fts MATCH %s ORDER BY bm25(knowledge_chunk_fts)",
                ['"ferri" OR "island" OR "weather"'],
            )
            assert [(name, heading, round(score, 4)) for name, heading, score in cursor.fetchall()] == EXPECTED["ferry island weather"]


def test_the_index_keeps_its_own_statistics_through_uploads_and_deletes() -> None:
    user = make_user()
    upload_corpus(user)
    services.document_delete(document=Document.objects.get(name="kitchen.md"))
    texts = list(Chunk.objects.values_list("search_text", flat=True))
    chunk_words = [text.split(" ") for text in texts]
    held = Counter(word for found in chunk_words for word in set(found))

    with connection.cursor() as cursor:
        engine = index._SQLite() if connection.vendor == "sqlite" else index._PostgreSQL()
        stats = engine.statistics(cursor, ["sun", "ice", "dust", "bread", "ferri"])

    assert (stats.chunks, stats.words) == (5, sum(len(found) for found in chunk_words)) == (5, 76)
    assert (
        stats.frequency
        == {"sun": held["sun"], "ice": held["ice"], "dust": held["dust"], "ferri": 1}
        == {
            "sun": 2,
            "ice": 2,
            "dust": 3,
            "ferri": 1,
        }
    )


def test_every_word_is_one_token_to_the_database_index() -> None:
    user = make_user()
    text = "# Mixed\n\nCafé naïve foo_bar x² ½ ①st ＡＢＣ Straße ΣΟΦΟΣ Ørsted 学习方法 3.5 v2 déjà-vu"
    services.document_upload(user=user, agent=None, name="mixed.md", data=text.encode(), background=False)
    expected = words("Mixed\n" + text.split("\n\n", 1)[1])

    with connection.cursor() as cursor:
        engine = index._SQLite() if connection.vendor == "sqlite" else index._PostgreSQL()
        stats = engine.statistics(cursor, expected)

    assert expected[:6] == ["mix", "cafe", "naiv", "foo", "bar", "x2"]
    assert (stats.chunks, stats.words) == (1, len(expected))
    assert stats.frequency == dict.fromkeys(expected, 1)


def test_the_ranking_does_not_change_after_the_planner_analyses_the_table() -> None:
    user = make_user()
    upload_corpus(user)
    before = {query: ranking(user, query) for query in QUERIES}

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_chunk" if connection.vendor == "postgresql" else "ANALYZE")
    after = {query: ranking(user, query) for query in QUERIES}

    assert before == after == EXPECTED


def test_a_document_added_after_many_others_is_found_as_well_as_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "EXHAUSTIVE_ROWS", 0)  # the pruned plan, as in a large index
    user = make_user()
    match = "# Quasar {n}\n\nThe quasar outshines its galaxy; quasar light is old. Quasar."
    services.document_upload(user=user, agent=None, name="first.md", data=match.format(n=1).encode(), background=False)
    for n in range(30):
        filler = f"# Filler {n}\n\nA galaxy of ordinary stars, number {n}, and nothing brighter."
        services.document_upload(user=user, agent=None, name=f"filler-{n}.md", data=filler.encode(), background=False)
    services.document_upload(user=user, agent=None, name="last.md", data=match.format(n=2).encode(), background=False)

    results = services.knowledge_search(user_id=user.pk, query="quasar galaxy", top_k=2)

    assert sorted(r.document_name for r in results) == ["first.md", "last.md"]
    assert results[0].score == pytest.approx(results[1].score, rel=1e-6)


def test_the_pruned_search_returns_what_scoring_every_match_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user()
    upload_corpus(user)
    terms = {query: query_words(query) for query in QUERIES}
    exhaustive = {q: index.lexical_search(terms=t, user_id=user.pk, agent_id=None, limit=3, exhaustive=True) for q, t in terms.items()}

    monkeypatch.setattr(index, "EXHAUSTIVE_ROWS", 0)
    pruned = {q: index.lexical_search(terms=t, user_id=user.pk, agent_id=None, limit=3) for q, t in terms.items()}

    assert pruned == exhaustive
    assert [len(found) for found in exhaustive.values()] == [3, 2, 3, 1, 2, 1]


def test_a_chunk_that_holds_one_rare_word_once_still_ranks_when_nothing_better_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "EXHAUSTIVE_ROWS", 0)
    user = make_user()
    body = "# Long\n\n" + " ".join(f"filler{n}" for n in range(60)) + " zeppelin."
    services.document_upload(user=user, agent=None, name="long.md", data=body.encode(), background=False)

    results = services.knowledge_search(user_id=user.pk, query="zeppelin hangar", top_k=5)

    assert [r.heading for r in results] == ["Long"]


@pytest.mark.parametrize("path", ["/api/knowledge/search", "/api/v1/knowledge/search"])
def test_top_k_up_to_100_is_accepted_and_101_is_refused_naming_the_field(client: Any, user: Any, path: str) -> None:
    from agents.models import Agent

    agent = Agent.objects.create(user=user, name="Reader")
    body = "\n\n".join(f"# Part {n}\n\nLantern number {n} glows." for n in range(120))
    services.document_upload(user=user, agent=agent, name="lanterns.md", data=body.encode(), background=False)

    accepted = client.post(path, {"query": "lantern", "agent_id": agent.pk, "top_k": 100}, format="json")
    refused = client.post(path, {"query": "lantern", "agent_id": agent.pk, "top_k": 101}, format="json")

    assert accepted.status_code == 200
    assert len(accepted.json()["data"]["results"]) == 100
    assert refused.status_code == 400
    if path.startswith("/api/v1/"):
        assert refused.json()["code"] == 40000 and "top_k" in refused.json()["message"]
    else:
        assert "top_k" in refused.json()["errors"]


def test_the_migrated_schema_keeps_the_triggers_that_maintain_the_index() -> None:
    # A migration that makes SQLite rebuild knowledge_chunk (an added column with a
    # default, say) drops these triggers, and search then silently misses new chunks.
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'knowledge_chunk'")
            expected = {
                f"{table}_{op}" for table in ("knowledge_chunk_fts", "knowledge_chunk_boost") for op in ("insert", "delete", "update")
            }
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'knowledge_chunk'::regclass AND NOT tgisinternal")
            expected = {"knowledge_chunk_counted_insert", "knowledge_chunk_counted_delete", "knowledge_chunk_counted_update"}
        found = {row[0] for row in cursor.fetchall()}

    assert expected <= found


@pytest.mark.postgres_only
def test_a_chunks_search_text_is_kept_in_its_row_where_a_search_reads_it_fast() -> None:
    # Out of line (PostgreSQL's default for a long text in a wide row), each candidate a
    # search scores costs a lookup in the TOAST table: twice the time.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = 'knowledge_chunk'::regclass "
            "AND attname IN ('search_text', 'content')"
        )
        storage = dict(cursor.fetchall())

    assert storage == {"search_text": "m", "content": "x"}
