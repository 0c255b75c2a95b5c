"""Every built-in tool, called by the model in a real chat turn through the fake LLM."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fakellm import Scenario, ToolCall
from tests.chat.test_stream import assert_stream_matches_stored, create_conversation, send
from toolbox.models import ToolExecution

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = b"<html><head><title>Local page</title></head><body><main><h1>Hi</h1><p>Readable words.</p></main></body></html>"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/search"):
            body = json.dumps({"results": [{"title": "Luxx", "url": "https://luxx.example/", "content": "An agent platform"}]}).encode()
            kind = "application/json"
        else:
            body, kind = PAGE, "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def results_by_name(steps: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        if step["type"] == "tool_result":
            found.setdefault(step["name"], []).append({"success": step["success"], **json.loads(step["content"])})
    return found


def test_the_model_can_call_every_builtin_tool(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any, local_site: str, settings: Any
) -> None:
    settings.LUXX_FETCH_ALLOW_PRIVATE = True
    settings.LUXX_WEB_SEARCH_BACKEND = local_site
    fake_llm.script(
        Scenario(tool_calls=[ToolCall("file_write", {"path": "notes/a.txt", "content": "hello luxx\nsecond line\n"})]),
        Scenario(
            tool_calls=[
                ToolCall("file_read", {"path": "notes/a.txt"}),
                ToolCall("file_list", {"path": "notes"}),
                ToolCall("file_exists", {"path": "notes/a.txt"}),
                ToolCall("file_grep", {"pattern": "sec.nd"}),
            ]
        ),
        Scenario(
            tool_calls=[
                ToolCall("python_execute", {"code": "print(open('/workspace/notes/a.txt').read().split()[1])"}),
                ToolCall("python_eval", {"expression": "sum(range(10))"}),
                ToolCall("shell_execute", {"command": "wc -l < notes/a.txt"}),
            ]
        ),
        Scenario(
            tool_calls=[
                ToolCall("web_search", {"query": "luxx", "max_results": 1}),
                ToolCall("web_fetch", {"url": f"{local_site}/page"}),
                ToolCall("batch_fetch", {"urls": [f"{local_site}/a", f"{local_site}/b"]}),
                ToolCall("process_data", {"data": '[{"n": 2}, {"n": 1}]', "sort_by": "n"}),
            ]
        ),
        Scenario(text="All done."),
    )
    every_tool = [
        "file_write",
        "file_read",
        "file_list",
        "file_exists",
        "file_grep",
        "python_execute",
        "python_eval",
        "shell_execute",
        "web_search",
        "web_fetch",
        "batch_fetch",
        "process_data",
    ]
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "use every tool", enabled_tools=every_tool)

    message = assert_stream_matches_stored(events)
    results = results_by_name(message.process_steps)
    assert sorted(results) == sorted(every_tool)
    assert all(r[0]["success"] for r in results.values()), {k: v for k, v in results.items() if not v[0]["success"]}
    assert message.process_steps[-1] == {
        "id": message.process_steps[-1]["id"],
        "index": len(message.process_steps) - 1,
        "type": "text",
        "content": "All done.",
    }
    assert results["file_read"][0]["content"] == "hello luxx\nsecond line\n"
    assert results["file_exists"][0]["exists"] is True
    assert [m["text"] for m in results["file_grep"][0]["matches"]] == ["second line"]
    assert results["python_execute"][0]["stdout"] == "luxx\n"
    assert results["python_eval"][0]["result"] == "45"
    assert results["shell_execute"][0]["stdout"] == "2\n"
    assert results["web_search"][0]["results"] == [{"title": "Luxx", "url": "https://luxx.example/", "snippet": "An agent platform"}]
    assert (results["web_fetch"][0]["title"], results["web_fetch"][0]["text"]) == ("Local page", "Hi\nReadable words.")
    assert results["batch_fetch"][0]["succeeded"] == 2
    assert json.loads(results["process_data"][0]["output"]) == [{"n": 1}, {"n": 2}]
    assert set(ToolExecution.objects.filter(conversation_id=conversation_id).values_list("tool_name", flat=True)) == set(every_tool)
