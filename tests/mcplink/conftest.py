"""Fixtures of the MCP tests: a real MCP server (the SDK's) on loopback, users, and
servers registered through the API."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.models import PermissionLevel
from tests.support.factories import api_client_for, make_admin, make_user
from tests.support.mcp_http import McpHttpServer
from tests.support.mcp_test_server import build_server
from tests.toolbox.conftest import Listener

# The test server's tools, in the order it lists them.
ECHO_TOOLS = ["echo", "fail", "sleep", "big", "env_length", "reveal_env", "connect", "identity"]


@pytest.fixture(scope="session")
def mcp_http_server() -> Iterator[McpHttpServer]:
    server = McpHttpServer(build_server().streamable_http_app()).start()
    yield server
    server.stop()


@pytest.fixture
def mcp_url(mcp_http_server: McpHttpServer) -> str:
    mcp_http_server.seen_headers.clear()
    return mcp_http_server.url


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp"


@pytest.fixture
def listener() -> Iterator[Listener]:
    item = Listener()
    yield item
    item.close()


@pytest.fixture(autouse=True)
def workspace_root(settings: Any) -> Iterator[Path]:
    """Workspaces the sandbox uid can reach (stdio servers run in the caller's)."""
    root = Path(tempfile.mkdtemp(prefix="luxx-ws-"))
    root.chmod(0o711)
    settings.LUXX_WORKSPACE_ROOT = root
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def admin(db: None) -> Any:
    return make_admin()


@pytest.fixture
def user(db: None) -> Any:
    return make_user(level=PermissionLevel.EXECUTE)


@pytest.fixture
def admin_client(admin: Any) -> Any:
    return api_client_for(admin)


@pytest.fixture
def client(user: Any) -> Any:
    return api_client_for(user)


@pytest.fixture
def add_server() -> Callable[..., dict[str, Any]]:
    """POST /api/mcp-servers/ as ``client``; the response's data (asserting 201)."""

    def add(client: Any, **body: Any) -> dict[str, Any]:
        response = client.post("/api/mcp-servers/", body, format="json")
        assert response.status_code == 201, response.content
        return response.json()["data"]

    return add


@pytest.fixture
def shared_server(admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str) -> dict[str, Any]:
    """A shared server called ``tests`` whose tools need EXECUTE (the default)."""
    return add_server(admin_client, name="tests", url=mcp_url, shared=True, timeout_seconds=2)["server"]
