"""Request bodies are refused before they are read, under daphne and under uvicorn, and
the client address is the socket's whatever X-Forwarded-For says: against real server
processes, since both defects live in how the server reads a request."""

from __future__ import annotations

import json
import select
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.server_process import ServerProcess

# Real server processes on their own SQLite database, whatever the pass's database: the second pass would repeat the first.
pytestmark = pytest.mark.sqlite_only

KB = 1024
MB = 1024 * 1024
CHUNK = b"x" * (64 * KB)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    body_bytes_sent: int
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


def raw_request(server: ServerProcess, head: str, body: Iterator[bytes], *, wait: float = 5.0) -> Answer:
    """Send ``head``, then the body piece by piece for as long as the server reads it and
    has not answered; then read the answer. Counts the body bytes sent before it."""
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sent = 0
    try:
        sock.sendall(head.encode("latin-1"))
        sock.setblocking(False)
        for piece in body:
            view = memoryview(piece)
            while view:
                readable, writable, _ = select.select([sock], [sock], [], wait)
                if readable or not writable:
                    break
                try:
                    n = sock.send(view)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    break
                view = view[n:]
                sent += n
            if view:
                break
        sock.setblocking(True)
        sock.settimeout(wait)
        raw = b""
        while b"\r\n\r\n" not in raw:
            data = sock.recv(65536)
            if not data:
                break
            raw += data
        head_part, _, rest = raw.partition(b"\r\n\r\n")
        lines = head_part.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
        return Answer(int(lines[0].split()[1]), headers, rest[:length], sent, time.monotonic() - started)
    finally:
        sock.close()


def post_head(path: str, *, length: int | None, content_type: str = "application/json", extra: str = "") -> str:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{framing}{extra}\r\n"


def plain_body(total: int) -> Iterator[bytes]:
    while total > 0:
        piece = CHUNK[: min(len(CHUNK), total)]
        total -= len(piece)
        yield piece


def chunked_body(total: int) -> Iterator[bytes]:
    for piece in plain_body(total):
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def test_a_body_declared_far_over_the_limit_is_refused_before_any_of_it_is_sent(server_process: ServerProcess) -> None:
    answer = raw_request(server_process, post_head("/api/auth/login", length=10 * 1024 * MB), iter(()))

    assert answer.status == 413
    assert answer.json() == {"success": False, "message": "The request body is too large: /api/auth/login accepts at most 16 KB."}
    assert answer.seconds < 5


def test_a_300_mib_body_to_login_is_answered_after_little_of_it_is_sent(server_process: ServerProcess) -> None:
    answer = raw_request(server_process, post_head("/api/auth/login", length=300 * MB), plain_body(300 * MB))

    assert answer.status == 413
    # What the kernels' socket buffers take before the client sees the answer, not 300 MiB.
    assert answer.body_bytes_sent < 8 * MB


def test_a_chunked_body_is_refused_once_it_passes_the_limit(server_process: ServerProcess) -> None:
    answer = raw_request(server_process, post_head("/api/auth/login", length=None), chunked_body(300 * MB))

    assert answer.status == 413
    assert answer.json()["message"] == "The request body is too large: /api/auth/login accepts at most 16 KB."
    assert answer.body_bytes_sent < 8 * MB


@pytest.mark.parametrize(
    ("path", "limit", "content_type"),
    [
        ("/api/auth/login", 16 * KB, "application/json"),
        ("/api/v1/users/login", 16 * KB, "application/json"),
        ("/api/auth/register", 16 * KB, "application/json"),
        ("/login/", 16 * KB, "application/x-www-form-urlencoded"),
        ("/admin/login/", 16 * KB, "application/x-www-form-urlencoded"),
        ("/api/conversations/", 2 * MB, "application/json"),
        ("/api/v1/chat/messages", 2 * MB, "application/json"),
        ("/api/knowledge/documents/", 1 * MB + 64 * KB, "multipart/form-data; boundary=x"),
        ("/api/v1/knowledge/documents/upload", 1 * MB + 64 * KB, "multipart/form-data; boundary=x"),
    ],
)
def test_every_route_refuses_one_byte_over_its_limit_at_once(
    server_process: ServerProcess, path: str, limit: int, content_type: str
) -> None:
    over = raw_request(server_process, post_head(path, length=limit + 1, content_type=content_type), iter(()))

    assert over.status == 413
    if path.startswith("/api/v1/"):
        assert over.json()["code"] == 41300
    elif path.startswith("/api/"):
        assert over.json()["success"] is False
    else:
        assert over.headers["content-type"] == "text/plain; charset=utf-8"
    assert over.seconds < 5


def test_a_body_at_the_limit_is_read_and_handled(server_process: ServerProcess) -> None:
    login = json.dumps({"username": "nobody", "password": "wrong-1234"})
    padded = login + " " * (16 * KB - len(login))

    response = httpx.post(f"{server_process.url}/api/auth/login", content=padded, headers={"Content-Type": "application/json"}, timeout=10)

    assert response.status_code == 401


def test_an_upload_within_its_limit_works_and_one_over_is_refused(server_process: ServerProcess) -> None:
    name = f"u{server_process.kind}{time.monotonic_ns()}"
    with httpx.Client(base_url=server_process.url, timeout=20) as client:
        client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": "Passw0rd2024"})
        token = client.post("/api/auth/login", json={"username": name, "password": "Passw0rd2024"}).json()["data"]["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        small = client.post("/api/knowledge/documents/", files={"file": ("notes.txt", b"Small enough to index.\n")}, headers=auth)
        large = client.post("/api/knowledge/documents/", files={"file": ("big.txt", b"word " * (300 * KB))}, headers=auth)

    assert small.status_code == 202  # accepted, indexed in the background
    assert large.status_code == 413
    assert large.json()["message"] == "The request body is too large: /api/knowledge/documents/ accepts at most 1 MB."


def test_the_client_address_is_the_socket_address_whatever_x_forwarded_for_says(server_process: ServerProcess) -> None:
    for n in range(3):
        httpx.post(
            f"{server_process.url}/api/auth/login",
            json={"username": "nobody", "password": "wrong-1234"},
            headers={"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"198.51.100.{n}", "Forwarded": f"for=198.51.100.{n}"},
            timeout=10,
        )

    with sqlite3.connect(server_process.database) as database:
        keys = {row[0] for row in database.execute("SELECT key FROM accounts_authcounter WHERE key LIKE 'addr:%'")}

    assert keys == {"addr:127.0.0.1"}
