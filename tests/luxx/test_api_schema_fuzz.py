"""The published OpenAPI schema, fuzzed with schemathesis against a real server.

Every operation of /api/schema/ gets schema-valid and schema-invalid requests from a user
who has data (providers on the fake LLM, agents, conversations with messages, a room, a
document), so requests get past 401 and 404. The run fails on any 5xx, on a response
that does not match its documented schema or status codes, on a schema-valid request
refused with 400, and on an invalid one accepted. It is bounded in time (LUXX_FUZZ_SECONDS,
50 by default: the coverage phase, which reaches every operation, takes about 30 s, and the
rest goes to random cases, about 3,000 requests in all) and its seed is fixed
(LUXX_FUZZ_SEED) so that a failure reproduces.

It runs once per suite, in the
PostgreSQL + Redis pass: PostgreSQL refuses more than SQLite does (NUL bytes, over-long
strings, out-of-range integers), so that pass finds what the first would and more.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import PermissionLevel
from luxx.bootstrap import BASE_DIR
from tests.support.factories import DEFAULT_PASSWORD, api_client_for, make_user
from toolbox import sandbox

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.serial, pytest.mark.postgres_only]

# A 1x1 PNG: the fuzz user's chat attachments.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "positive_data_acceptance",
        "negative_data_rejection",
    ]
)

# A room's event streams do not end by themselves (an observer stays until it goes away,
# a run's stream until the run ends); schemathesis reads a stream until its request
# timeout has passed in all, checking only when bytes arrive, so with the 20 s timeout
# and a keep-alive every 15 s each of those calls took 30 s, most of the run's time.
# Three seconds show their first events; a stream cut short is still checked.
# A body past the server's limit is refused with 413 (documented on every operation that
# takes one), which is a rejection as much as a 400 is.
FUZZ_CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

[[operations]]
include-path-regex = "^/api/chat-rooms/[^/]+/(events|start)$"
request-timeout = 3
"""


