"""What a workspace can hold that must not jam or brick the tools: FIFOs, trees thousands
of levels deep, long symbolic-link chains, slow calls, and code that writes past the quota."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from accounts.models import PermissionLevel
from tests.toolbox.conftest import call, make_ctx, requires_sandbox
from toolbox import workspace
from toolbox.registry import ToolContext
from toolbox.tools import file as file_tools

pytestmark = pytest.mark.django_db(transaction=True)
MB = 1024 * 1024


def workspace_of(ctx: ToolContext, root: Path) -> Path:
    path = root / str(ctx.user_id)
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
async def fifos() -> AsyncIterator[list[Path]]:
    """FIFOs a test makes; at the end each is opened for reading and writing, which frees
    any thread an unfixed tool left blocked in open() on it (async, so that this runs
    before the event loop waits for its threads at its close)."""
    made: list[Path] = []
    yield made
    for path in made:
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK))


def deep_tree(top: Path, depth: int, *, leaf: bytes = b"") -> None:
    """``top/d/d/.../d`` ``depth`` levels deep (through descriptors, past PATH_MAX), with a
    file ``leaf.bin`` at the bottom: what code in the sandbox can make."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf_fd = os.open("leaf.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf_fd, leaf)
        os.close(leaf_fd)
    finally:
        os.close(fd)


# --- item: FIFOs and other non-regular files ---------------------------------------------


async def test_file_read_of_a_fifo_is_refused_at_once(workspace_root: Path, fifos: list[Path]) -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    fifos.append(workspace_of(ctx, workspace_root) / "pipe")
    os.mkfifo(fifos[0])

    outcome, result = await asyncio.wait_for(call("file_read", {"path": "pipe"}, ctx), timeout=5)

    assert outcome.success is False
    assert result == {"error": "pipe is not a regular file."}


async def test_file_write_onto_a_fifo_is_refused_at_once(workspace_root: Path, fifos: list[Path]) -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    fifos.append(workspace_of(ctx, workspace_root) / "pipe")
    os.mkfifo(fifos[0])

    overwrite = await asyncio.wait_for(call("file_write", {"path": "pipe", "content": "x"}, ctx), timeout=5)
    append = await asyncio.wait_for(call("file_write", {"path": "pipe", "content": "x", "mode": "append"}, ctx), timeout=5)

    for outcome, result in (overwrite, append):
        assert outcome.success is False
        assert result == {"error": "pipe is not a regular file."}


async def test_a_fifo_with_a_reader_waiting_is_still_refused_for_writing(workspace_root: Path, fifos: list[Path]) -> None:
    # With a reader on the other end, a non-blocking open for writing succeeds: the type
    # check on the descriptor is what refuses it.
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    fifos.append(workspace_of(ctx, workspace_root) / "pipe")
    os.mkfifo(fifos[0])
    reader = os.open(fifos[0], os.O_RDONLY | os.O_NONBLOCK)
    try:
        outcome, result = await asyncio.wait_for(call("file_write", {"path": "pipe", "content": "x"}, ctx), timeout=5)
        received = os.read(reader, 10)
    finally:
        os.close(reader)

    assert outcome.success is False
    assert result == {"error": "pipe is not a regular file."}
    assert received == b""


async def test_many_fifo_calls_leave_every_users_tools_working(workspace_root: Path, fifos: list[Path]) -> None:
    attacker = await make_ctx(level=PermissionLevel.WRITE)
    victim = await make_ctx(level=PermissionLevel.WRITE)
    for n in range(8):
        fifos.append(workspace_of(attacker, workspace_root) / f"pipe{n}")
        os.mkfifo(fifos[-1])
    await call("file_write", {"path": "notes.txt", "content": "still here"}, victim)

    jams = await asyncio.gather(
        *(asyncio.wait_for(call("file_read", {"path": f"pipe{n}"}, attacker), timeout=5) for n in range(8)),
        return_exceptions=True,
    )
    outcome, result = await asyncio.wait_for(call("file_read", {"path": "notes.txt"}, victim), timeout=5)

    assert [(j[0].success, j[1]["error"]) for j in jams if not isinstance(j, BaseException)] == [
        (False, f"pipe{n} is not a regular file.") for n in range(8)
    ]
    assert (outcome.success, result["content"]) == (True, "still here")


