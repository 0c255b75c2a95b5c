"""The file tools: read, write, list, test, search and delete files in the user's workspace.

They run in the server process on the file tools' own threads
(:func:`toolbox.workspace.run_file_op`), confined by :mod:`toolbox.workspace`.
"""

from __future__ import annotations

import asyncio
import errno
import fnmatch
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from toolbox import workspace
from toolbox.registry import Tool, ToolCategory, ToolContext, ToolError, ToolRegistry

READ_ONLY, WRITE = 1, 2
READ_LIMIT_BYTES = 256 * 1024
WRITE_LIMIT_BYTES = 5 * 1024 * 1024
LIST_LIMIT = 500
GREP_FILE_LIMIT_BYTES = 2 * 1024 * 1024
GREP_TOTAL_LIMIT_BYTES = 16 * 1024 * 1024
GREP_MAX_FILES = 2000
GREP_TIMEOUT_SECONDS = 5.0
PATH_SCHEMA = {"type": "string", "minLength": 1, "maxLength": workspace.MAX_PATH_LENGTH}


async def _workspace(ctx: ToolContext) -> Path:
    return await workspace.workspace_for_async(ctx)


def _usage(ws: Path) -> int:
    try:
        return workspace.usage_bytes(ws)
    except workspace.WorkspaceChanged:
        raise ToolError("The workspace changed while its size was measured; try again.") from None


# --- file_read ------------------------------------------------------------------------


def _read(ws: Path, path: str, max_bytes: int) -> dict[str, Any]:
    real = workspace.resolve(ws, path)
    with workspace.open_beneath(ws, real, os.O_RDONLY) as fd:
        info = os.fstat(fd)
        raw = os.read(fd, max_bytes + 1) if max_bytes else b""
    truncated = len(raw) > max_bytes
    raw = raw[:max_bytes]
    if b"\x00" in raw[:8192]:
        raise ToolError(f"{workspace.display_path(ws, real)} is a binary file; file_read returns text only.")
    content = raw.decode("utf-8", errors="replace")
    if truncated:
        content += f"\n…[truncated: showing the first {max_bytes} of {info.st_size} bytes]"
    return {"path": workspace.display_path(ws, real), "content": content, "size": info.st_size, "truncated": truncated}


