"""stdio MCP servers run inside the bubblewrap sandbox: discovery and calls, secrets in
the environment only, no network unless an administrator allows it, killed on time."""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mcp
import psutil
import pytest

from mcplink.models import McpServer
from tests.mcplink.conftest import ECHO_TOOLS
from tests.support.mcp_test_server import IDENTITY_SCRIPT
from tests.toolbox.conftest import Listener, requires_sandbox

pytestmark = [pytest.mark.django_db(transaction=True), requires_sandbox]

TOKEN = "tok-secret-9876543210"
SERVER_SOURCE = Path(__file__).resolve().parents[1] / "support" / "mcp_test_server.py"


@pytest.fixture
def stdio_program(settings: Any) -> Iterator[dict[str, Any]]:
    """The test server's script in a directory the sandbox uid can read, and the SDK's
    site-packages, both mounted read-only into the sandbox."""
    directory = Path(tempfile.mkdtemp(prefix="luxx-mcp-stdio-"))
    directory.chmod(0o755)
    script = directory / "server.py"
    shutil.copyfile(SERVER_SOURCE, script)
    script.chmod(0o644)
    site_packages = Path(mcp.__file__).resolve().parents[1]
    settings.LUXX_MCP_STDIO_PATHS = [str(site_packages), str(directory)]
    yield {
        "transport": "stdio",
        "command": "/usr/bin/python3",
        "args": [str(script)],
        "env": {"PYTHONPATH": str(site_packages), "API_TOKEN": TOKEN},
        "timeout_seconds": 20,
    }
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def stdio_row(admin: Any, stdio_program: dict[str, Any]) -> Callable[..., McpServer]:
    """A stdio server stored directly with the tools a test calls (discovery through the
    API is tested once; each discovery starts the server in the sandbox)."""

    def make(**extra: Any) -> McpServer:
        server = McpServer(
            user=admin,
            name="local",
            transport="stdio",
            command=stdio_program["command"],
            args=stdio_program["args"],
            timeout_seconds=extra.pop("timeout_seconds", 20),
            tools=[{"name": name, "description": "", "input_schema": schema} for name, schema in TOOL_SCHEMAS.items()],
            **extra,
        )
        server.env = stdio_program["env"]
        server.save()
        return server

    return make


