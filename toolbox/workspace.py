"""Per-user workspaces and the confinement of every file-tool path to one of them.

A workspace is ``LUXX_WORKSPACE_ROOT/<user_id>`` (or the admin-set absolute
``workspace_path``), created on demand. When the server runs as root the directory
belongs to the sandbox uid 65534 (mode 0700) so code in the sandbox can write to it, and
the root is mode 0711 so that uid may reach its own directory without listing the others.

Paths are confined twice: the resolved path (``os.path.realpath``) must lie inside the
workspace by ``os.path.commonpath`` (never a string prefix: /ws/1 is not a parent of
/ws/10), and the file is then opened component by component from the workspace with
``O_NOFOLLOW``, so a symlink swapped in after the check (code in the sandbox can create
them) makes the open fail instead of leading out.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from toolbox.registry import ToolContext, ToolError
from toolbox.sandbox import SANDBOX_GID, SANDBOX_UID

SANDBOX_MOUNT = "/workspace"
MAX_PATH_LENGTH = 4096


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
    total = 0
    for dirpath, _dirs, files, dir_fd in os.fwalk(workspace, follow_symlinks=False):
        del dirpath
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_size
    return total


def resolve(workspace: Path, path: str) -> Path:
    """The real path ``path`` names inside ``workspace``; ToolError when it leads out.

    Relative paths are taken from the workspace; absolute ones must lie inside it, and
    ``/workspace/...`` (the sandbox's view) is accepted as an alias."""
    if not isinstance(path, str) or path == "":
        raise ToolError("The path is empty.")
    if "\x00" in path:
        raise ToolError("The path contains a NUL byte.")
    if len(path) > MAX_PATH_LENGTH:
        raise ToolError("The path is too long.")
    root = os.path.realpath(workspace)
    given = path
    if path == SANDBOX_MOUNT or path.startswith(SANDBOX_MOUNT + "/"):
        path = path[len(SANDBOX_MOUNT) :].lstrip("/") or "."
    candidate = path if os.path.isabs(path) else os.path.join(root, path)
    real = os.path.realpath(candidate)
    path = given
    if os.path.commonpath([real, root]) != root:
        raise ToolError(f"Access denied: {path} is outside your workspace.")
    return Path(real)


def relative_parts(workspace: Path, real: Path) -> list[str]:
    rel = os.path.relpath(real, os.path.realpath(workspace))
    return [] if rel == "." else rel.split(os.sep)


@contextlib.contextmanager
def open_beneath(workspace: Path, real: Path, flags: int, *, mode: int = 0o644, create_dirs: bool = False) -> Iterator[int]:
    """Open ``real`` (already checked by :func:`resolve`) walking down from the workspace
    with O_NOFOLLOW at every step; yields the file descriptor."""
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
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        if not parts:
            yield fd
            return
        created = bool(flags & os.O_CREAT) and not _exists(parts[-1], fd)
        target = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
        try:
            if created:
                _give_to_sandbox(parts[-1], fd)
            yield target
        finally:
            os.close(target)
    except OSError as error:
        raise ToolError(_describe(error, real, workspace)) from None
    finally:
        os.close(fd)


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _give_to_sandbox(name: str, dir_fd: int) -> None:
    # Files the server writes must stay writable by code in the sandbox (uid 65534).
    if os.geteuid() == 0:
        os.chown(name, SANDBOX_UID, SANDBOX_GID, dir_fd=dir_fd, follow_symlinks=False)


def display_path(workspace: Path, real: Path) -> str:
    parts = relative_parts(workspace, real)
    return "/".join(parts) if parts else "."


def _describe(error: OSError, real: Path, workspace: Path) -> str:
    shown = display_path(workspace, real)
    import errno

    messages = {
        errno.ENOENT: f"Not found: {shown}.",
        errno.ENOTDIR: f"Not a directory (or a symbolic link was refused) on the way to {shown}.",
        errno.ELOOP: f"Refused: {shown} is a symbolic link.",
        errno.EISDIR: f"{shown} is a directory.",
        errno.EACCES: f"Permission denied: {shown}.",
        errno.ENOSPC: "The disk is full.",
    }
    return messages.get(error.errno or 0, f"Could not open {shown}: {error.strerror}.")