async def test_a_socket_file_is_listed_but_never_opened(workspace_root: Path, fifos: list[Path]) -> None:
    import socket

    ctx = await make_ctx(level=PermissionLevel.WRITE)
    ws = workspace_of(ctx, workspace_root)
    fifos.append(ws / "pipe")
    os.mkfifo(fifos[0])
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(ws / "sock"))
    try:
        read = await asyncio.wait_for(call("file_read", {"path": "sock"}, ctx), timeout=5)
        listing = await asyncio.wait_for(call("file_list", {}, ctx), timeout=5)
        grep = await asyncio.wait_for(call("file_grep", {"pattern": "x"}, ctx), timeout=5)
    finally:
        server.close()

    assert read[1] == {"error": "sock is not a regular file."}
    assert listing[1]["entries"] == [{"name": "pipe", "type": "other", "size": None}, {"name": "sock", "type": "other", "size": None}]
    assert grep[1]["matches"] == []


# --- item: the file tools' own threads ---------------------------------------------------


async def test_one_users_stuck_file_calls_do_not_starve_another_user(monkeypatch: pytest.MonkeyPatch) -> None:
    # A file call that never returns (a hung disk): the user who made it waits, others not.
    release = threading.Event()
    real_read = file_tools._read

    def read(ws: Path, path: str, max_bytes: int) -> dict[str, Any]:
        if path == "stuck.txt":
            release.wait(30)
        return real_read(ws, path, max_bytes)

    monkeypatch.setattr(file_tools, "_read", read)
    slow = await make_ctx(level=PermissionLevel.WRITE)
    other = await make_ctx(level=PermissionLevel.WRITE)
    await call("file_write", {"path": "stuck.txt", "content": "x"}, slow)
    await call("file_write", {"path": "notes.txt", "content": "fine"}, other)
    try:
        stuck = [asyncio.ensure_future(call("file_read", {"path": "stuck.txt"}, slow)) for _ in range(12)]
        await asyncio.sleep(0.2)
        outcome, result = await asyncio.wait_for(call("file_read", {"path": "notes.txt"}, other), timeout=5)
        still_stuck = sum(not task.done() for task in stuck)
    finally:
        release.set()
    await asyncio.gather(*stuck)

    assert (outcome.success, result["content"]) == (True, "fine")
    assert still_stuck == 12


async def test_file_tools_do_not_wait_for_the_event_loops_default_threads() -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    await call("file_write", {"path": "notes.txt", "content": "fine"}, ctx)
    loop = asyncio.get_running_loop()
    release = threading.Event()
    busy = [loop.run_in_executor(None, release.wait, 30) for _ in range(64)]
    try:
        outcome, result = await asyncio.wait_for(call("file_read", {"path": "notes.txt"}, ctx), timeout=5)
    finally:
        release.set()
    await asyncio.gather(*busy)

    assert (outcome.success, result["content"]) == (True, "fine")


# --- item: deep trees and long paths -------------------------------------------------------


async def test_a_tree_thousands_of_levels_deep_does_not_brick_the_tools(workspace_root: Path) -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    ws = workspace_of(ctx, workspace_root)
    deep_tree(ws, 3000, leaf=b"0123456789")

    written = await call("file_write", {"path": "notes.txt", "content": "still works"}, ctx)
    listing = await call("file_list", {"recursive": True}, ctx)
    grep = await call("file_grep", {"pattern": "works"}, ctx)
    used = await asyncio.to_thread(workspace.usage_bytes, ws)
    deleted = await call("file_delete", {"path": "d", "recursive": True}, ctx)
    gone = await call("file_exists", {"path": "d"}, ctx)

    assert written[0].success is True, written[1]
    assert listing[0].success is True
    assert listing[1]["count"] == 1 + workspace.MAX_PATH_DEPTH + 1  # d … d (65 levels listed), notes.txt
    assert grep[1]["matches"] == [{"path": "notes.txt", "line": 1, "text": "still works"}]
    assert used == len("still works") + 10  # the file 3,000 levels down is counted
    assert deleted[1] == {"path": "d", "deleted": "directory", "entries_removed": 3001}
    assert gone[1] == {"path": "d", "exists": False, "type": None}


