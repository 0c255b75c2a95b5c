"""Knowledge base: ingestion rate, search latency, index size and retrieval quality.

Indexes a generated corpus of mixed English and Chinese passages through the real upload
service (extraction, chunking, jieba segmentation, the database's full-text index), then
times searches at top_k=5 and measures recall@5 on a labelled set of 60 questions whose
answers are planted in the corpus.

    .venv/bin/python bench/knowledge.py --chunks 10000 100000 --databases sqlite postgres

PostgreSQL runs use a scratch database (luxx_bench_knowledge) created and dropped here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "luxx_bench_knowledge"

EN_WORDS = [
    "system",
    "network",
    "storage",
    "kernel",
    "latency",
    "cache",
    "server",
    "client",
    "agent",
    "model",
    "token",
    "stream",
    "vector",
    "index",
    "query",
    "document",
    "chapter",
    "policy",
    "refund",
    "shipping",
    "invoice",
    "garden",
    "river",
    "mountain",
    "engine",
    "battery",
    "sensor",
    "protocol",
    "memory",
    "thread",
    "process",
    "signal",
    "socket",
    "package",
    "release",
    "version",
    "migration",
    "schema",
    "backup",
]
ZH_WORDS = [
    "系统",
    "网络",
    "存储",
    "内核",
    "延迟",
    "缓存",
    "服务器",
    "客户端",
    "模型",
    "向量",
    "索引",
    "查询",
    "文档",
    "章节",
    "政策",
    "退款",
    "物流",
    "发票",
    "花园",
    "河流",
    "山脉",
    "引擎",
    "电池",
    "传感器",
    "协议",
    "内存",
    "线程",
    "进程",
    "信号",
    "版本",
    "迁移",
    "备份",
]
ENTITIES = [
    "Velmora",
    "Quintrex",
    "Dablinor",
    "Orvenkai",
    "Suthaleen",
    "Maribosk",
    "Ketrovian",
    "Plumbaris",
    "Zendrith",
    "Halvoria",
    "Crestomyr",
    "Ubraxel",
    "Fennovar",
    "Glimmerod",
    "Tarquessa",
    "Yolvenix",
    "Brastomel",
    "Nimbrolo",
    "Ostravik",
    "Pellucine",
    "Rhovanna",
    "Sestorix",
    "Vandrelle",
    "Wexmorin",
    "Ashtorvel",
    "Belquarin",
    "Corvalind",
    "Drumvessa",
    "Eskarion",
    "Folvenni",
]
ZH_ENTITIES = [
    "青岚阀",
    "墨川泵",
    "星澜芯",
    "赤霄引擎",
    "云栖网关",
    "霜叶缓存",
    "玄石存储",
    "流萤调度器",
    "金鳞协议",
    "白鹭探针",
    "紫陌编译器",
    "碧潭索引",
    "苍穹路由",
    "锦瑟队列",
    "听涛传感器",
    "落霞网卡",
    "飞鸿镜像",
    "松涛备份",
    "明月日志",
    "清风防火墙",
    "雪松容器",
    "红枫代理",
    "银河总线",
    "晨曦固件",
    "暮云终端",
    "寒梅密钥",
    "秋水管道",
    "春雷监控",
    "夏荷节点",
    "冬雪集群",
]
EN_ATTRIBUTES = [("operating temperature", "{n} degrees"), ("release year", "{y}"), ("maximum throughput", "{n} megabits per second")]
ZH_ATTRIBUTES = [("额定功率", "{n}瓦"), ("发布年份", "{y}年"), ("最大并发", "{n}个连接")]


def facts() -> list[tuple[str, str]]:
    """(passage, question) pairs: the answer to each question is in exactly one passage."""
    rng = random.Random(7)
    pairs = []
    for entity in ENTITIES:
        attribute, pattern = rng.choice(EN_ATTRIBUTES)
        value = pattern.format(n=rng.randint(10, 900), y=rng.randint(1990, 2030))
        pairs.append(
            (
                f"The {attribute} of the {entity} unit is {value}. Engineers documented it carefully.",
                f"What is the {attribute} of {entity}?",
            )
        )
    for entity in ZH_ENTITIES:
        attribute, pattern = rng.choice(ZH_ATTRIBUTES)
        value = pattern.format(n=rng.randint(10, 900), y=rng.randint(1990, 2030))
        pairs.append((f"{entity}的{attribute}是{value}。工程师已经仔细记录了这一点。", f"{entity}的{attribute}是多少？"))
    return pairs


def filler(rng: random.Random, words: int = 70) -> str:
    english = " ".join(rng.choice(EN_WORDS) for _ in range(words // 2)) + "."
    chinese = "".join(rng.choice(ZH_WORDS) for _ in range(words // 4)) + "。"
    return f"{english} {chinese}"


def child(chunks: int, database: str, queries: int) -> dict[str, object]:
    """Runs inside a fresh process configured for one database."""
    import django

    django.setup()
    from django.db import connection

    from knowledge.models import Chunk
    from knowledge.services import document_upload, knowledge_search
    from tests.support.factories import make_user

    user = make_user(username="bench")
    rng = random.Random(1)
    planted = facts()
    sections_per_doc = 50
    started = time.perf_counter()
    made = 0
    doc_number = 0
    # The labelled passages go first, one section each, so every one is its own chunk.
    text = "\n\n".join(f"## Fact {i}\n\n{passage}" for i, (passage, _) in enumerate(planted))
    made += document_upload(user=user, agent=None, name="facts.md", data=text.encode()).chunk_count
    while made < chunks:
        doc_number += 1
        body = "\n\n".join(f"## Section {doc_number}.{i}\n\n{filler(rng)}" for i in range(min(sections_per_doc, chunks - made)))
        made += document_upload(user=user, agent=None, name=f"doc{doc_number}.md", data=body.encode()).chunk_count
    ingest_seconds = time.perf_counter() - started
    total = Chunk.objects.count()

    timings = []
    for _ in range(queries):
        words = [rng.choice(EN_WORDS), rng.choice(EN_WORDS), rng.choice(ZH_WORDS)]
        query = " ".join(words)
        begin = time.perf_counter()
        knowledge_search(user_id=user.pk, query=query, top_k=5)
        timings.append(time.perf_counter() - begin)
    timings.sort()

    hits = 0
    for passage, question in planted:
        results = knowledge_search(user_id=user.pk, query=question, top_k=5)
        hits += any(passage.split(".")[0].split("。")[0] in r.content for r in results)

    if database == "sqlite":
        size = Path(connection.settings_dict["NAME"]).stat().st_size
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size('knowledge_chunk')")
            size = cursor.fetchone()[0]
    return {
        "database": database,
        "chunks": total,
        "ingest_chunks_per_s": round(total / ingest_seconds, 1),
        "search_p50_ms": round(statistics.median(timings) * 1000, 2),
        "search_p99_ms": round(timings[max(0, int(len(timings) * 0.99) - 1)] * 1000, 2),
        "index_mb": round(size / 1e6, 1),
        "recall_at_5": f"{hits}/{len(planted)}",
    }


def run_one(chunks: int, database: str, queries: int) -> dict[str, object]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "luxx.settings", "LUXX_DATA_DIR": tempfile.mkdtemp(prefix="luxx-bench-kb-")}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    if database == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            admin.execute(f"CREATE DATABASE {PG_BENCH_DB}")
        env["DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_BENCH_DB
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        output = subprocess.run(
            [sys.executable, __file__, "--child", str(chunks), database, str(queries)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(output.strip().splitlines()[-1])
    finally:
        if database == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--queries", type=int, default=200, help="timed searches per run")
    args = parser.parse_args()
    print(f"{'database':>9} {'chunks':>7} {'ingest/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'index MB':>8} {'recall@5':>9}")
    for chunks in args.chunks:
        for database in args.databases:
            row = run_one(chunks, database, args.queries)
            print(
                f"{row['database']:>9} {row['chunks']:>7} {row['ingest_chunks_per_s']:>9} {row['search_p50_ms']:>7} "
                f"{row['search_p99_ms']:>7} {row['index_mb']:>8} {row['recall_at_5']:>9}",
                flush=True,
            )


if __name__ == "__main__":
    main()
