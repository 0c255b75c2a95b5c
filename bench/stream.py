"""Streaming under load: N concurrent chats through Luxx against the fake LLM, beside the
same N streams straight to the fake LLM in the same run.

For each N it prints time-to-first-token p50/p99, the inter-token gap p99, the delivered
token rate per stream relative to the direct one (tokens over the time from the request to
the last token, as a user sees it; and apart, from the first token on), the aggregate rate,
errors by kind, the servers' peak resident memory, and how many stored replies differ from
what their client received (every reply is checked against the database).

    .venv/bin/python bench/stream.py                                 # N = 1, 50, 200, 1000; SQLite; one uvicorn
    .venv/bin/python bench/stream.py --database postgres --n 200     # PostgreSQL + Redis (a throw-away database)
    .venv/bin/python bench/stream.py --database postgres --processes 2 --n 400
    .venv/bin/python bench/stream.py --database postgres --processes 2 --n 400 --users 50   # streams of 50 users
    .venv/bin/python bench/stream.py --server daphne --n 1 50
    .venv/bin/python bench/stream.py --history 40 --n 50 200           # each chat already holds 40 messages
    .venv/bin/python bench/stream.py --n 1 --rounds 30                 # the 1-stream figures over 30 streams, one after another

Everything runs on 127.0.0.1: the fake LLM and the servers are subprocesses started here,
on a throw-away data directory (and database). The bench client and the fake LLM stand in
for remote users and a remote provider but share the machine's cores with the servers:
both run on uvloop (``--loop``), which costs them 10-25 % less CPU than asyncio's own loop.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class StreamResult:
    started: float = 0.0
    ttft: float = 0.0
    gaps: list[float] = field(default_factory=list)
    tokens: int = 0
    duration: float = 0.0
    error: str = ""
    text: str = ""
    message_id: str = ""
    done_events: int = 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class SSEReader:
    """Split a byte stream into SSE frames and hand each (event, data) to ``on_frame``."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        self.buffer += chunk
        *frames, self.buffer = self.buffer.split(b"\n\n")
        parsed = []
        for frame in frames:
            event, data = "", b""
            for line in frame.split(b"\n"):
                if line.startswith(b"event: "):
                    event = line[7:].decode()
                elif line.startswith(b"data: "):
                    data = line[6:]
            if data:
                parsed.append((event, data))
        return parsed


async def read_luxx(response: aiohttp.ClientResponse, result: StreamResult) -> None:
    reader = SSEReader()
    last = None
    parts: list[str] = []
    async for chunk in response.content.iter_any():
        now = time.perf_counter()
        got = 0
        for event, data in reader.feed(chunk):
            payload = orjson.loads(data)
            if event == "process_step":
                step = payload["step"]
                if step["type"] == "text":
                    parts.append(step.get("content", ""))
                    got += len(step.get("content", "").split())
            elif event == "done":
                result.done_events += 1
                result.message_id = payload["message_id"]
            elif event == "error":
                result.error = "error event: " + str(payload.get("content", ""))[:60]
        if got:
            if last is None:
                result.ttft = now - result.started
            else:
                result.gaps.append(now - last)
            last = now
            result.tokens += got
    result.duration = time.perf_counter() - result.started
    result.text = "".join(parts)
    if not result.error and result.done_events != 1:
        result.error = f"{result.done_events} done events"


async def read_direct(response: aiohttp.ClientResponse, result: StreamResult) -> None:
    buffer = b""
    last = None
    async for chunk in response.content.iter_any():
        now = time.perf_counter()
        buffer += chunk
        *frames, buffer = buffer.split(b"\n\n")
        got = 0
        for frame in frames:
            if not frame.startswith(b"data: ") or frame.startswith(b"data: [DONE]"):
                continue
            for choice in orjson.loads(frame[6:]).get("choices") or []:
                got += len(((choice.get("delta") or {}).get("content") or "").split())
        if got:
            if last is None:
                result.ttft = now - result.started
            else:
                result.gaps.append(now - last)
            last = now
            result.tokens += got
    result.duration = time.perf_counter() - result.started


def error_kind(error: BaseException) -> str:
    return type(error).__name__