def _seed(fake_llm: Any) -> dict[str, Any]:
    """A user with a bit of everything, and spares of each for fuzzed updates and deletes."""
    # A large id, which generated ids hardly ever hit (an admin endpoint could demote it).
    user = make_user(username="fuzzer", level=PermissionLevel.ADMIN, id=987_654_321)
    other = make_user(username="bystander")
    client = api_client_for(user)

    def post(path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = client.post(path, body, **({"format": "json"} | kwargs))
        assert response.status_code in (200, 201, 202), (path, response.content)
        return response.json()["data"]

    def provider(name: str) -> int:
        body = {"name": name, "provider_type": "openai", "base_url": fake_llm.base_url + "/v1", "api_key": "k", "default_model": "fake"}
        return post("/api/providers/", body)["id"]

    def agent(name: str, provider_id: int) -> int:
        return post("/api/agents/", {"name": name, "provider_id": provider_id, "model": "fake-model"})["id"]

    def room(title: str, agent_id: int) -> dict[str, Any]:
        return post("/api/chat-rooms/", {"title": title, "task": "Discuss.", "max_rounds": 1, "agents": [{"agent_id": agent_id}]})

    def conversation(title: str) -> str:
        return post("/api/conversations/", {"title": title, "provider_id": provider_ids[0], "model": "fake-model"})["id"]

    def document(name: str, agent_id: int | None = None) -> int:
        body: dict[str, Any] = {"file": SimpleUploadedFile(name, f"Notes on {name}: solar panels and batteries.".encode())}
        if agent_id:
            body["agent_id"] = agent_id
        return post("/api/knowledge/documents/", body, format="multipart")["id"]

    provider_ids = [provider("main"), provider("spare")]
    agent_ids = [agent("helper", provider_ids[0]), agent("spare", provider_ids[0])]
    rooms = [room("main", agent_ids[0]), room("spare", agent_ids[0])]
    conversations = [conversation("main"), conversation("spare")]
    message = post("/api/messages/", {"conversation_id": conversations[0], "content": "Hello"})["assistant_message"]
    spare_message = post("/api/messages/", {"conversation_id": conversations[1], "content": "Hello"})["assistant_message"]
    v1_conversation = post("/api/v1/conversations", {"agent_id": agent_ids[0]})["id"]
    documents = [document("main.txt", agent_ids[0]), document("spare.txt")]

    def attachment(name: str, data: bytes) -> str:
        return post("/api/files/", {"file": SimpleUploadedFile(name, data)}, format="multipart")["id"]

    # A document for the file routes (it has a text), a spare to delete, and an image that
    # joins the main conversation, where fuzzed messages name it.
    files = [attachment("notes.txt", b"Notes on the roof: solar panels."), attachment("spare.png", _PNG)]
    image = attachment("main.png", _PNG)
    post("/api/messages/", {"conversation_id": conversations[0], "content": "Look", "attachments": [image]})
    use = {
        "agent_id": agent_ids[0],
        "provider_id": provider_ids[0],
        "room_id": rooms[0]["id"],
        "conversation_id": conversations[0],
        "/api/v1/conversations/{conversation_id}/messages:conversation_id": v1_conversation,
        "message_id": message["id"],
        "document_id": documents[0],
        "file_id": files[0],
        "user_id": other.pk,
        "/api/chat-rooms/{room_id}/agents/{agent_id}:agent_id": rooms[0]["agents"][0]["id"],
    }
    victim = {
        **use,
        "agent_id": agent_ids[1],
        "provider_id": provider_ids[1],
        "room_id": rooms[1]["id"],
        "conversation_id": conversations[1],
        "message_id": spare_message["id"],
        "document_id": documents[1],
        "file_id": files[1],
        "/api/chat-rooms/{room_id}/agents/{agent_id}:agent_id": rooms[1]["agents"][0]["id"],
    }
    body = {"provider_id": provider_ids[0], "agent_id": agent_ids[0], "conversation_id": conversations[0], "attachment": image}
    return {
        "credentials": {"username": "fuzzer", "password": DEFAULT_PASSWORD},
        "use": use,
        "victim": victim,
        "body": body,
    }


@pytest.fixture
def sandbox_workspaces() -> Iterator[Path]:
    """A workspace root that uid 65534 can reach (pytest's own temp folder is private)."""
    root = Path(tempfile.mkdtemp(prefix="luxx-fuzz-ws-"))
    root.chmod(0o711)
    yield root
    sandbox.reset_availability_cache()
    shutil.rmtree(root, ignore_errors=True)


def test_the_api_answers_as_its_openapi_schema_says(
    live_url: str, fake_llm: Any, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_workspaces: Path
) -> None:
    # Given: a fuzz user with data; every provider address allowed (so no fuzzed URL is
    # looked up in DNS) and no per-account sign-in limit (the fuzzer signs in a lot).
    settings.LUXX_PROVIDER_PRIVATE_URLS = "all"
    settings.LUXX_LOGIN_FAILURE_LIMIT = 1_000_000
    # A sandbox that works (uid 65534 must reach the workspaces; the suite's data directory
    # is private), so the code tools answer as documented rather than 503, and quickly.
    settings.LUXX_WORKSPACE_ROOT = sandbox_workspaces
    settings.LUXX_SANDBOX_TIMEOUT_SECONDS = 3
    sandbox.reset_availability_cache()
    assert sandbox.sandbox_availability() == (True, "")
    # Nothing the fuzzer makes the server fetch (a provider it pointed elsewhere) leaves
    # this machine: the server runs in this process, and its HTTP clients use the proxy.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fuzz = _seed(fake_llm) | {"base_url": live_url}
    env = os.environ | {
        "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
        "LUXX_FUZZ": json.dumps(fuzz),
        "PYTHONPATH": str(BASE_DIR),
    }
    seconds = os.environ.get("LUXX_FUZZ_SECONDS", "50")
    report = tmp_path / "report.ndjson"
    config = tmp_path / "schemathesis.toml"
    config.write_text(FUZZ_CONFIG)

    # When
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{live_url}/api/schema/",
            "--checks",
            CHECKS,
            # Left out: MCP servers, which landed while this run was written (their schema
            # does not yet say which fields each transport needs, and refreshing one reaches
            # out to it), and the web tools, which would reach the internet.
            "--exclude-path-regex",
            "^/api/mcp-servers|^/api/tools/(web_search|web_fetch|batch_fetch)/execute$",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-time",
            seconds,
            "--max-examples",
            os.environ.get("LUXX_FUZZ_EXAMPLES", "30"),
            "--seed",
            os.environ.get("LUXX_FUZZ_SEED", "20261204"),
            # One worker: hypothesis' source introspection is not thread-safe (a rare
            # "AST constructor recursion depth mismatch" with two).
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
            "--suppress-health-check",
            "all",
            "--no-color",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=int(seconds) * 3 + 120,
    )

    # Then
    output = Path(os.environ.get("LUXX_FUZZ_OUTPUT") or tmp_path / "schemathesis.txt")
    output.write_text(run.stdout + run.stderr)
    summary = run.stdout[run.stdout.rfind("=== SUMMARY ===") - 40 :]
    print(summary)
    assert run.returncode == 0, f"{summary}\n(the whole output: {output})"
    selected = re.search(r"Selected: (\d+)/", summary)
    tested = re.search(r"Tested: (\d+)", summary)
    assert selected and tested and tested.group(1) == selected.group(1), (
        f"the time limit ended the run before every operation was tested (raise LUXX_FUZZ_SECONDS):\n{summary}"
    )
