"""Per-user workspaces and the confinement of every file-tool path to one of them.

A workspace is ``LUXX_WORKSPACE_ROOT/<user_id>`` (or the admin-set absolute
``workspace_path``), created on demand. When the server runs as root the directory
belongs to the sandbox uid 65534 (mode 0700) so code in the sandbox can write to it, and
the root is mode 0711 so that uid may reach its own directory without listing the others.

Paths are confined twice: the resolved path (``os.path.realpath``) must lie inside the
workspace by ``os.path.commonpath`` (never a string prefix: /ws/1 is not a parent of
/ws/10), and the file is then opened component by component from the workspace with
``O_NOFOLLOW``, so a symlink swapped in after the check (code in the sandbox can create
them) makes the open fail instead of leading out. Only regular files and directories are
opened (a FIFO would block ``open()`` forever), and never with a path deeper than
``MAX_PATH_DEPTH`` or longer than ``MAX_PATH_LENGTH``.

Code in the sandbox can still make trees of any depth, so nothing here walks a tree by
recursion or keeps a descriptor per level: :func:`walk` goes down and back up with one
descriptor, checking each parent it returns to. File work runs on its own bounded thread
pool (:func:`run_file_op`), never the event loop's default executor, so a slow disk
or a stuck call cannot starve the rest of the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from django.conf import settings

from toolbox.registry import ToolContext, ToolError
from toolbox.sandbox import SANDBOX_GID, SANDBOX_UID

SANDBOX_MOUNT = "/workspace"
MAX_PATH_LENGTH = 1024
MAX_PATH_DEPTH = 64
# The longest name of one file or directory the filesystem takes, in bytes (NAME_MAX).
MAX_NAME_BYTES = 255
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
T = TypeVar("T")


class WorkspaceChanged(OSError):
    """A directory moved while it was being walked (code in the sandbox can do that)."""


def workspace_root() -> Path:
    root = Path(settings.LUXX_WORKSPACE_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        root.chmod(0o711)
    return root


def prepare_sandbox_dir(path: Path) -> None:
    """Create ``path`` and make it the sandbox user's (when we can change owners)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        st = os.stat(path, follow_symlinks=False)
        if (st.st_uid, st.st_gid) != (SANDBOX_UID, SANDBOX_GID):
            os.chown(path, SANDBOX_UID, SANDBOX_GID, follow_symlinks=False)
        path.chmod(0o700)


def workspace_for(ctx: ToolContext) -> Path:
    """The caller's workspace directory, created on demand, as a real (resolved) path."""
    if ctx.workspace_path:
        path = Path(ctx.workspace_path)
        if not path.is_absolute():
            raise ToolError("The workspace path set for this account is not absolute; ask an administrator to fix it.")
        workspace_root()
    else:
        path = workspace_root() / str(ctx.user_id)
    prepare_sandbox_dir(path)
    return Path(os.path.realpath(path))


def quota_bytes() -> int:
    return int(settings.LUXX_WORKSPACE_QUOTA_MB) * 1024 * 1024


def usage_bytes(workspace: Path) -> int:
    """The bytes of everything in the workspace that is not a directory, at any depth.

    Raises :class:`WorkspaceChanged` when a directory moved during the walk."""
    total = 0
    fd = os.open(os.path.realpath(workspace), _DIR_FLAGS)
    try:
        for step in walk(fd):
            total += sum(info.st_size for _name, info in step.entries if not stat.S_ISDIR(info.st_mode))
    finally:
        os.close(fd)
    return total


@dataclass
class WalkStep:
    """One directory of :func:`walk`: its path from the top ("." for the top itself, then
    "./a", "./a/b"), a descriptor valid until the walk goes on, its entries (name and
    lstat, sorted by name) and the names of its subdirectories, which the caller may
    shorten in place to skip some (as with ``os.walk``)."""

    path: str
    dir_fd: int
    entries: list[tuple[str, os.stat_result]]
    dirs: list[str]


@dataclass
class _Frame:
    path: str
    identity: tuple[int, int]
    pending: list[str]


def walk(top_fd: int, *, max_depth: int | None = None) -> Iterator[WalkStep]:
    """Every directory below ``top_fd`` (itself included), depth first, parents first.

    Iterative and with one descriptor of its own whatever the depth: it goes down by
    name (``O_NOFOLLOW``, never through a symbolic link) and back up through "..",
    checking that ".." is the directory it came from (else :class:`WorkspaceChanged`).
    Directories deeper than ``max_depth`` levels below the top are not entered."""
    fd = os.dup(top_fd)
    frames: list[_Frame] = []
    try:
        step = _walk_step(".", fd)
        yield step
        frames.append(_Frame(".", _identity(fd), _pending(step, 0, max_depth)))
        while frames:
            frame = frames[-1]
            if frame.pending:
                name = frame.pending.pop()
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue  # gone, replaced by a non-directory, or unreadable
                os.close(fd)
                fd = child
                step = _walk_step(f"{frame.path}/{name}", fd)
                yield step
                frames.append(_Frame(step.path, _identity(fd), _pending(step, len(frames), max_depth)))
                continue
            frames.pop()
            if frames:
                parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = parent
                if _identity(fd) != frames[-1].identity:
                    raise WorkspaceChanged(errno.ESTALE, "a directory moved during the walk")
    finally:
        os.close(fd)


