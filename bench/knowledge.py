"""Knowledge base: ingestion rate, search latency, index size and retrieval quality.

Each run starts from an empty database and goes through the real upload service
(extraction, chunking, jieba segmentation, the database's full-text index):

1. two public-domain texts in bench/data/ (four Sherlock Holmes stories, the Analects)
   are uploaded, and the hand-written questions of bench/data/recall-questions.json are
   asked of them alone: recall@5 with no distractors, the quality baseline;
2. a generated corpus of mixed English and Chinese documents is added until the index
   holds the asked number of chunks (the uploads alone are timed: the ingestion rate).
   Each document mixes the texts' common words, at their frequencies, with a topic of
   rarer words of its own, so the distractors share the questions' vocabulary;
3. searches at top_k=5 are timed: the labelled questions with two-to-four keyword
   searches (English and Chinese, any word of the vocabulary alike), and apart from them
   keywords drawn as often as they occur ("common"), mostly common words, the worst case
   for a full-text engine; then recall@5 and nDCG@10 are measured again, now among the
   distractors, and the first --agreement searches are checked against scoring every
   chunk that holds any of their words (knowledge.index's ``exhaustive``): "exact" counts
   the searches whose top 5 are the same chunks.

    .venv/bin/python bench/knowledge.py --chunks 10000 100000 --databases sqlite postgres

PostgreSQL runs use a scratch database (luxx_bench_knowledge) on --pg-url's server, created
and dropped here, with autovacuum off for its tables and no ANALYZE: search runs right
after the bulk load, with no planner statistics at all. Index size is the full-text
indexes alone (SQLite's FTS5 tables, PostgreSQL's GIN indexes and its word table);
database size is everything the knowledge tables take.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
TEXTS = ("sherlock-holmes.txt", "lunyu.md")
PG_BENCH_DB = "luxx_bench_knowledge"
SECTIONS_PER_DOCUMENT = 40
COMMON_WORDS = 300
TOPIC_WORDS = 300
TOP_K = 5


def questions() -> list[dict[str, str]]:
    return json.loads((DATA / "recall-questions.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Vocabulary:
    """The English and the Chinese words of the two texts with their counts, most frequent
    first, except that names come last: "Holmes" is frequent in the stories, not in the
    world, so it must not be one of every distractor's common words."""

    english: tuple[list[str], list[int]]
    chinese: tuple[list[str], list[int]]


def vocabulary() -> Vocabulary:
    import jieba.posseg

    from knowledge.segment import words

    story = (DATA / TEXTS[0]).read_text(encoding="utf-8")
    english = Counter(re.findall(r"[a-z]+", story.lower()))
    capitalised = Counter(w.lower() for w in re.findall(r"\b[A-Z][a-z]+", story))
    english_names = {w for w, n in capitalised.items() if n >= 0.9 * english[w]}
    analects = (DATA / TEXTS[1]).read_text(encoding="utf-8")
    chinese = Counter(w for w in words(analects) if re.fullmatch(r"[\u4e00-\u9fff]+", w))
    chinese_names = {pair.word for pair in jieba.posseg.cut(analects) if pair.flag in ("nr", "nrfg", "nrt", "ns")}

    def ranked(counts: Counter[str], names: set[str]) -> tuple[list[str], list[int]]:
        pairs = sorted(counts.most_common(), key=lambda pair: pair[0] in names)  # stable: names last
        return [w for w, _ in pairs], [n for _, n in pairs]

    return Vocabulary(ranked(english, english_names), ranked(chinese, chinese_names))