async def test_a_path_deeper_or_longer_than_the_caps_is_refused() -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)

    too_deep = await call("file_write", {"path": "a/" * 65 + "x", "content": "x"}, ctx)
    deep_enough = await call("file_write", {"path": "a/" * 63 + "x", "content": "x"}, ctx)
    too_long = await call("file_write", {"path": "a/" * 2000 + "x", "content": "x"}, ctx)
    long_name = await call("file_read", {"path": "n" * 1025}, ctx)
    # One name over the filesystem's 255 bytes (was an OSError, a 500 to the API)
    over_name = [
        await call("file_write", {"path": "d/" + "0" * 256, "content": "x"}, ctx),
        await call("file_exists", {"path": "0" * 256}, ctx),
    ]
    name_at_limit = await call("file_write", {"path": "é" * 127, "content": "x"}, ctx)

    assert too_deep[1] == {"error": "The path is more than 64 directories deep."}
    assert deep_enough[0].success is True
    assert too_long[0].rejected_status == 400
    assert too_long[1]["error"].startswith("path: ")
    assert long_name[0].rejected_status == 400
    for outcome in over_name:
        assert outcome[0].success is False
        assert outcome[1] == {"error": "A file or folder name in the path is longer than 255 bytes."}
    assert name_at_limit[0].success is True, name_at_limit[1]


async def test_a_long_symbolic_link_chain_is_refused_not_a_crash(workspace_root: Path) -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    ws = workspace_of(ctx, workspace_root)
    for n in range(3000):
        os.symlink(f"l{n + 1}", ws / f"l{n}")
    (ws / "l3000").write_text("end")

    outcome, result = await call("file_read", {"path": "l0"}, ctx)

    assert outcome.success is False
    assert result == {"error": "Refused: too many symbolic links in l0."}


def test_the_walk_refuses_to_climb_into_a_directory_it_did_not_come_from(tmp_path: Path) -> None:
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    top = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    seen = []
    try:
        with pytest.raises(workspace.WorkspaceChanged):
            for step in workspace.walk(top):
                seen.append(step.path)
                if step.path == "./a/b":
                    os.rename(tmp_path / "a" / "b", tmp_path / "moved")  # b's ".." is now the top
    finally:
        os.close(top)

    assert seen == [".", "./a", "./a/b", "./a/b/c"]


# --- file_delete ---------------------------------------------------------------------------


async def test_file_delete_removes_a_file_an_empty_directory_and_with_recursive_a_tree() -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    for path in ("one.txt", "tree/a/b.txt", "tree/c.txt"):
        await call("file_write", {"path": path, "content": "x"}, ctx)
    await call("file_write", {"path": "empty/x", "content": ""}, ctx)
    await call("file_delete", {"path": "empty/x"}, ctx)

    file = await call("file_delete", {"path": "one.txt"}, ctx)
    empty = await call("file_delete", {"path": "empty/"}, ctx)
    refused = await call("file_delete", {"path": "tree"}, ctx)
    tree = await call("file_delete", {"path": "/workspace/tree", "recursive": True}, ctx)
    listing = await call("file_list", {}, ctx)

    assert file[1] == {"path": "one.txt", "deleted": "file", "entries_removed": 1}
    assert empty[1] == {"path": "empty", "deleted": "directory", "entries_removed": 1}
    assert refused[1] == {"error": "tree is a directory that is not empty; set recursive to delete it with its content."}
    assert tree[1] == {"path": "tree", "deleted": "directory", "entries_removed": 4}
    assert listing[1]["entries"] == []


@pytest.mark.parametrize("path", [".", "/workspace", "/workspace/", "..", "../x", "a/..", "/etc/passwd"])
async def test_file_delete_refuses_the_workspace_itself_and_anything_outside(path: str) -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    await call("file_write", {"path": "keep.txt", "content": "x"}, ctx)

    outcome, result = await call("file_delete", {"path": path, "recursive": True}, ctx)
    kept = await call("file_exists", {"path": "keep.txt"}, ctx)

    assert outcome.success is False
    assert result["error"] in {
        "file_delete needs the path of a file or directory inside the workspace, not the workspace itself.",
        f"Access denied: {path} is outside your workspace.",
    }
    assert kept[1]["exists"] is True
    assert await asyncio.to_thread(os.path.exists, "/etc/passwd")


