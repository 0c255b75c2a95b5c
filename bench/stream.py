"""Streaming throughput of one Luxx server process against the fake LLM.

Drives N concurrent streaming chats through a running Luxx server (POST
/api/messages/stream) and, in the same run, the same N streams straight against the
fake LLM, then prints time-to-first-token p50/p99, inter-token gap p99, the delivered
token rate relative to the direct one, and the server's peak resident memory.

    .venv/bin/python bench/stream.py                  # N = 1, 50, 200, 1000 on daphne
    .venv/bin/python bench/stream.py --n 1 50 --server uvicorn

Everything runs on 127.0.0.1: the fake LLM and the server are subprocesses started here,
on a throw-away data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TOKENS = 200
RATE = 100.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    import urllib.request

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
    ttft: float = 0.0
    gaps: list[float] = field(default_factory=list)
    tokens: int = 0
    duration: float = 0.0
    error: str = ""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def read_stream(response: aiohttp.ClientResponse, started: float, count_tokens: callable) -> StreamResult:  # type: ignore[valid-type]
    result = StreamResult()
    last = None
    buffer = b""
    async for chunk in response.content.iter_any():
        now = time.perf_counter()
        buffer += chunk
        *frames, buffer = buffer.split(b"\n\n")
        got = 0
        for frame in frames:
            got += count_tokens(frame)
        if got:
            if last is None:
                result.ttft = now - started
            else:
                result.gaps.append(now - last)
            last = now
            result.tokens += got
    result.duration = time.perf_counter() - started
    return result


def luxx_tokens(frame: bytes) -> int:
    if b"event: process_step" not in frame:
        return 0
    data = json.loads(frame.split(b"data: ", 1)[1])
    step = data["step"]
    return len(step.get("content", "").split()) if step["type"] == "text" else 0


def openai_tokens(frame: bytes) -> int:
    if not frame.startswith(b"data: ") or frame.startswith(b"data: [DONE]"):
        return 0
    data = json.loads(frame[6:])
    total = 0
    for choice in data.get("choices") or []:
        total += len(((choice.get("delta") or {}).get("content") or "").split())
    return total


MARKER = f'[[fake {{"tokens": {TOKENS}, "tokens_per_second": {RATE}}}]]'


async def run_luxx(base: str, token: str, conversations: list[str]) -> list[StreamResult]:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def one(conversation_id: str) -> StreamResult:
            started = time.perf_counter()
            try:
                async with session.post(
                    f"{base}/api/messages/stream", json={"conversation_id": conversation_id, "content": f"go {MARKER}"}, headers=headers
                ) as response:
                    if response.status != 200:
                        return StreamResult(error=f"HTTP {response.status}")
                    return await read_stream(response, started, luxx_tokens)
            except Exception as error:
                return StreamResult(error=type(error).__name__)

        return await asyncio.gather(*(one(c) for c in conversations))


async def run_direct(llm_base: str, n: int) -> list[StreamResult]:
    connector = aiohttp.TCPConnector(limit=0)
    body = {"model": "fake", "stream": True, "messages": [{"role": "user", "content": f"go {MARKER}"}]}
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def one() -> StreamResult:
            started = time.perf_counter()
            try:
                async with session.post(f"{llm_base}/v1/chat/completions", json=body) as response:
                    return await read_stream(response, started, openai_tokens)
            except Exception as error:
                return StreamResult(error=type(error).__name__)

        return await asyncio.gather(*(one() for _ in range(n)))


class PeakMemory:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.process.memory_info().rss + sum(c.memory_info().rss for c in self.process.children(recursive=True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def summarize(results: list[StreamResult]) -> dict[str, float]:
    ok = [r for r in results if not r.error and r.tokens]
    gaps = [g for r in ok for g in r.gaps]
    return {
        "errors": len(results) - len(ok),
        "ttft_p50_ms": percentile([r.ttft for r in ok], 50) * 1000,
        "ttft_p99_ms": percentile([r.ttft for r in ok], 99) * 1000,
        "gap_p99_ms": percentile(gaps, 99) * 1000,
        "tokens_per_s": statistics.mean(r.tokens / r.duration for r in ok) if ok else 0.0,
        "tokens": statistics.mean(r.tokens for r in ok) if ok else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 50, 200, 1000])
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="luxx-bench-")
    env = {**os.environ, "LUXX_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "luxx.settings", "LUXX_AUTH_THROTTLE_RATE": "100000/min"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)

    llm_port, app_port = free_port(), free_port()
    llm = subprocess.Popen([PYTHON, "manage.py", "fakellm", "--port", str(llm_port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    if args.server == "daphne":
        server_cmd = [str(Path(PYTHON).parent / "daphne"), "-b", "127.0.0.1", "-p", str(app_port), "luxx.asgi:application"]
    else:
        server_cmd = [
            PYTHON,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(app_port),
            "--log-level",
            "warning",
            "luxx.asgi:application",
        ]
    server = subprocess.Popen(server_cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    llm_base, base = f"http://127.0.0.1:{llm_port}", f"http://127.0.0.1:{app_port}"
    try:
        wait_http(f"{llm_base}/v1/models")
        wait_http(f"{base}/api/health")
        os.environ.update({"LUXX_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "luxx.settings"})
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from agents.models import Provider
        from chat.models import Conversation
        from tests.support.factories import access_token_for, make_user

        user = make_user(username="bench", level=3)
        provider = Provider.objects.create(
            user=user, name="fake", provider_type="openai", base_url=f"{llm_base}/v1", default_model="fake", is_default=True
        )
        token = access_token_for(user)

        warm_up = [Conversation.objects.create(user=user, provider=provider, model="fake").pk for _ in range(3)]
        asyncio.run(run_luxx(base, token, warm_up))
        print(f"server: {args.server}, one process; fake LLM: {TOKENS} tokens at {RATE:g} tokens/s per stream")
        header = f"{'N':>5} {'path':>6} {'err':>4} {'ttft p50':>9} {'ttft p99':>9} {'gap p99':>8} {'tok/s':>7} {'ratio':>6} {'peak MB':>8}"
        print(header)
        for n in args.n:
            direct = summarize(asyncio.run(run_direct(llm_base, n)))
            conversations = [Conversation.objects.create(user=user, provider=provider, model="fake").pk for _ in range(n)]
            with PeakMemory(server.pid) as memory:
                luxx = summarize(asyncio.run(run_luxx(base, token, conversations)))
            ratio = luxx["tokens_per_s"] / direct["tokens_per_s"] if direct["tokens_per_s"] else 0.0
            for name, row, extra in (("direct", direct, ""), ("luxx", luxx, f"{ratio:6.2f} {memory.peak / 1e6:8.0f}")):
                print(
                    f"{n:>5} {name:>6} {row['errors']:>4.0f} {row['ttft_p50_ms']:>8.1f}ms {row['ttft_p99_ms']:>8.1f}ms "
                    f"{row['gap_p99_ms']:>6.1f}ms {row['tokens_per_s']:>7.1f} {extra}"
                )
            print(f"{'':>5} added ttft p50: {luxx['ttft_p50_ms'] - direct['ttft_p50_ms']:+.1f} ms", flush=True)
    finally:
        for process in (server, llm):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