async def run_luxx(bases: list[str], conversations: list[tuple[str, str]], marker: str) -> list[StreamResult]:
    """Stream one turn in each of ``conversations`` ((id, its owner's access token)) at once."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=900)) as session:

        async def one(index: int, conversation_id: str, token: str) -> StreamResult:
            result = StreamResult(started=time.perf_counter())
            base = bases[index % len(bases)]
            try:
                async with session.post(
                    f"{base}/api/messages/stream",
                    json={"conversation_id": conversation_id, "content": f"go {marker}"},
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    if response.status != 200:
                        body = (await response.read())[:80].decode(errors="replace")
                        result.error = f"HTTP {response.status}: {body}"
                        return result
                    await read_luxx(response, result)
            except Exception as error:
                result.error = error_kind(error)
            return result

        return await asyncio.gather(*(one(i, c, token) for i, (c, token) in enumerate(conversations)))


async def run_direct(llm_base: str, n: int, marker: str) -> list[StreamResult]:
    connector = aiohttp.TCPConnector(limit=0)
    body = {"model": "fake", "stream": True, "messages": [{"role": "user", "content": f"go {marker}"}]}
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=900)) as session:

        async def one() -> StreamResult:
            result = StreamResult(started=time.perf_counter())
            try:
                async with session.post(f"{llm_base}/v1/chat/completions", json=body) as response:
                    await read_direct(response, result)
            except Exception as error:
                result.error = error_kind(error)
            return result

        return await asyncio.gather(*(one() for _ in range(n)))


class PeakMemory:
    """The peak resident memory of each server process (with its children), sampled."""

    def __init__(self, pids: list[int]) -> None:
        self.processes = [psutil.Process(pid) for pid in pids]
        self.peaks = [0] * len(pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for i, process in enumerate(self.processes):
                try:
                    rss = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
                    self.peaks[i] = max(self.peaks[i], rss)
                except psutil.Error:
                    pass
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class PeakConnections:
    """The most PostgreSQL connections open to the bench's database at once (the bench's
    own excepted), sampled every 0.1 s; 0 on SQLite."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name, self.peak = url, name, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
            while not self._stop.is_set():
                row = connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'", [self.name]
                ).fetchone()
                self.peak = max(self.peak, int(row[0]) - 1 if row else 0)  # less the bench's own connection
                time.sleep(0.1)

    def __enter__(self) -> PeakConnections:
        if self.name:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.name:
            self._thread.join()


def summarize(results: list[StreamResult]) -> dict[str, Any]:
    ok = [r for r in results if not r.error and r.tokens]
    streamed = [r for r in ok if r.tokens > 1 and r.duration > r.ttft]
    gaps = [g for r in ok for g in r.gaps]
    errors = collections.Counter(r.error or "no tokens" for r in results if r.error or not r.tokens)
    span = (max(r.started + r.duration for r in ok) - min(r.started for r in ok)) if ok else 0.0
    return {
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "ttft_p50_ms": percentile([r.ttft for r in ok], 50) * 1000,
        "ttft_p99_ms": percentile([r.ttft for r in ok], 99) * 1000,
        "gap_p99_ms": percentile(gaps, 99) * 1000,
        "tokens_per_s": statistics.mean(r.tokens / r.duration for r in ok) if ok else 0.0,
        # The same from the first token on: how the relay keeps pace once a reply streams,
        # apart from the wait before it (which the rate above includes, as a user sees it).
        "streaming_per_s": statistics.mean((r.tokens - 1) / (r.duration - r.ttft) for r in streamed) if streamed else 0.0,
        "aggregate_per_s": sum(r.tokens for r in ok) / span if span else 0.0,
    }


def stored_differences(results: list[StreamResult]) -> tuple[int, int]:
    """(checked, differing): every reply that ended with done, read back from the database."""
    from chat.models import Message

    received = {r.message_id: r.text for r in results if r.message_id}
    stored = dict(Message.objects.filter(pk__in=list(received)).values_list("id", "content"))
    differing = sum(1 for message_id, text in received.items() if stored.get(message_id) != text)
    return len(received), differing


def postgres_database(url: str) -> tuple[str, str]:
    """A throw-away database next to the one ``url`` names: (its URL, its name)."""
    import psycopg

    base = url.rsplit("/", 1)[0]
    name = f"luxx_bench_{os.getpid()}"
    with psycopg.connect(base + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}", name