def remove_tree(parent_fd: int, name: str) -> int:
    """Delete the directory ``name`` of ``parent_fd`` with everything in it, at any
    depth, without recursion and with one descriptor of its own (as :func:`walk`); the
    number of entries removed. Symbolic links are removed, never followed."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    frames = [_Frame(name, _identity(fd), [])]
    removed = 0
    try:
        while frames:
            frame = frames[-1]
            if not frame.pending:
                frame.pending, unlinked = _empty_but_subdirectories(fd)
                removed += unlinked
                if not frame.pending:
                    frames.pop()
                    if not frames:
                        break
                    parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
                    os.close(fd)
                    fd = parent
                    if _identity(fd) != frames[-1].identity:
                        raise WorkspaceChanged(errno.ESTALE, "a directory moved during the deletion")
                    os.rmdir(frame.path, dir_fd=fd)
                    removed += 1
                    continue
            child_name = frame.pending.pop()
            try:
                child = os.open(child_name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                continue
            os.close(fd)
            fd = child
            frames.append(_Frame(child_name, _identity(fd), []))
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)
    return removed + 1


def _empty_but_subdirectories(fd: int) -> tuple[list[str], int]:
    """Unlink everything in the directory ``fd`` but its subdirectories: their names, and
    how many entries were unlinked."""
    info = os.fstat(fd)
    if info.st_mode & 0o700 != 0o700 and info.st_uid == os.geteuid():
        os.fchmod(fd, stat.S_IMODE(info.st_mode) | 0o700)  # made unwritable in the sandbox
    subdirectories: list[str] = []
    unlinked = 0
    with os.scandir(fd) as listing:
        for entry in listing:
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
                unlinked += 1
    return subdirectories, unlinked


def _identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _walk_step(path: str, fd: int) -> WalkStep:
    entries: list[tuple[str, os.stat_result]] = []
    with os.scandir(fd) as listing:
        for entry in listing:
            with contextlib.suppress(OSError):
                entries.append((entry.name, entry.stat(follow_symlinks=False)))
    entries.sort(key=lambda item: item[0])
    return WalkStep(path=path, dir_fd=fd, entries=entries, dirs=[name for name, info in entries if stat.S_ISDIR(info.st_mode)])


def _pending(step: WalkStep, depth: int, max_depth: int | None) -> list[str]:
    # Reversed, so that pop() visits them in order.
    return [] if max_depth is not None and depth >= max_depth else list(reversed(step.dirs))


def resolve(workspace: Path, path: str, *, shown: str | None = None) -> Path:
    """The real path ``path`` names inside ``workspace``; ToolError when it leads out.

    Relative paths are taken from the workspace; absolute ones must lie inside it, and
    ``/workspace/...`` (the sandbox's view) is accepted as an alias."""
    if not isinstance(path, str) or path == "":
        raise ToolError("The path is empty.")
    if "\x00" in path:
        raise ToolError("The path contains a NUL byte.")
    if len(path) > MAX_PATH_LENGTH:
        raise ToolError(f"The path is longer than {MAX_PATH_LENGTH} characters.")
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for part in path.split("/")):
        raise ToolError(f"A file or folder name in the path is longer than {MAX_NAME_BYTES} bytes.")
    root = os.path.realpath(workspace)
    given = path
    if path == SANDBOX_MOUNT or path.startswith(SANDBOX_MOUNT + "/"):
        path = path[len(SANDBOX_MOUNT) :].lstrip("/") or "."
    candidate = path if os.path.isabs(path) else os.path.join(root, path)
    try:
        real = os.path.realpath(candidate)
    except RecursionError:
        # posixpath.realpath recurses once per symbolic link: a long chain made in the sandbox.
        raise ToolError(f"Refused: too many symbolic links in {given}.") from None
    path = shown or given
    if os.path.commonpath([real, root]) != root:
        raise ToolError(f"Access denied: {path} is outside your workspace.")
    if len(relative_parts(workspace, Path(real))) > MAX_PATH_DEPTH:
        raise ToolError(f"The path is more than {MAX_PATH_DEPTH} directories deep.")
    if len(real) - len(root) > MAX_PATH_LENGTH:
        raise ToolError(f"The path is longer than {MAX_PATH_LENGTH} characters.")
    return Path(real)


def relative_parts(workspace: Path, real: Path) -> list[str]:
    rel = os.path.relpath(real, os.path.realpath(workspace))
    return [] if rel == "." else rel.split(os.sep)


Kind = Literal["file", "directory", "any"]