async def test_file_delete_removes_a_symbolic_link_not_its_target(workspace_root: Path, tmp_path: Path) -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    ws = workspace_of(ctx, workspace_root)
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    (ws / "inside.txt").write_text("yours")
    os.symlink(outside, ws / "out-link")
    os.symlink("inside.txt", ws / "in-link")

    out = await call("file_delete", {"path": "out-link"}, ctx)
    inside = await call("file_delete", {"path": "in-link"}, ctx)

    assert out[1] == {"path": "out-link", "deleted": "symlink", "entries_removed": 1}
    assert inside[1] == {"path": "in-link", "deleted": "symlink", "entries_removed": 1}
    assert outside.read_text() == "not yours"
    assert (ws / "inside.txt").read_text() == "yours"


async def test_file_delete_needs_the_write_level() -> None:
    ctx = await make_ctx(level=PermissionLevel.READ_ONLY)

    outcome, _result = await call("file_delete", {"path": "x"}, ctx)

    assert outcome.rejected_status == 403


# --- item: the quota holds for code runs -----------------------------------------------------


@requires_sandbox
async def test_a_run_does_not_start_in_a_workspace_over_its_quota(settings: Any, workspace_root: Path) -> None:
    settings.LUXX_WORKSPACE_QUOTA_MB = 1
    ctx = await make_ctx(level=PermissionLevel.EXECUTE)
    (workspace_of(ctx, workspace_root) / "big.bin").write_bytes(b"x" * (2 * MB))

    refused = await call("python_execute", {"code": "open('more.bin', 'wb').write(b'y' * 100)"}, ctx)
    shell = await call("shell_execute", {"command": "echo hi > more.txt"}, ctx)
    await call("file_delete", {"path": "big.bin"}, ctx)
    after_delete = await call("python_execute", {"code": "print('ran')"}, ctx)

    for outcome, result in (refused, shell):
        assert outcome.success is False
        assert result == {"error": "The workspace uses 2 MB of its 1 MB quota: delete files (file_delete) before running code."}
    assert not (workspace_of(ctx, workspace_root) / "more.bin").exists()
    assert after_delete[1]["stdout"] == "ran\n"


@requires_sandbox
async def test_a_run_writing_many_files_past_the_quota_is_killed(settings: Any, workspace_root: Path) -> None:
    settings.LUXX_WORKSPACE_QUOTA_MB = 2
    ctx = await make_ctx(level=PermissionLevel.EXECUTE)
    # 100 MB in files of 512 KiB at about 25 MB/s: unchecked it would all be written.
    code = """
import time
for n in range(200):
    with open(f'part{n}.bin', 'wb') as f:
        f.write(b'x' * 524288)
    time.sleep(0.02)
print('wrote everything')
"""
    started = time.monotonic()
    outcome, result = await call("python_execute", {"code": code}, ctx)
    elapsed = time.monotonic() - started
    used = await asyncio.to_thread(workspace.usage_bytes, workspace_of(ctx, workspace_root))

    assert outcome.success is True
    assert result["stdout"] == ""
    assert result["exit_code"] is None
    assert result["stderr"].endswith("[killed: the workspace went over its quota of 2 MB]")
    assert result["warning"].startswith("The workspace uses ")
    assert 2 * MB < used < 40 * MB
    assert elapsed < 20


@requires_sandbox
async def test_one_file_cannot_grow_past_the_space_left(settings: Any, workspace_root: Path) -> None:
    settings.LUXX_WORKSPACE_QUOTA_MB = 2
    ctx = await make_ctx(level=PermissionLevel.EXECUTE)
    (workspace_of(ctx, workspace_root) / "half.bin").write_bytes(b"x" * MB)
    code = """
try:
    with open('big.bin', 'wb') as f:
        for _ in range(8):
            f.write(b'y' * 1048576)
except OSError as e:
    print(e.strerror)
"""
    _outcome, result = await call("python_execute", {"code": code}, ctx)

    assert result["stdout"] == "File too large\n"
    assert (workspace_of(ctx, workspace_root) / "big.bin").stat().st_size == MB