async def file_read(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    ws = await _workspace(ctx)
    return await workspace.run_file_op(ctx.user_id, _read, ws, args["path"], args.get("max_bytes", READ_LIMIT_BYTES))


# --- file_write -----------------------------------------------------------------------


def _write(ws: Path, path: str, content: str, append: bool) -> dict[str, Any]:
    data = content.encode()
    if len(data) > WRITE_LIMIT_BYTES:
        raise ToolError(f"The content is {len(data)} bytes; file_write accepts at most {WRITE_LIMIT_BYTES}.")
    real = workspace.resolve(ws, path)
    if real == Path(os.path.realpath(ws)):
        raise ToolError("The path names the workspace itself, not a file.")
    existing = 0
    try:
        existing = os.stat(real, follow_symlinks=False).st_size
    except FileNotFoundError:
        pass
    growth = len(data) if append else len(data) - existing
    used = _usage(ws)
    if growth > 0 and used + growth > workspace.quota_bytes():
        raise ToolError(
            f"The workspace quota of {workspace.quota_bytes() // (1024 * 1024)} MB would be exceeded "
            f"({used} bytes used, {growth} more needed)."
        )
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    with workspace.open_beneath(ws, real, flags, create_dirs=True) as fd:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        size = os.fstat(fd).st_size
    return {"path": workspace.display_path(ws, real), "bytes_written": len(data), "size": size, "appended": append}


async def file_write(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    ws = await _workspace(ctx)
    append = args.get("mode", "overwrite") == "append"
    return await workspace.run_file_op(ctx.user_id, _write, ws, args["path"], args["content"], append)


# --- file_list and file_exists --------------------------------------------------------


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _list(ws: Path, path: str, recursive: bool) -> dict[str, Any]:
    real = workspace.resolve(ws, path)
    entries: list[dict[str, Any]] = []
    truncated = False
    max_depth = workspace.MAX_PATH_DEPTH if recursive else 0
    with workspace.open_beneath(ws, real, os.O_RDONLY | os.O_DIRECTORY, kind="directory") as fd:
        for step in workspace.walk(fd, max_depth=max_depth):
            for name, info in step.entries:
                if len(entries) >= LIST_LIMIT:
                    truncated = True
                    break
                relative = os.path.normpath(os.path.join(step.path, name))
                kind = _kind(info.st_mode)
                entries.append({"name": relative, "type": kind, "size": info.st_size if kind == "file" else None})
            if truncated:
                break
    return {"path": workspace.display_path(ws, real), "entries": entries, "count": len(entries), "truncated": truncated}


async def file_list(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    ws = await _workspace(ctx)
    return await workspace.run_file_op(ctx.user_id, _list, ws, args.get("path", "."), bool(args.get("recursive", False)))


def _exists(ws: Path, path: str) -> dict[str, Any]:
    real = workspace.resolve(ws, path)
    try:
        info = os.stat(real, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return {"path": workspace.display_path(ws, real), "exists": False, "type": None}
    return {"path": workspace.display_path(ws, real), "exists": True, "type": _kind(info.st_mode)}


async def file_exists(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    ws = await _workspace(ctx)
    return await workspace.run_file_op(ctx.user_id, _exists, ws, args["path"])


# --- file_grep ------------------------------------------------------------------------

# Runs in a separate interpreter that is killed after GREP_TIMEOUT_SECONDS: Python's re
# cannot be interrupted, and a catastrophic pattern must not hold a server thread.
_GREP_WORKER = """
import json, re, sys
job = json.load(sys.stdin)
pattern = re.compile(job["pattern"], re.IGNORECASE if job["ignore_case"] else 0)
matches, limit = [], job["max_matches"]
for path, text in job["files"]:
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.search(line):
            matches.append({"path": path, "line": number, "text": line[:500]})
            if len(matches) >= limit:
                json.dump({"matches": matches, "truncated": True}, sys.stdout)
                sys.exit(0)
json.dump({"matches": matches, "truncated": False}, sys.stdout)
"""


def _collect(ws: Path, path: str, glob: str | None) -> tuple[list[tuple[str, str]], int]:
    real = workspace.resolve(ws, path)
    files: list[tuple[str, str]] = []
    total = skipped = 0
    base = workspace.display_path(ws, real)

    def take(name: str, dir_fd: int, shown: str) -> None:
        nonlocal total, skipped
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError:
            skipped += 1
            return
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return
            raw = os.read(fd, GREP_FILE_LIMIT_BYTES)
        finally:
            os.close(fd)
        if b"\x00" in raw[:8192] or total + len(raw) > GREP_TOTAL_LIMIT_BYTES:
            skipped += 1
            return
        total += len(raw)
        files.append((shown, raw.decode("utf-8", errors="replace")))

    with workspace.open_beneath(ws, real, os.O_RDONLY, kind="any") as fd:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raw = os.read(fd, GREP_FILE_LIMIT_BYTES)
            if b"\x00" in raw[:8192]:
                raise ToolError(f"{base} is a binary file.")
            return [(base, raw.decode("utf-8", errors="replace"))], 0
        for step in workspace.walk(fd, max_depth=workspace.MAX_PATH_DEPTH):
            step.dirs[:] = [d for d in step.dirs if not d.startswith(".")]
            for name, info in step.entries:
                if stat.S_ISDIR(info.st_mode) or (glob and not fnmatch.fnmatch(name, glob)):
                    continue
                if len(files) >= GREP_MAX_FILES:
                    return files, skipped
                shown = os.path.normpath(os.path.join(base, step.path, name))
                take(name, step.dir_fd, shown)
    return files, skipped


async def file_grep(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    import re

    try:
        re.compile(args["pattern"])
    except re.error as error:
        raise ToolError(f"Invalid regular expression: {error}.") from None
    ws = await _workspace(ctx)
    files, skipped = await workspace.run_file_op(ctx.user_id, _collect, ws, args.get("path", "."), args.get("glob"))
    job = {
        "pattern": args["pattern"],
        "ignore_case": bool(args.get("ignore_case", False)),
        "max_matches": args.get("max_matches", 100),
        "files": files,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-c",
        _GREP_WORKER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(json.dumps(job).encode()), timeout=GREP_TIMEOUT_SECONDS)
    except (TimeoutError, asyncio.CancelledError):
        process.kill()
        await process.wait()
        raise ToolError(f"The search took longer than {GREP_TIMEOUT_SECONDS:g} seconds and was stopped; simplify the pattern.") from None
    if process.returncode != 0:
        raise ToolError(f"The search failed: {err.decode(errors='replace').strip().splitlines()[-1:]}")
    result = json.loads(out)
    return {"pattern": args["pattern"], **result, "files_searched": len(files), "files_skipped": skipped}


# --- file_delete ----------------------------------------------------------------------


def _delete(ws: Path, path: str, recursive: bool) -> dict[str, Any]:
    # The last component is deleted as named (a symbolic link itself, never its target);
    # only the directory holding it is resolved and confined.
    if "\x00" in path:
        raise ToolError("The path contains a NUL byte.")
    if path.strip("/") in {"", "."}:
        raise ToolError("file_delete needs the path of a file or directory inside the workspace, not the workspace itself.")
    head, name = os.path.split(path.rstrip("/"))
    if name in {".", ".."} or path.rstrip("/") == workspace.SANDBOX_MOUNT:
        raise ToolError("file_delete needs the path of a file or directory inside the workspace, not the workspace itself.")
    parent = workspace.resolve(ws, head or ".", shown=path)
    shown = workspace.display_path(ws, parent / name)
    with workspace.open_beneath(ws, parent, os.O_RDONLY | os.O_DIRECTORY, kind="directory") as parent_fd:
        try:
            info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise ToolError(f"Not found: {shown}.") from None
        except OSError as error:
            raise ToolError(f"Could not delete {shown}: {error.strerror}.") from None
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(name, dir_fd=parent_fd)
            return {"path": shown, "deleted": _kind(info.st_mode), "entries_removed": 1}
        if not recursive:
            try:
                os.rmdir(name, dir_fd=parent_fd)
            except OSError as error:
                if error.errno == errno.ENOTEMPTY:
                    raise ToolError(f"{shown} is a directory that is not empty; set recursive to delete it with its content.") from None
                raise ToolError(f"Could not delete {shown}: {error.strerror}.") from None
            return {"path": shown, "deleted": "directory", "entries_removed": 1}
        try:
            removed = workspace.remove_tree(parent_fd, name)
        except OSError as error:
            raise ToolError(f"Could not delete all of {shown}: {error.strerror}.") from None
    return {"path": shown, "deleted": "directory", "entries_removed": removed}


async def file_delete(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    ws = await _workspace(ctx)
    return await workspace.run_file_op(ctx.user_id, _delete, ws, args["path"], bool(args.get("recursive", False)))


# --- registration ---------------------------------------------------------------------


def register(registry: ToolRegistry) -> None:
    def add(name: str, description: str, properties: dict[str, Any], required: list[str], level: int, handler: Any) -> None:
        registry.register(
            Tool(
                name=name,
                description=description,
                category=ToolCategory.FILE,
                parameters={"type": "object", "properties": properties, "required": required, "additionalProperties": False},
                required_level=level,
                handler=handler,
                timeout=30.0,
            )
        )

    add(
        "file_read",
        "Read a text file from the user's workspace.",
        {
            "path": {**PATH_SCHEMA, "description": "File path, relative to the workspace."},
            "max_bytes": {"type": "integer", "minimum": 1, "maximum": READ_LIMIT_BYTES, "description": "Read at most this many bytes."},
        },
        ["path"],
        READ_ONLY,
        file_read,
    )
    add(
        "file_write",
        "Write (or append) text to a file in the user's workspace; parent directories are created.",
        {
            "path": {**PATH_SCHEMA, "description": "File path, relative to the workspace."},
            "content": {"type": "string", "description": "The text to write."},
            "mode": {"type": "string", "enum": ["overwrite", "append"], "description": "overwrite (default) or append."},
        },
        ["path", "content"],
        WRITE,
        file_write,
    )
    add(
        "file_list",
        "List a directory of the user's workspace.",
        {
            "path": {**PATH_SCHEMA, "description": "Directory, relative to the workspace (default: the workspace)."},
            "recursive": {"type": "boolean", "description": "Include subdirectories."},
        },
        [],
        READ_ONLY,
        file_list,
    )
    add(
        "file_exists",
        "Check whether a file or directory exists in the user's workspace.",
        {"path": {**PATH_SCHEMA, "description": "Path, relative to the workspace."}},
        ["path"],
        READ_ONLY,
        file_exists,
    )
    add(
        "file_delete",
        "Delete a file, or a directory with everything in it (recursive), from the user's workspace.",
        {
            "path": {**PATH_SCHEMA, "description": "File or directory, relative to the workspace."},
            "recursive": {"type": "boolean", "description": "Delete a directory that is not empty, with its content."},
        },
        ["path"],
        WRITE,
        file_delete,
    )
    add(
        "file_grep",
        "Search files of the user's workspace for lines matching a regular expression (Python syntax).",
        {
            "pattern": {"type": "string", "minLength": 1, "maxLength": 1000, "description": "Regular expression."},
            "path": {**PATH_SCHEMA, "description": "File or directory to search (default: the workspace)."},
            "glob": {"type": "string", "maxLength": 200, "description": "Only files whose name matches, e.g. '*.py'."},
            "ignore_case": {"type": "boolean"},
            "max_matches": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
        ["pattern"],
        READ_ONLY,
        file_grep,
    )