@contextlib.contextmanager
def open_beneath(
    workspace: Path, real: Path, flags: int, *, mode: int = 0o644, create_dirs: bool = False, kind: Kind = "file"
) -> Iterator[int]:
    """Open ``real`` (already checked by :func:`resolve`) walking down from the workspace
    with O_NOFOLLOW at every step; yields the file descriptor.

    Only a regular file (``kind="file"``), a directory, or either (``"any"``) is opened:
    the target's type is checked without following it before the open, and again on the
    descriptor, which is opened with O_NONBLOCK, so a FIFO or a socket swapped in between
    is refused instead of blocking the thread forever."""
    parts = relative_parts(workspace, real)
    fd = os.open(os.path.realpath(workspace), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            if create_dirs:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                    _give_to_sandbox(part, fd)
                except FileExistsError:
                    pass
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        if not parts:
            _check_kind(os.fstat(fd).st_mode, kind, real, workspace)
            yield fd
            return
        existing = _lstat(parts[-1], fd)
        if existing is not None:
            _check_kind(existing.st_mode, kind, real, workspace)
        target = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode, dir_fd=fd)
        try:
            _check_kind(os.fstat(target).st_mode, kind, real, workspace)
            if existing is None and flags & os.O_CREAT:
                _give_to_sandbox(parts[-1], fd)
            yield target
        finally:
            os.close(target)
    except OSError as error:
        raise ToolError(_describe(error, real, workspace)) from None
    finally:
        os.close(fd)


def _check_kind(mode: int, kind: Kind, real: Path, workspace: Path) -> None:
    is_file, is_dir = stat.S_ISREG(mode), stat.S_ISDIR(mode)
    if (kind == "file" and is_file) or (kind == "directory" and is_dir) or (kind == "any" and (is_file or is_dir)):
        return
    shown = display_path(workspace, real)
    if kind == "directory":
        raise ToolError(f"{shown} is not a directory.")
    if is_dir:
        raise ToolError(f"{shown} is a directory.")
    raise ToolError(f"{shown} is not a regular file.")


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _give_to_sandbox(name: str, dir_fd: int) -> None:
    # Files the server writes must stay writable by code in the sandbox (uid 65534).
    if os.geteuid() == 0:
        os.chown(name, SANDBOX_UID, SANDBOX_GID, dir_fd=dir_fd, follow_symlinks=False)


def display_path(workspace: Path, real: Path) -> str:
    parts = relative_parts(workspace, real)
    return "/".join(parts) if parts else "."


def _describe(error: OSError, real: Path, workspace: Path) -> str:
    shown = display_path(workspace, real)
    messages = {
        errno.ENOENT: f"Not found: {shown}.",
        errno.ENOTDIR: f"Not a directory (or a symbolic link was refused) on the way to {shown}.",
        errno.ELOOP: f"Refused: {shown} is a symbolic link.",
        errno.EISDIR: f"{shown} is a directory.",
        errno.EACCES: f"Permission denied: {shown}.",
        errno.ENOSPC: "The disk is full.",
        errno.ENXIO: f"{shown} is not a regular file.",
        errno.ENAMETOOLONG: f"The path {shown} is too long.",
    }
    return messages.get(error.errno or 0, f"Could not open {shown}: {error.strerror}.")


# --- the file tools' own threads --------------------------------------------------------


class _UserSlots:
    """At most ``per_user`` file operations of one user at a time. A slot is freed when
    the operation's thread finishes, not when its caller gives up waiting, so calls that
    hang (a slow disk) use up their own user's slots and no one else's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[int, int] = {}

    def try_take(self, user_id: int, per_user: int) -> bool:
        with self._lock:
            if self._busy.get(user_id, 0) >= per_user:
                return False
            self._busy[user_id] = self._busy.get(user_id, 0) + 1
            return True

    def free(self, user_id: int) -> None:
        with self._lock:
            left = self._busy.get(user_id, 1) - 1
            if left:
                self._busy[user_id] = left
            else:
                self._busy.pop(user_id, None)


_slots = _UserSlots()
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _file_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=int(settings.LUXX_FILE_TOOL_THREADS), thread_name_prefix="luxx-files"
            )
        return _executor


async def run_file_op(user_id: int, function: Callable[..., T], *args: Any) -> T:
    """Run ``function(*args)`` on the file tools' thread pool (``LUXX_FILE_TOOL_THREADS``
    threads, at most half of them for one user), off the event loop's default executor.
    Waits for a slot of the user's as long as the caller lets it (the tool's time limit)."""
    per_user = max(1, int(settings.LUXX_FILE_TOOL_THREADS) // 2)
    # Polled, not an asyncio primitive: slots are freed from pool threads, and callers
    # may be on different event loops (sync views reach tools through async_to_sync).
    while True:
        if _slots.try_take(user_id, per_user):
            break
        await asyncio.sleep(0.02)
    try:
        future = _file_executor().submit(function, *args)
    except BaseException:
        _slots.free(user_id)
        raise
    future.add_done_callback(lambda _done: _slots.free(user_id))
    return await asyncio.wrap_future(future)


async def workspace_for_async(ctx: ToolContext) -> Path:
    """See workspace_for()."""
    return await run_file_op(ctx.user_id, workspace_for, ctx)