def distractor_document(rng: random.Random, vocab: Vocabulary, number: int, english: bool, *, sections: int) -> str:
    """A document of about 300-token sections on a topic of its own.

    Its words are the texts' most common words (with their frequencies) plus a topic: a
    few hundred of the rarer words, drawn anew for each document. Rare words then cluster
    in some documents, as they do in real collections, instead of turning up everywhere.
    """
    pool, weights = vocab.english if english else vocab.chinese
    common, common_weights = pool[:COMMON_WORDS], weights[:COMMON_WORDS]
    topic = rng.sample(pool[COMMON_WORDS:], min(TOPIC_WORDS, len(pool) - COMMON_WORDS))
    words = common + topic
    word_weights = common_weights + [sum(common_weights) // (2 * len(topic))] * len(topic)  # a third of the words on topic
    title = "Section" if english else "第"
    bodies = []
    for i in range(sections):
        if english:
            text = " ".join(
                " ".join(rng.choices(words, word_weights, k=rng.randint(8, 22))).capitalize() + rng.choice(".......?!") for _ in range(14)
            )
        else:
            text = "".join("".join(rng.choices(words, word_weights, k=rng.randint(4, 12))) + rng.choice("。。。，；？") for _ in range(25))
        bodies.append(f"## {title} {number}.{i}\n\n{text}")
    return "\n\n".join(bodies)


SQUASH = re.compile(r"\s+")


def relevant_chunks(labelled: list[dict[str, str]]) -> list[int]:
    """How many chunks hold each question's answer (overlapping chunks can both hold it)."""
    from knowledge.models import Chunk

    contents = [SQUASH.sub(" ", c) for c in Chunk.objects.values_list("content", flat=True)]
    return [sum(SQUASH.sub(" ", item["answer"]).strip() in c for c in contents) for item in labelled]


def recall(user_id: int, labelled: list[dict[str, str]], relevant: list[int], search) -> tuple[dict[str, str], float]:  # type: ignore[no-untyped-def]
    """recall@5 per source (a hit when one of the first five chunks holds the answer) and
    the mean nDCG@10 (a chunk that holds the answer is relevant)."""
    hits: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    ndcg = 0.0
    for item, ideal in zip(labelled, relevant, strict=True):
        answer = SQUASH.sub(" ", item["answer"]).strip()
        results = search(user_id=user_id, query=item["question"], top_k=10)
        gains = [answer in SQUASH.sub(" ", r.content) for r in results]
        asked[item["source"]] += 1
        hits[item["source"]] += any(gains[:TOP_K])
        best = sum(1 / math.log2(rank + 2) for rank in range(min(max(ideal, 1), 10)))
        ndcg += sum(1 / math.log2(rank + 2) for rank, gain in enumerate(gains) if gain) / best
    return {source: f"{hits[source]}/{asked[source]}" for source in TEXTS}, round(ndcg / len(labelled), 3)


def agreement(user_id: int, searches: list[str]) -> str:
    """How many searches return the same top 5 as scoring every chunk that holds a word."""
    from knowledge.index import lexical_search
    from knowledge.segment import query_words

    same = 0
    for query in searches:
        terms = query_words(query)
        pruned = lexical_search(terms=terms, user_id=user_id, agent_id=None, limit=TOP_K)
        exhaustive = lexical_search(terms=terms, user_id=user_id, agent_id=None, limit=TOP_K, exhaustive=True)
        same += [c for c, _ in pruned] == [c for c, _ in exhaustive]
    return f"{same}/{len(searches)}"


def exhaustive_search(*, user_id: int, query: str, top_k: int) -> list[object]:
    """The lexical search with no pruning: every chunk that holds a query word is scored."""
    from types import SimpleNamespace

    from knowledge.index import lexical_search
    from knowledge.models import Chunk
    from knowledge.segment import query_words

    ranked = lexical_search(terms=query_words(query), user_id=user_id, agent_id=None, limit=top_k, exhaustive=True)
    contents = dict(Chunk.objects.filter(pk__in=[c for c, _ in ranked]).values_list("pk", "content"))
    return [SimpleNamespace(content=contents[c]) for c, _ in ranked]


def keywords(rng: random.Random, vocab: Vocabulary, *, english: bool, weighted: bool) -> str:
    pool, weights = vocab.english if english else vocab.chinese
    picked = rng.choices(pool, weights if weighted else None, k=rng.randint(2, 4))
    return " ".join(picked) if english else "".join(picked)


def timed(user_id: int, searches: list[str], search) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Wall-clock and this process's CPU time of each search, each sorted. On a shared
    machine the wall clock includes waiting for a core; the CPU time does not (on
    PostgreSQL it leaves out the server's share)."""
    timings, cpu = [], []
    for query in searches:
        begin, begin_cpu = time.perf_counter(), time.process_time()
        search(user_id=user_id, query=query, top_k=TOP_K)
        timings.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
    return sorted(timings), sorted(cpu)


def percentile(sorted_seconds: list[float], percent: int) -> float:
    if percent == 50:
        return round(statistics.median(sorted_seconds) * 1000, 2)
    return round(sorted_seconds[max(0, math.ceil(len(sorted_seconds) * percent / 100) - 1)] * 1000, 2)


HYBRID_WEIGHTS = (0.05, 0.1, 0.2, 0.5, 1.0)


def lexical_recall(user_id: int, labelled: list[dict[str, str]], relevant: list[int]) -> tuple[dict[str, str], float]:
    """recall@5 and nDCG@10 of the search by words alone, whatever embeddings are set."""
    from django.test import override_settings

    from knowledge.services import knowledge_search

    with override_settings(LUXX_EMBEDDINGS="off"):
        return recall(user_id, labelled, relevant, knowledge_search)


def fusion_grid(user_id: int, labelled: list[dict[str, str]], relevant: list[int]) -> dict[str, object]:
    """recall@5 and nDCG@10 with words alone and fused with the vectors at each weight."""
    from django.test import override_settings

    from knowledge.services import knowledge_search

    grid: dict[str, object] = {"lexical": lexical_recall(user_id, labelled, relevant)}
    for weight in HYBRID_WEIGHTS:
        with override_settings(LUXX_HYBRID_VECTOR_WEIGHT=weight):
            grid[str(weight)] = recall(user_id, labelled, relevant, knowledge_search)
    return grid


def child(chunks: int, database: str, queries: int, checked: int) -> dict[str, object]:
    """Runs inside a fresh process configured for one database."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from knowledge.models import Chunk
    from knowledge.services import document_upload, knowledge_search
    from tests.support.factories import make_user

    user = make_user(username="bench")
    labelled = questions()
    for name in TEXTS:
        # Uploaded as Markdown so that the stories' and books' headings become heading paths.
        document_upload(user=user, agent=None, name=Path(name).stem + ".md", data=(DATA / name).read_bytes(), background=False)
    relevant = relevant_chunks(labelled)
    embedding = settings.LUXX_EMBEDDINGS == "local"
    baseline, baseline_ndcg = lexical_recall(user.pk, labelled, relevant)
    hybrid_alone = fusion_grid(user.pk, labelled, relevant) if embedding else {}
    labelled_chunks = Chunk.objects.count()

    rng = random.Random(1)
    vocab = vocabulary()
    made = labelled_chunks
    number = 0
    ingest_seconds = 0.0
    while made < chunks:
        number += 1
        english = number % 2 == 1
        body = distractor_document(rng, vocab, number, english, sections=min(SECTIONS_PER_DOCUMENT, chunks - made))
        started = time.perf_counter()  # the upload alone: making up the text is not ingestion
        document = document_upload(user=user, agent=None, name=f"corpus-{number}.md", data=body.encode(), background=False)
        ingest_seconds += time.perf_counter() - started
        made += document.chunk_count
    total = Chunk.objects.count()
    # What people search for: the labelled questions, and two to four keywords picked from
    # the vocabulary (any word alike); then, apart, keywords picked as often as they occur,
    # mostly common words, the worst case for a full-text engine.
    searches = [item["question"] for item in labelled]
    while len(searches) < queries:
        searches.append(keywords(rng, vocab, english=len(searches) % 2 == 0, weighted=False))
    common = [keywords(rng, vocab, english=i % 2 == 0, weighted=True) for i in range(queries // 3)]
    for probe in searches[:20] + common[:20]:  # warm up the caches and jieba
        knowledge_search(user_id=user.pk, query=probe, top_k=TOP_K)
    timings, cpu_timings = timed(user.pk, searches[:queries], knowledge_search)
    common_timings, _ = timed(user.pk, common, knowledge_search)
    among_distractors, mixed_ndcg = lexical_recall(user.pk, labelled, relevant)
    hybrid_mixed = fusion_grid(user.pk, labelled, relevant) if embedding else {}
    exact = agreement(user.pk, searches[:checked])
    among_distractors_unpruned, _ = recall(user.pk, labelled, relevant, exhaustive_search)

    with connection.cursor() as cursor:
        if database == "sqlite":
            cursor.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'knowledge_chunk_fts%' OR name LIKE 'knowledge_chunk_boost%'")
            index_bytes = cursor.fetchone()[0]
            cursor.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'knowledge_%'")
            database_bytes = cursor.fetchone()[0]
        else:
            cursor.execute(
                "SELECT pg_relation_size('knowledge_chunk_search_vector') + pg_relation_size('knowledge_chunk_boost_vector') "
                "+ pg_total_relation_size('knowledge_term')"
            )
            index_bytes = cursor.fetchone()[0]
            cursor.execute("SELECT pg_total_relation_size('knowledge_chunk') + pg_total_relation_size('knowledge_document')")
            database_bytes = cursor.fetchone()[0]
    return {
        "database": database,
        "chunks": total,
        "ingest_chunks_per_s": round((total - labelled_chunks) / ingest_seconds, 1) if ingest_seconds else 0.0,
        "search_p50_ms": percentile(timings, 50),
        "search_p99_ms": percentile(timings, 99),
        "cpu_p50_ms": percentile(cpu_timings, 50),
        "cpu_p99_ms": percentile(cpu_timings, 99),
        "common_p50_ms": percentile(common_timings, 50),
        "common_p99_ms": percentile(common_timings, 99),
        "index_mb": round(index_bytes / 1e6, 1),
        "database_mb": round(database_bytes / 1e6, 1),
        "recall_alone": baseline,
        "recall_among_distractors": among_distractors,
        "recall_unpruned": among_distractors_unpruned,
        "ndcg_alone": baseline_ndcg,
        "ndcg_among_distractors": mixed_ndcg,
        "exact": exact,
        **({"hybrid_alone": hybrid_alone, "hybrid_mixed": hybrid_mixed} if embedding else {}),
    }


def run_one(chunks: int, database: str, queries: int, checked: int, pg_url: str, embeddings: str) -> dict[str, object]:
    data_dir = tempfile.mkdtemp(prefix="luxx-bench-kb-")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "luxx.settings", "LUXX_DATA_DIR": data_dir, "LUXX_EMBEDDINGS": embeddings}
    for name in ("REDIS_URL", "DATABASE_URL", "LUXX_EMBEDDINGS_PROVIDER_ID"):
        env.pop(name, None)
    if database == "postgres":
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            admin.execute(f"CREATE DATABASE {PG_BENCH_DB}")
        env["DATABASE_URL"] = pg_url.rsplit("/", 1)[0] + "/" + PG_BENCH_DB
    try:
        # Quietly: the system checks' warnings (no sandbox for a scratch data folder) are noise here.
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0", "--skip-checks"], cwd=ROOT, env=env, check=True)
        if database == "postgres":
            import psycopg

            with psycopg.connect(env["DATABASE_URL"], autocommit=True) as bench_db:
                for table in ("knowledge_chunk", "knowledge_document", "knowledge_term", "knowledge_index_stats"):
                    bench_db.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        output = subprocess.run(
            [sys.executable, __file__, "--child", str(chunks), database, str(queries), str(checked)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(output.strip().splitlines()[-1])
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if database == "postgres":
            import psycopg

            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--queries", type=int, default=300, help="timed searches per run (the labelled questions first)")
    parser.add_argument(
        "--agreement", type=int, default=120, help="searches (the labelled questions first) checked against scoring every match"
    )
    parser.add_argument(
        "--embeddings",
        choices=["off", "local"],
        default="off",
        help="local: every chunk also gets an all-MiniLM-L6-v2 vector, and hybrid search is measured at several fusion weights",
    )
    parser.add_argument(
        "--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres", help="a PostgreSQL server to make a scratch database on"
    )
    args = parser.parse_args()
    total = len(questions())
    print(f"labelled questions: {total} (recall columns: Sherlock Holmes / Analects)")
    print(
        f"{'database':>9} {'chunks':>7} {'ingest/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'cpu p50':>7} {'cpu p99':>7} "
        f"{'common p50':>10} {'common p99':>10} "
        f"{'index MB':>8} {'db MB':>7} "
        f"{'recall@5 alone':>15} {'recall@5 mixed':>15} {'unpruned':>15} {'nDCG alone':>10} {'nDCG mixed':>10} {'exact':>8}"
    )
    for chunks in args.chunks:
        for database in args.databases:
            row = run_one(chunks, database, args.queries, args.agreement, args.pg_url, args.embeddings)
            alone, mixed = row["recall_alone"], row["recall_among_distractors"]
            print(
                f"{row['database']:>9} {row['chunks']:>7} {row['ingest_chunks_per_s']:>9} {row['search_p50_ms']:>7} "
                f"{row['search_p99_ms']:>7} {row['cpu_p50_ms']:>7} {row['cpu_p99_ms']:>7} "
                f"{row['common_p50_ms']:>10} {row['common_p99_ms']:>10} "
                f"{row['index_mb']:>8} {row['database_mb']:>7} "
                f"{' / '.join(alone.values()):>15} {' / '.join(mixed.values()):>15} {' / '.join(row['recall_unpruned'].values()):>15} "  # type: ignore[attr-defined]
                f"{row['ndcg_alone']:>10} {row['ndcg_among_distractors']:>10} {row['exact']:>8}",
                flush=True,
            )
            for among in ("alone", "mixed"):
                for weight, (hits, ndcg) in row.get(f"hybrid_{among}", {}).items():  # type: ignore[attr-defined]
                    label = "lexical only" if weight == "lexical" else f"vector weight {weight}"
                    print(f"    {among:>5} {label:>18}: recall@5 {' / '.join(hits.values())}, nDCG@10 {ndcg}", flush=True)


if __name__ == "__main__":
    main()