TOOL_SCHEMAS = {
    "sleep": {"type": "object", "properties": {"seconds": {"type": "number"}}, "required": ["seconds"]},
    "connect": {"type": "object", "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}, "required": ["host", "port"]},
    "identity": {"type": "object", "properties": {}},
}


def execute(client: Any, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/tools/{name}/execute", arguments, format="json")
    assert response.status_code == 200, response.content
    return dict(response.json()["data"])


def test_a_stdio_server_is_discovered_and_called_in_the_sandbox_with_its_environment(
    admin_client: Any, add_server: Callable[..., dict[str, Any]], stdio_program: dict[str, Any]
) -> None:
    created = add_server(admin_client, name="local", **stdio_program)

    echo = execute(admin_client, "mcp.local.echo", {"text": "from the sandbox"})
    length = execute(admin_client, "mcp.local.env_length", {"name": "API_TOKEN"})
    revealed = execute(admin_client, "mcp.local.reveal_env", {"name": "API_TOKEN"})
    detail = admin_client.get(f"/api/mcp-servers/{created['server']['id']}").content.decode()

    assert created["status"] == "ok" and created["error"] == ""
    assert [t["mcp_name"] for t in created["tools"]] == ECHO_TOOLS
    assert (echo["result"], echo["success"]) == ("echo: from the sandbox", True)
    assert length["result"] == len(TOKEN)
    assert revealed["result"] == "***"
    assert created["server"]["env_names"] == ["API_TOKEN", "PYTHONPATH"]
    assert TOKEN not in detail and TOKEN not in str(created)
    assert TOKEN not in McpServer.objects.get(name="local").env_encrypted


def test_the_environment_is_never_on_a_command_line(
    admin_client: Any, stdio_row: Callable[..., McpServer], stdio_program: dict[str, Any]
) -> None:
    stdio_row()
    seen: dict[str, Any] = {}

    def call() -> None:
        seen["result"] = execute(admin_client, "mcp.local.sleep", {"seconds": 2})

    runner = threading.Thread(target=call)
    runner.start()
    command_lines: list[str] = []
    deadline = time.monotonic() + 30
    while runner.is_alive() and time.monotonic() < deadline:
        for process in psutil.process_iter(["cmdline"]):
            line = " ".join(process.info["cmdline"] or [])
            if stdio_program["args"][0] in line:
                command_lines.append(line)
        time.sleep(0.05)
    runner.join()

    assert seen["result"]["result"] == "awake"
    assert any("bwrap" in line for line in command_lines)
    assert all(TOKEN not in line for line in command_lines)


def test_the_server_reaches_the_network_only_when_an_admin_allows_it(
    admin_client: Any, stdio_row: Callable[..., McpServer], listener: Listener
) -> None:
    server = stdio_row()

    cut_off = execute(admin_client, "mcp.local.connect", {"host": "127.0.0.1", "port": listener.port})
    connections_without = listener.connections
    McpServer.objects.filter(pk=server.pk).update(network=True)
    allowed = execute(admin_client, "mcp.local.connect", {"host": "127.0.0.1", "port": listener.port})

    assert cut_off["result"].startswith("refused:") and connections_without == 0
    assert allowed["result"] == "connected" and listener.connections == 1


def server_processes(script: str) -> set[int]:
    """This test's server processes (bwrap and the program in it), by the script's path,
    which is unique to the test: other sandbox runs on the machine do not count."""
    found = set()
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if script in " ".join(process.info["cmdline"] or []):
                found.add(process.pid)
    return found


def test_a_call_past_the_time_limit_fails_and_leaves_no_process(
    admin_client: Any, stdio_row: Callable[..., McpServer], stdio_program: dict[str, Any]
) -> None:
    stdio_row(timeout_seconds=4)
    script = stdio_program["args"][0]
    seen: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: seen.update(execute(admin_client, "mcp.local.sleep", {"seconds": 60})))
    runner.start()
    running: set[int] = set()
    while runner.is_alive() and not running:
        running = server_processes(script)
        time.sleep(0.05)
    runner.join()

    assert seen["success"] is False
    assert seen["result"] == {"error": "The MCP server local did not answer within 4 seconds."}
    assert seen["duration_ms"] < 15_000
    assert running, "the server never started"
    deadline = time.monotonic() + 2
    while server_processes(script) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server_processes(script) == set()


def test_a_server_does_not_start_in_a_workspace_over_its_quota(
    admin_client: Any, admin: Any, settings: Any, workspace_root: Path, stdio_row: Callable[..., McpServer]
) -> None:
    stdio_row()
    settings.LUXX_WORKSPACE_QUOTA_MB = 1
    workspace = workspace_root / str(admin.pk)
    workspace.mkdir(exist_ok=True)
    (workspace / "big.bin").write_bytes(b"x" * (2 * 1024 * 1024))

    result = execute(admin_client, "mcp.local.sleep", {"seconds": 0})

    assert result["success"] is False
    assert result["result"] == {
        "error": "The workspace uses 2 MB of its 1 MB quota: delete files (file_delete) before using this MCP server."
    }


def test_a_command_that_does_not_start_is_reported_with_its_error_output(admin_client: Any, stdio_program: dict[str, Any]) -> None:
    response = admin_client.post(
        "/api/mcp-servers/", {**stdio_program, "name": "broken", "command": "/usr/bin/no-such-mcp-server"}, format="json"
    )

    data = response.json()["data"]
    assert response.status_code == 201 and data["status"] == "down"
    assert data["error"].startswith("The MCP server broken ")
    assert "no-such-mcp-server" in data["error"] and "No such file or directory" in data["error"]


def test_the_server_runs_as_the_sandbox_user_under_shell_executes_limits(admin_client: Any, stdio_row: Callable[..., McpServer]) -> None:
    stdio_row(timeout_seconds=20)

    seen = execute(admin_client, "mcp.local.identity", {})["result"]
    shell = execute(admin_client, "shell_execute", {"command": f"/usr/bin/python3 -c {shlex.quote(IDENTITY_SCRIPT)}", "timeout": 20})

    assert shell["success"] is True and shell["result"]["exit_code"] == 0, shell
    assert seen == json.loads(shell["result"]["stdout"])
    assert (seen["uid"], seen["cwd"]) == (65534, "/workspace")
