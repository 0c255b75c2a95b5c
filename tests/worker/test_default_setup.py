"""The default set-up, as ``make run`` starts it: the Procfile's processes (web and worker)
under honcho, on SQLite, no other service. Uploads are indexed and rooms run on the
worker, observed through the web process: the same code path as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakellm import Scenario
from tests.support.processes import ROOT, free_port
from tests.support.sse import parse_sse

pytestmark = pytest.mark.sqlite_only
BIN = Path(sys.executable).parent


@pytest.fixture
def default_setup() -> Iterator[str]:
    data_dir = tempfile.mkdtemp(prefix="luxx-default-")
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env.update(
        LUXX_DATA_DIR=data_dir,
        DJANGO_SETTINGS_MODULE="luxx.settings",
        LUXX_PROVIDER_PRIVATE_URLS="all",
        PATH=f"{BIN}:{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    log = open(Path(data_dir) / "honcho.log", "wb")  # noqa: SIM115
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "start", "-f", "Procfile", "-p", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if honcho.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"make run's processes did not start; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        honcho.send_signal(signal.SIGTERM)  # honcho stops web and worker
        try:
            honcho.wait(timeout=20)
        except subprocess.TimeoutExpired:
            honcho.kill()
        log.close()


def test_the_default_set_up_indexes_uploads_and_runs_rooms_on_its_worker(default_setup: str, fake_llm: Any) -> None:
    url = default_setup
    client = httpx.Client(base_url=url, timeout=30)
    # Given the first user, with the fake LLM as provider
    client.post("/api/auth/register", json={"username": "ada", "email": "ada@example.com", "password": "correct-horse-42"})
    login = client.post("/api/auth/login", json={"username": "ada", "password": "correct-horse-42"})
    client.headers["Authorization"] = f"Bearer {login.json()['data']['access_token']}"
    provider = {
        "name": "fake",
        "provider_type": "openai",
        "base_url": fake_llm.base_url + "/v1",
        "api_key": "k",
        "default_model": "fake-model",
    }
    assert client.post("/api/providers/", json=provider).status_code == 201

    # When a document is uploaded
    upload = client.post("/api/knowledge/documents/", files={"file": ("tides.md", b"# Tides\n\nThe tide turns twice a day.")})
    document_id = upload.json()["data"]["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/api/knowledge/documents/{document_id}").json()["data"]["status"] == "processing" and time.monotonic() < deadline:
        time.sleep(0.2)

    # Then the worker indexed it
    assert upload.status_code == 202
    assert client.get(f"/api/knowledge/documents/{document_id}").json()["data"]["status"] == "ready"
    hits = client.post("/api/knowledge/search", json={"query": "tide"}).json()["data"]["results"]
    assert [hit["document_name"] for hit in hits] == ["tides.md"]

    # When a room is started, with an observer
    fake_llm.script(Scenario(text="Ada speaks."), Scenario(text="Bo answers."))
    agents = [{"name": "Ada", "model": "fake-model"}, {"name": "Bo", "model": "fake-model"}]
    room_id = client.post("/api/chat-rooms/", json={"title": "t", "task": "Plan it", "max_rounds": 1, "agents": agents}).json()["data"][
        "id"
    ]
    observed: list[str] = []

    def observe() -> None:
        with client.stream("GET", f"/api/chat-rooms/{room_id}/events", timeout=60) as response:
            for text in response.iter_text():
                observed.append(text)
                if "event: room_completed" in "".join(observed):
                    return

    observer = threading.Thread(target=observe)
    observer.start()
    time.sleep(0.5)
    with client.stream("POST", f"/api/chat-rooms/{room_id}/start", timeout=60) as response:
        started = parse_sse(response.read().decode())
    observer.join(timeout=30)

    # Then the worker ran it, and the starter and the observer saw the same events
    assert [e.data["content"] for e in started if e.event == "message"] == ["Ada speaks.", "Bo answers."]
    assert started[-1].event == "room_completed"
    assert [(e.event, e.data) for e in parse_sse("".join(observed)) if e.event] == [(e.event, e.data) for e in started]
    assert client.get(f"/api/chat-rooms/{room_id}").json()["data"]["status"] == "completed"
