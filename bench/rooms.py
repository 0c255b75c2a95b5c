"""Many chat rooms at once on one server process and 1 (or more) worker processes, with an
observer on each. The rooms run on the workers (``manage.py db_worker``, default
concurrency); their events reach the server through the database (SQLite, no Redis: the
default set-up), or through Redis with --redis-url.

20 rooms of 3 agents x 3 rounds run at the same time against the fake LLM (every turn
scripted at TOKENS tokens and RATE tokens/s). Prints the total wall time against the sum
of the scripted time; the delay from a chunk leaving the fake LLM to reaching the client
that started the room (POST /start) and an observer (GET /events), p50/p99; and how much
later the observer sees each chunk than the starter.

The fake LLM runs in a child process whose chunks carry the moment they are written
(time.perf_counter, CLOCK_MONOTONIC: one clock for every process of the machine), so
each delay is measured on the chunk itself.

    .venv/bin/python bench/rooms.py [--rooms 20] [--workers 1] [--server daphne|uvicorn] [--redis-url redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream import free_port, percentile, wait_http

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TOKENS, RATE, AGENTS, ROUNDS = 40, 40.0, 3, 3
STAMP = "ts"


def serve_stamping_fake_llm(port: int) -> None:
    """The fake LLM, with every scripted ``ts`` token replaced by its send time."""
    sys.path.insert(0, str(ROOT))
    import fakellm.openai_protocol as protocol
    from fakellm import FakeLLM

    plain = protocol._chunk

    def stamped(base: dict, delta: dict, finish_reason: str | None = None) -> bytes:
        content = delta.get("content")
        if content and content.strip() == STAMP:
            delta = {**delta, "content": content.replace(STAMP, f"{time.perf_counter():.6f}")}
        return plain(base, delta, finish_reason)

    protocol._chunk = stamped
    FakeLLM(port=port).serve_forever()


async def read_events(response: aiohttp.ClientResponse, seen: dict[str, float], done_on: set[str], from_llm: list[float]) -> None:
    buffer = b""
    async for chunk in response.content.iter_any():
        now = time.perf_counter()
        buffer += chunk
        *frames, buffer = buffer.split(b"\n\n")
        for frame in frames:
            lines = frame.decode().split("\n")
            kind = next((line[7:] for line in lines if line.startswith("event: ")), "")
            data = next((line[6:] for line in lines if line.startswith("data: ")), "")
            if kind == "message_chunk":
                chunk_event = json.loads(data)
                seen.setdefault(f"{chunk_event['id']}:{len(chunk_event['accumulated'])}", now)
                from_llm.append(now - float(chunk_event["content"]))
            if kind in done_on:
                return


async def run(base: str, token: str, room_ids: list[str]) -> tuple[float, list[float], list[float], list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    delays: list[float] = []
    to_starter: list[float] = []
    to_observer: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=900)) as session:

        async def one(room_id: str) -> None:
            starter: dict[str, float] = {}
            observer: dict[str, float] = {}
            async with session.get(f"{base}/api/chat-rooms/{room_id}/events", headers=headers) as watch:
                watcher = asyncio.create_task(read_events(watch, observer, {"room_completed", "room_paused", "error"}, to_observer))
                await asyncio.sleep(0.2)
                async with session.post(f"{base}/api/chat-rooms/{room_id}/start", headers=headers) as response:
                    await read_events(response, starter, {"room_completed", "room_paused", "error"}, to_starter)
                await asyncio.wait_for(watcher, 30)
            delays.extend(observer[key] - starter[key] for key in starter if key in observer)

        started = time.perf_counter()
        await asyncio.gather(*(one(room_id) for room_id in room_ids))
        return time.perf_counter() - started, delays, to_starter, to_observer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--serve-fake-llm", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake_llm:
        serve_stamping_fake_llm(args.serve_fake_llm)
        return

    data_dir = tempfile.mkdtemp(prefix="luxx-bench-rooms-")
    os.chmod(data_dir, 0o711)
    # The bench user is no admin, and its provider is the fake LLM on this machine.
    env = {**os.environ, "LUXX_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "luxx.settings", "LUXX_PROVIDER_PRIVATE_URLS": "all"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    llm_port, app_port = free_port(), free_port()
    llm = subprocess.Popen([PYTHON, __file__, "--serve-fake-llm", str(llm_port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    if args.server == "daphne":
        command = [str(Path(PYTHON).parent / "daphne"), "-b", "127.0.0.1", "-p", str(app_port), "luxx.asgi:application"]
    else:
        command = [PYTHON, "-m", "uvicorn", "--port", str(app_port), "--log-level", "warning", "luxx.asgi:application"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = [
        subprocess.Popen(
            [PYTHON, "manage.py", "db_worker", "--no-startup-delay", "-v", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(args.workers)
    ]
    llm_base, base = f"http://127.0.0.1:{llm_port}", f"http://127.0.0.1:{app_port}"
    try:
        wait_http(f"{llm_base}/v1/models")
        wait_http(f"{base}/api/health", timeout=120)
        os.environ.update({"LUXX_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "luxx.settings"})
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        import httpx

        from agents.models import Provider
        from rooms.models import ChatRoom
        from tests.support.factories import access_token_for, make_user

        user = make_user(username="bench", level=3)
        Provider.objects.create(
            user=user, name="fake", provider_type="openai", base_url=f"{llm_base}/v1", default_model="fake", is_default=True
        )
        room_ids = []
        for number in range(args.rooms):
            room = ChatRoom.objects.create(user=user, title=f"room {number}", task=f"Task {number}", max_rounds=ROUNDS)
            for seat in range(AGENTS):
                room.agents.create(name=f"Agent{seat}", model="fake", turn_order=seat)
            room_ids.append(room.pk)
        turns = args.rooms * AGENTS * ROUNDS
        text = " ".join([STAMP] * TOKENS)
        httpx.post(f"{llm_base}/_fake/script", json={"scenarios": [{"text": text, "tokens_per_second": RATE}] * turns})
        wall, delays, to_starter, to_observer = asyncio.run(run(base, access_token_for(user), room_ids))
        scripted_per_room = AGENTS * ROUNDS * TOKENS / RATE
        layer = "Redis" if args.redis_url else "the database"
        print(
            f"{args.rooms} rooms x {AGENTS} agents x {ROUNDS} rounds, {TOKENS} tokens at {RATE:g}/s per turn, one {args.server} process, "
            f"{args.workers} worker process(es) x {os.environ.get('LUXX_WORKER_CONCURRENCY', '8')} threads, events through {layer}"
        )
        print(f"wall time {wall:.1f} s; scripted time {scripted_per_room:.1f} s per room, {scripted_per_room * args.rooms:.0f} s summed")
        for label, values in (("fake LLM -> starter", to_starter), ("fake LLM -> observer", to_observer), ("observer - starter", delays)):
            print(
                f"{label:>21}: {len(values)} chunks, p50 {percentile(values, 50) * 1000:.1f} ms, "
                f"p99 {percentile(values, 99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"
            )
    finally:
        for process in (server, llm, *workers):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
