"""The file tools: normal behaviour, and every path that tries to leave the workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from accounts.models import PermissionLevel
from tests.toolbox.conftest import call, make_ctx, requires_sandbox
from toolbox.registry import ToolContext

pytestmark = pytest.mark.django_db(transaction=True)


async def test_write_then_read_list_exists_and_grep() -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)

    _, written = await call("file_write", {"path": "notes/a.txt", "content": "alpha\nbeta\ngamma\n"}, ctx)
    await call("file_write", {"path": "notes/a.txt", "content": "delta\n", "mode": "append"}, ctx)
    await call("file_write", {"path": "b.py", "content": "print('beta')\n"}, ctx)
    _, read = await call("file_read", {"path": "notes/a.txt"}, ctx)
    _, listing = await call("file_list", {"recursive": True}, ctx)
    _, exists = await call("file_exists", {"path": "notes"}, ctx)
    _, missing = await call("file_exists", {"path": "nope.txt"}, ctx)
    _, grep = await call("file_grep", {"pattern": "^bet", "ignore_case": True}, ctx)

    assert written == {"path": "notes/a.txt", "bytes_written": 17, "size": 17, "appended": False}
    assert read == {"path": "notes/a.txt", "content": "alpha\nbeta\ngamma\ndelta\n", "size": 23, "truncated": False}
    assert listing["entries"] == [
        {"name": "b.py", "type": "file", "size": 14},
        {"name": "notes", "type": "directory", "size": None},
        {"name": "notes/a.txt", "type": "file", "size": 23},
    ]
    assert exists == {"path": "notes", "exists": True, "type": "directory"}
    assert missing == {"path": "nope.txt", "exists": False, "type": None}
    assert grep["matches"] == [{"path": "notes/a.txt", "line": 2, "text": "beta"}]
    assert grep["files_searched"] == 2


async def test_reading_a_missing_file_is_a_failed_result() -> None:
    ctx = await make_ctx()

    outcome, result = await call("file_read", {"path": "ghost.txt"}, ctx)

    assert outcome.success is False
    assert result == {"error": "Not found: ghost.txt."}


async def test_reads_are_limited_in_size() -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    await call("file_write", {"path": "big.txt", "content": "x" * 300_000}, ctx)

    _, result = await call("file_read", {"path": "big.txt", "max_bytes": 10}, ctx)

    assert result["content"] == "xxxxxxxxxx\n…[truncated: showing the first 10 of 300000 bytes]"
    assert result["truncated"] is True


async def test_the_workspace_quota_refuses_a_write(settings: object) -> None:
    settings.LUXX_WORKSPACE_QUOTA_MB = 1  # type: ignore[attr-defined]
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    await call("file_write", {"path": "one.txt", "content": "x" * 900_000}, ctx)

    outcome, result = await call("file_write", {"path": "two.txt", "content": "y" * 200_000}, ctx)

    assert outcome.success is False
    assert result["error"].startswith("The workspace quota of 1 MB would be exceeded")


@pytest.mark.parametrize(
    "path",
    ["../x", "../../etc/passwd", "/etc/passwd", "x\x00y", "a/../../x", "/workspace/../etc/passwd"],
)
async def test_paths_outside_the_workspace_are_refused(path: str) -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)

    results = [await call(name, {"path": path}, ctx) for name in ("file_read", "file_exists", "file_list")]
    written = await call("file_write", {"path": path, "content": "pwned"}, ctx)

    for outcome, result in [*results, written]:
        assert outcome.success is False
        assert result["error"] in {f"Access denied: {path} is outside your workspace.", "The path contains a NUL byte."}


async def test_a_sibling_workspace_with_a_common_prefix_is_refused(workspace_root: Path) -> None:
    user_1 = ToolContext(user_id=1, permission_level=2)
    sibling = workspace_root / "10"
    sibling.mkdir()
    (sibling / "secret.txt").write_text("user 10's data")

    by_absolute = await call("file_read", {"path": str(sibling / "secret.txt")}, user_1)
    by_relative = await call("file_read", {"path": "../10/secret.txt"}, user_1)

    for outcome, result in (by_absolute, by_relative):
        assert outcome.success is False
        assert "is outside your workspace" in result["error"]


@requires_sandbox
async def test_a_symlink_made_in_the_sandbox_that_points_out_is_refused() -> None:
    ctx = await make_ctx(level=PermissionLevel.EXECUTE)
    await call(
        "shell_execute",
        {"command": "ln -s /etc/passwd passwd-link && ln -s .. up && mkdir d && ln -s /usr d/usr-link && ls"},
        ctx,
    )

    read_link = await call("file_read", {"path": "passwd-link"}, ctx)
    through_dir = await call("file_read", {"path": "up/1/x"}, ctx)
    into_link = await call("file_write", {"path": "d/usr-link/evil", "content": "x"}, ctx)
    over_link = await call("file_write", {"path": "passwd-link", "content": "x"}, ctx)
    grep = await call("file_grep", {"pattern": "root"}, ctx)

    for outcome, result in (read_link, through_dir, into_link, over_link):
        assert outcome.success is False
        assert "outside your workspace" in result["error"]
    assert grep[1]["matches"] == []
    assert await sync_to_async(os.path.exists)("/usr/evil") is False


async def test_a_catastrophic_regex_is_stopped_and_the_server_keeps_going() -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)
    await call("file_write", {"path": "evil.txt", "content": "a" * 40 + "!\n"}, ctx)

    outcome, result = await call("file_grep", {"pattern": "^(a+)+$"}, ctx)
    after = await call("file_exists", {"path": "evil.txt"}, ctx)

    assert outcome.success is False
    assert result == {"error": "The search took longer than 5 seconds and was stopped; simplify the pattern."}
    assert after[0].success is True


async def test_an_invalid_regex_is_a_failed_result() -> None:
    ctx = await make_ctx()

    outcome, result = await call("file_grep", {"pattern": "("}, ctx)

    assert outcome.success is False
    assert result["error"].startswith("Invalid regular expression: missing ), unterminated subpattern")