def drop_postgres_database(url: str, name: str) -> None:
    import psycopg

    base = url.rsplit("/", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_command(server: str, port: int) -> list[str]:
    if server == "daphne":
        return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "luxx.asgi:application"]
    if server == "uvicorn":
        return [
            PYTHON,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "off",
            "luxx.asgi:application",
        ]
    raise SystemExit(f"unknown server {server}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 50, 200, 1000], help="concurrent streams (in all)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--processes", type=int, default=1, help="server processes; streams are spread over them")
    parser.add_argument(
        "--server",
        choices=["daphne", "uvicorn"],
        default="uvicorn",
        help="uvicorn (the production server, with uvloop and httptools) or daphne",
    )
    parser.add_argument(
        "--users", type=int, default=1, help="the streams' owners, taken in turn (each user's turns share their usage counters' row)"
    )
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="the event loop of the bench client and the fake LLM, which stand in for remote users and a remote provider "
        "but share this machine's cores with the servers (uvloop: 10-25 %% less of their CPU)",
    )
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0, help="tokens per second per stream")
    parser.add_argument("--history", type=int, default=0, metavar="K", help="messages each conversation holds before the timed turn")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="R",
        help="run each N this many times, one round after another, and pool the streams (a 1-stream figure from one stream is noise)",
    )
    parser.add_argument("--profile", metavar="DIR", help="record each server with py-spy during the Luxx runs (collapsed stacks in DIR)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from fakellm.server import event_loop_factory

    new_loop = event_loop_factory(args.loop)

    def run(coroutine: Any) -> Any:
        """``coroutine`` run to its end on a new event loop of the kind ``--loop`` chose."""
        with asyncio.Runner(loop_factory=new_loop) as runner:
            return runner.run(coroutine)

    marker = f'[[fake {{"tokens": {args.tokens}, "tokens_per_second": {args.rate}}}]]'

    data_dir = tempfile.mkdtemp(prefix="luxx-bench-")
    Path(data_dir).chmod(0o711)  # the sandbox uid must reach the workspaces below
    env = {
        **os.environ,
        "LUXX_DATA_DIR": data_dir,
        "DJANGO_SETTINGS_MODULE": "luxx.settings",
        "LUXX_AUTH_THROTTLE_RATE": "1000000/min",
        "LUXX_PROVIDER_PRIVATE_URLS": "all",
        "LUXX_CHANNEL_PREFIX": f"luxx-bench-{os.getpid()}",
    }
    env.pop("SECRET_KEY", None)
    pg_name = ""
    if args.database == "postgres":
        env["DATABASE_URL"], pg_name = postgres_database(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres")
        env["REDIS_URL"] = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    else:
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)

    llm_port = free_port()
    llm = subprocess.Popen(
        [PYTHON, "manage.py", "fakellm", "--port", str(llm_port), "--loop", args.loop], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    ports = [free_port() for _ in range(args.processes)]
    servers = [
        subprocess.Popen(server_command(args.server, port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in ports
    ]
    llm_base, bases = f"http://127.0.0.1:{llm_port}", [f"http://127.0.0.1:{port}" for port in ports]
    try:
        wait_http(f"{llm_base}/v1/models")
        for base in bases:
            wait_http(f"{base}/api/health")
        for name in ("LUXX_DATA_DIR", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "LUXX_CHANNEL_PREFIX"):
            if name in env:
                os.environ[name] = env[name]
            else:
                os.environ.pop(name, None)
        os.environ.pop("SECRET_KEY", None)
        import django

        django.setup()
        from agents.models import Provider
        from chat.models import Conversation
        from tests.support.factories import access_token_for, make_user

        owners = []
        for i in range(args.users):
            user = make_user(username=f"bench{i}", level=3)
            provider = Provider.objects.create(
                user=user, name="fake", provider_type="openai", base_url=f"{llm_base}/v1", default_model="fake", is_default=True
            )
            owners.append((user, provider, access_token_for(user)))

        def conversations(n: int) -> list[tuple[str, str]]:
            """n new conversations, their owners taken in turn."""
            owned = [owners[i % len(owners)] for i in range(n)]
            created = Conversation.objects.bulk_create(
                [Conversation(user=user, provider=provider, model="fake") for user, provider, _ in owned]
            )
            if args.history:
                with_history(created, args.history)
            return [(c.pk, token) for c, (_, _, token) in zip(created, owned, strict=True)]

        run(run_luxx(bases, conversations(3 * len(bases)), marker))
        print(
            f"server: {args.server} x {args.processes}; database: {args.database}"
            f"{' + Redis' if args.database == 'postgres' else ''}; fake LLM: {args.tokens} tokens at {args.rate:g} tokens/s per stream"
            f"; history: {args.history} messages per conversation; {args.users} user(s)"
            + (f"; each N run {args.rounds} times, the streams pooled" if args.rounds > 1 else "")
        )
        print(
            f"{'N':>5} {'path':>6} {'err':>4} {'ttft p50':>10} {'ttft p99':>10} {'gap p99':>9} {'tok/s':>7} {'ratio':>6} "
            f"{'agg tok/s':>10} {'peak MB':>8} {'stored≠':>8}"
        )
        for n in args.n:
            direct = summarize([r for _ in range(args.rounds) for r in run(run_direct(llm_base, n, marker))])
            ids = conversations(n * args.rounds)
            profilers = (
                [profile(args.profile, server.pid, f"{args.database}-{n}-{i}") for i, server in enumerate(servers)] if args.profile else []
            )
            cpu_before, threads_before = server_cpu_seconds(servers), server_thread_cpu(servers)
            with (
                PeakMemory([s.pid for s in servers]) as memory,
                PeakConnections(env.get("DATABASE_URL", ""), pg_name) as pool,
                MachineLoad(llm) as machine,
            ):
                raw = [r for i in range(args.rounds) for r in run(run_luxx(bases, ids[i * n : (i + 1) * n], marker))]
            cpu_per_stream_ms = (server_cpu_seconds(servers) - cpu_before) / len(ids) * 1000
            loop_ms, threads_ms = (
                (after - before) / len(ids) * 1000 for after, before in zip(server_thread_cpu(servers), threads_before, strict=True)
            )
            ended_ms = cpu_per_stream_ms - loop_ms - threads_ms
            for profiler in profilers:
                profiler.send_signal(2)
                profiler.wait(timeout=60)
            luxx = summarize(raw)
            checked, differing = stored_differences(raw)
            ratio = luxx["tokens_per_s"] / direct["tokens_per_s"] if direct["tokens_per_s"] else 0.0
            streaming_ratio = luxx["streaming_per_s"] / direct["streaming_per_s"] if direct["streaming_per_s"] else 0.0
            peak = max(memory.peaks) / 1e6
            for name, row, extra in (
                ("direct", direct, f"{'':>6} {row_rate(direct):>10} {'':>8} {'':>8}"),
                ("luxx", luxx, f"{ratio:6.2f} {row_rate(luxx):>10} {peak:8.0f} {differing:>4}/{checked:<3}"),
            ):
                print(
                    f"{n:>5} {name:>6} {row['errors']:>4} {row['ttft_p50_ms']:>8.1f}ms {row['ttft_p99_ms']:>8.1f}ms "
                    f"{row['gap_p99_ms']:>7.1f}ms {row['tokens_per_s']:>7.1f} {extra}"
                )
            print(
                f"{'':>5} added ttft p50: {luxx['ttft_p50_ms'] - direct['ttft_p50_ms']:+.1f} ms; "
                f"rate after the first token vs direct: {streaming_ratio:.2f}; server CPU per stream: {cpu_per_stream_ms:.1f} ms"
                f" (event loop {loop_ms:.1f}, other threads {threads_ms:.1f}, ended threads and children {ended_ms:.1f})"
                + (f"; peak PostgreSQL connections: {pool.peak} ({args.processes} server process(es))" if pg_name else ""),
                flush=True,
            )
            servers_cores = cpu_per_stream_ms * len(ids) / 1000 / machine.wall
            print(
                f"{'':>5} cores busy during the Luxx run: {machine.busy:.2f} of {psutil.cpu_count()} (server processes "
                f"{servers_cores:.2f}, bench client {machine.client:.2f}, fake LLM {machine.llm_cores:.2f}, "
                f"the rest {machine.busy - servers_cores - machine.client - machine.llm_cores:.2f}); "
                f"at most {max(machine.samples, default=0.0):.2f} in 0.2 s; every core busy for {machine.saturated_share():.0%} of the run",
                flush=True,
            )
            for source, row in (("direct", direct), ("luxx", luxx)):
                for kind, count in row["error_kinds"].items():
                    print(f"{'':>5} {source} error x{count}: {kind}")
    finally:
        for process in (*servers, llm):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if pg_name:
            from django.db import connections

            connections.close_all()
            drop_postgres_database(env["DATABASE_URL"], pg_name)


HISTORY_TEXT = " ".join(["A sentence of an earlier message, long enough to be like one people write."] * 8)


def with_history(conversations: list[Any], k: int) -> None:
    """Give each conversation a branch of ``k`` finished messages, user and assistant in
    turn (about 100 words each), and make its end the current leaf."""
    from django.db import transaction

    from chat.models import Conversation, Message

    with transaction.atomic():
        leaves = []
        for conversation in conversations:
            parent = None
            chain = []
            for i in range(k):
                parent = Message(
                    user_id=conversation.user_id,
                    conversation=conversation,
                    parent=parent,
                    role="user" if i % 2 == 0 else "assistant",
                    content=HISTORY_TEXT,
                    status="complete",
                )
                chain.append(parent)
            Message.objects.bulk_create(chain)
            conversation.current_leaf = parent
            leaves.append(conversation)
        Conversation.objects.bulk_update(leaves, ["current_leaf"])


def server_cpu_seconds(servers: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU time the server processes (and their children) have used."""
    total = 0.0
    for server in servers:
        process = psutil.Process(server.pid)
        for each in (process, *process.children(recursive=True)):
            times = each.cpu_times()
            total += times.user + times.system
    return total


class MachineLoad:
    """Cores busy on the machine while the Luxx streams run, sampled every 0.2 s: on
    average, by whom (the servers are measured apart), and the share of the run during
    which every core was busy, when the servers could not get more CPU than they had."""

    INTERVAL = 0.2

    def __init__(self, llm: subprocess.Popen[bytes]) -> None:
        self.llm = psutil.Process(llm.pid)
        self.own = psutil.Process()
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    def _cpu(self, process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    def _sample(self) -> None:
        previous = self._busy()
        while not self._stop.wait(self.INTERVAL):
            busy = self._busy()
            self.samples.append((busy - previous) / self.INTERVAL)
            previous = busy

    def __enter__(self) -> MachineLoad:
        self.started, self.busy_before = time.perf_counter(), self._busy()
        self.client_before, self.llm_before = self._cpu(self.own), self._cpu(self.llm)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.wall = time.perf_counter() - self.started
        self.busy = (self._busy() - self.busy_before) / self.wall
        self.client = (self._cpu(self.own) - self.client_before) / self.wall
        self.llm_cores = (self._cpu(self.llm) - self.llm_before) / self.wall

    def saturated_share(self) -> float:
        cores = psutil.cpu_count() or 1
        return sum(1 for busy in self.samples if busy >= 0.95 * cores) / len(self.samples) if self.samples else 0.0


def server_thread_cpu(servers: list[subprocess.Popen[bytes]]) -> tuple[float, float]:
    """CPU seconds of the servers' event-loop threads (the main thread) and of their other
    threads alive now. What the servers used beyond both over a run was used by threads
    that ended during it (a thread started per request shows there) or by child processes."""
    loop = others = 0.0
    for server in servers:
        for thread in psutil.Process(server.pid).threads():
            spent = thread.user_time + thread.system_time
            if thread.id == server.pid:
                loop += spent
            else:
                others += spent
    return loop, others


def profile(directory: str, pid: int, name: str) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` (the thread holding the GIL: where Python spends CPU) until interrupted."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    command = [str(BIN / "py-spy"), "record", "--pid", str(pid), "--format", "raw", "--gil", "--threads", "--nonblocking", "--rate", "250"]
    process = subprocess.Popen(
        [*command, "--output", str(Path(directory) / f"{name}.txt")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(1.0)  # let it attach
    return process


def row_rate(row: dict[str, Any]) -> str:
    return f"{row['aggregate_per_s']:.0f}"


if __name__ == "__main__":
    main()
