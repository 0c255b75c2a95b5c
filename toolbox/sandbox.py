"""The sandbox that runs model-written code and shell commands.

Every run is a bubblewrap container with all namespaces unshared (no network, own PIDs,
own mounts, no further user namespaces), a read-only /usr, a generated minimal /etc, a
size-limited tmpfs /tmp and the user's workspace read-write at /workspace. The program
text travels on stdin, the environment is cleared.

Resource limits are real even though the server usually runs as root: the command line
is ``setpriv --reuid=65534 ... prlimit ... -- bwrap ...``, so bwrap itself starts as the
unprivileged uid 65534 with the rlimits already set. Root ignores RLIMIT_NPROC; uid 65534
does not, so a fork bomb stops at the limit. bwrap then needs unprivileged user
namespaces, which the start-up probe checks. When the server runs as an ordinary user,
setpriv is skipped and the same rlimits apply to that user.

Nothing ever runs unsandboxed: when the probe fails the code and shell tools report
themselves unavailable and refuse to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from luxx import metrics

logger = logging.getLogger(__name__)

SANDBOX_UID = 65534
SANDBOX_GID = 65534
SANDBOX_PYTHON = "/usr/bin/python3"
OUTPUT_LIMIT_BYTES = 1024 * 1024
TRUNCATION_MARKER = "\n…[output truncated: more than 1 MiB]"
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# Debian's merged-/usr layout: these top-level names are symlinks into /usr.
USR_SYMLINKS = ("bin", "lib", "lib64", "sbin")
# What python3 and the shells need from /etc; everything else (shadow, ssh keys, the
# host's passwd with its accounts) stays out.
COPIED_ETC_FILES = ("ld.so.cache", "localtime")


class SandboxUnavailable(Exception):
    """No working sandbox on this server; the caller must refuse to run the code."""


class SandboxBusy(Exception):
    """Too many sandbox runs at once for this user or for the server."""


@dataclass(frozen=True)
class SandboxLimits:
    timeout: float
    memory_bytes: int
    cpu_seconds: int
    file_size_bytes: int
    open_files: int
    processes: int
    tmp_size_bytes: int
    output_bytes: int = OUTPUT_LIMIT_BYTES

    @classmethod
    def from_settings(cls, *, timeout: float | None = None) -> SandboxLimits:
        limit = float(settings.LUXX_SANDBOX_TIMEOUT_SECONDS)
        wall = min(timeout, limit) if timeout else limit
        return cls(
            timeout=wall,
            memory_bytes=int(getattr(settings, "LUXX_SANDBOX_MEMORY_MB", 1024)) * 1024 * 1024,
            # CPU time is a second line of defence behind the wall clock.
            cpu_seconds=math.ceil(wall) + 1,
            file_size_bytes=int(getattr(settings, "LUXX_SANDBOX_MAX_FILE_MB", 64)) * 1024 * 1024,
            open_files=256,
            processes=int(getattr(settings, "LUXX_SANDBOX_MAX_PROCESSES", 64)),
            tmp_size_bytes=64 * 1024 * 1024,
        )


@dataclass(frozen=True)
class SandboxResult:
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    truncated: bool
    duration_ms: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _drops_privileges() -> bool:
    return os.geteuid() == 0


_ETC_FILES = {
    "passwd": "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:sandbox:/workspace:/usr/sbin/nologin\n",
    "group": "root:x:0:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    "hostname": "sandbox\n",
}


@dataclass(frozen=True)
class _EtcContents:
    files: dict[str, bytes]
    links: dict[str, str]  # alternatives/<name> -> target
    dirs: tuple[str, ...] = ()  # empty mount points

    @functools.cached_property
    def digest(self) -> str:
        hasher = hashlib.sha256()
        for name, data in sorted(self.files.items()):
            hasher.update(f"f {name} {len(data)}\n".encode() + data)
        for name, target in sorted(self.links.items()):
            hasher.update(f"l {name} {target}\n".encode())
        for name in self.dirs:
            hasher.update(f"d {name}\n".encode())
        return hasher.hexdigest()[:16]


@functools.cache
def _etc_contents(network: bool = False) -> _EtcContents:
    """What the sandbox's /etc holds: only what python3 and sh need, read once per process.

    A run with network also gets the host's resolv.conf, DNS in nsswitch.conf, and a
    mount point for the host's /etc/ssl (CA certificates)."""
    files = {name: text.encode() for name, text in _ETC_FILES.items()}
    for name in COPIED_ETC_FILES:
        source = Path("/etc") / name
        if source.is_file():
            files[name] = source.read_bytes()
    dirs: tuple[str, ...] = ()
    if network:
        files["nsswitch.conf"] = b"passwd: files\ngroup: files\nhosts: files dns\n"
        if Path("/etc/resolv.conf").is_file():
            files["resolv.conf"] = Path("/etc/resolv.conf").read_bytes()  # through a systemd-resolved link
        dirs = ("ssl",)
    links: dict[str, str] = {}
    # Debian points awk, editor, ... at /etc/alternatives; keep those links (targets in /usr).
    alternatives = Path("/etc/alternatives")
    if alternatives.is_dir():
        for entry in alternatives.iterdir():
            if entry.is_symlink():
                with contextlib.suppress(OSError):
                    links[entry.name] = os.readlink(entry)
    return _EtcContents(files=files, links=links, dirs=dirs)


def sandbox_etc_dir(*, network: bool = False) -> Path:
    """The generated /etc, kept once per workspace root (which uid 65534 can reach, as
    bwrap runs as that user), not in the system temp folder.

    Its name carries a digest of its contents, so a process never mounts a stale copy (after
    an upgrade changed ld.so.cache, say) and processes starting at once agree: each builds
    its copy aside and renames it into place, and a rename that finds the directory made
    by another process keeps that one."""
    from toolbox.workspace import workspace_root

    contents = _etc_contents(network=True) if network else _etc_contents()
    parent = workspace_root()
    target = parent / f".sandbox-etc-{contents.digest}"
    if target.is_dir():
        return target
    scratch = Path(tempfile.mkdtemp(prefix=".sandbox-etc-new-", dir=parent))
    try:
        for name, data in contents.files.items():
            (scratch / name).write_bytes(data)
            (scratch / name).chmod(0o644)
        if contents.links:
            (scratch / "alternatives").mkdir()
            (scratch / "alternatives").chmod(0o755)
            for name, link in contents.links.items():
                (scratch / "alternatives" / name).symlink_to(link)
        for name in contents.dirs:
            (scratch / name).mkdir()
            (scratch / name).chmod(0o755)
        scratch.chmod(0o755)
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def build_command(
    *,
    argv: list[str],
    workspace: Path,
    limits: SandboxLimits,
    network: bool = False,
    read_only_paths: Sequence[Path] = (),
    inherit_env: bool = False,
) -> list[str]:
    """The full command line: privilege drop, rlimits, then bwrap around ``argv``.

    ``network`` shares the host's network namespace (an administrator's choice for MCP
    servers that call an API; loopback services of the host are then reachable too).
    ``read_only_paths`` are host paths mounted read-only at the same place (a program
    installed outside /usr). With ``inherit_env`` the run gets the environment the caller
    starts the command with, which the caller must build entirely (secrets then never
    appear on a command line); otherwise the environment is cleared and set here."""
    command: list[str] = []
    if _drops_privileges():
        command += ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups", "--"]
    processes = limits.processes
    if not _drops_privileges():
        # RLIMIT_NPROC counts every task of the real uid; for an ordinary user that
        # includes the server's own threads, so the budget starts from what exists.
        processes += _task_count(os.getuid())
    command += [
        "prlimit",
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        f"--nproc={processes}",
        "--core=0",
        "--",
        "bwrap",
        "--unshare-all",
        *(["--share-net"] if network else []),
        # --unshare-all only *tries* the user namespace; require it, then forbid nesting.
        "--unshare-user",
        "--disable-userns",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--die-with-parent",
        "--new-session",
        # The program itself is PID 1 and bwrap's direct child, so bwrap reaps it; with
        # bwrap's own init in between, that init outlives bwrap as an orphan zombie.
        # When PID 1 exits the kernel kills everything left in the namespace.
        "--as-pid-1",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in USR_SYMLINKS:
        if os.path.islink(f"/{name}"):
            command += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif os.path.isdir(f"/{name}"):
            command += ["--ro-bind", f"/{name}", f"/{name}"]
    command += [
        "--ro-bind",
        str(sandbox_etc_dir(network=network)),
        "/etc",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits.tmp_size_bytes),
        "--tmpfs",
        "/tmp",
        "--bind",
        str(workspace),
        "/workspace",
    ]
    if network and os.path.isdir("/etc/ssl"):
        command += ["--ro-bind", "/etc/ssl", "/etc/ssl"]
    for path in read_only_paths:
        command += ["--ro-bind", str(path), str(path)]
    # bwrap's root is a writable, unlimited tmpfs; only /tmp (sized) and /workspace stay writable.
    command += ["--remount-ro", "/", "--chdir", "/workspace"]
    if not inherit_env:
        command.append("--clearenv")
        for name, value in sandbox_environment().items():
            command += ["--setenv", name, value]
    command += ["--", *argv]
    return command


def sandbox_environment() -> dict[str, str]:
    """The environment of a sandboxed run (nothing of the server's)."""
    return {"PATH": SANDBOX_PATH, "HOME": "/workspace", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": "/tmp"}


def _task_count(uid: int) -> int:
    import psutil

    count = 0
    for process in psutil.process_iter(["uids", "num_threads"]):
        info = process.info
        if info.get("uids") and info["uids"].real == uid:
            count += info.get("num_threads") or 1
    return count


# --- concurrency ----------------------------------------------------------------------


class _Limiter:
    """A global and a per-user cap on concurrent runs.

    Not asyncio semaphores: sync API views reach tool_execute through async_to_sync,
    which may run each call on its own event loop, and an asyncio semaphore is bound to
    one loop. A lock-protected counter with short polling works across loops and threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._per_user: dict[int, int] = {}

    def _try_acquire(self, user_id: int, max_total: int, max_user: int) -> bool:
        with self._lock:
            if self._total >= max_total or self._per_user.get(user_id, 0) >= max_user:
                return False
            self._total += 1
            self._per_user[user_id] = self._per_user.get(user_id, 0) + 1
            return True

    def release(self, user_id: int) -> None:
        with self._lock:
            self._total -= 1
            left = self._per_user.get(user_id, 1) - 1
            if left:
                self._per_user[user_id] = left
            else:
                self._per_user.pop(user_id, None)

    async def acquire(self, user_id: int, *, wait: float) -> None:
        deadline = time.monotonic() + wait
        max_total = int(settings.LUXX_SANDBOX_MAX_CONCURRENT)
        max_user = int(settings.LUXX_SANDBOX_MAX_PER_USER)
        while not self._try_acquire(user_id, max_total, max_user):
            if time.monotonic() >= deadline:
                raise SandboxBusy("Too many code runs at once; try again in a moment.")
            await asyncio.sleep(0.02)

    @property
    def running(self) -> int:
        return self._total


limiter = _Limiter()


# --- running --------------------------------------------------------------------------


# A watcher beside a run: returns when the run must stop, with the reason shown to the
# model (e.g. the workspace went over its quota); it is cancelled when the run ends first.
Guard = Callable[[], Awaitable[str]]


async def run_sandboxed(
    *,
    argv: list[str],
    stdin: bytes,
    workspace: Path,
    user_id: int,
    limits: SandboxLimits | None = None,
    guard: Guard | None = None,
) -> SandboxResult:
    """Run ``argv`` inside the sandbox with ``stdin`` as its input.

    Raises :class:`SandboxUnavailable` when no sandbox works (never runs unsandboxed) and
    :class:`SandboxBusy` when the concurrency limits stay full."""
    available, reason = sandbox_availability()
    if not available:
        metrics.SANDBOX_RUNS.labels(outcome="unavailable").inc()
        raise SandboxUnavailable(reason)
    limits = limits or SandboxLimits.from_settings()
    try:
        await limiter.acquire(user_id, wait=limits.timeout)
    except SandboxBusy:
        metrics.SANDBOX_RUNS.labels(outcome="busy").inc()
        raise
    try:
        result = await _run(build_command(argv=argv, workspace=workspace, limits=limits), stdin, limits, guard)
    finally:
        limiter.release(user_id)
    outcome = "timeout" if result.timed_out else "success" if result.exit_code == 0 else "error"
    metrics.SANDBOX_RUNS.labels(outcome=outcome).inc()
    return result


async def _run(command: list[str], stdin: bytes, limits: SandboxLimits, guard: Guard | None = None) -> SandboxResult:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Its own process group, so one killpg reaches setpriv/prlimit/bwrap; bwrap's
        # --die-with-parent then takes the whole PID namespace with it.
        start_new_session=True,
        # Nothing of the server's environment reaches even the outer bwrap.
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    budget = [limits.output_bytes]
    truncated = asyncio.Event()
    buffers: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}

    async def pump(name: str, stream: asyncio.StreamReader) -> None:
        # Past the budget keep reading and discarding until the kill closes the pipe:
        # a pipe nobody drains would keep the process (and process.wait()) alive.
        while chunk := await stream.read(65536):
            kept = chunk[: max(budget[0], 0)]
            budget[0] -= len(kept)
            buffers[name] += kept
            if len(kept) < len(chunk):
                truncated.set()

    async def feed() -> None:
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(stdin)
            await process.stdin.drain()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            process.stdin.close()

    assert process.stdout is not None and process.stderr is not None
    pumps: asyncio.Future[Any] = asyncio.gather(pump("stdout", process.stdout), pump("stderr", process.stderr), feed())
    overflow: asyncio.Future[Any] = asyncio.ensure_future(truncated.wait())
    watcher: asyncio.Future[str] = asyncio.ensure_future(guard()) if guard else asyncio.get_running_loop().create_future()
    timed_out = False
    stopped_because = ""
    try:
        done, _ = await asyncio.wait({pumps, overflow, watcher}, timeout=limits.timeout, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            timed_out = True
            await _kill_and_reap(process)
        elif overflow in done:
            await _kill_and_reap(process)
        elif watcher in done and pumps not in done:
            stopped_because = watcher.result()
            await _kill_and_reap(process)
        await asyncio.wait_for(process.wait(), timeout=5)
    except BaseException:
        # Cancelled (e.g. the registry's own time limit) or anything else: never leave
        # a sandbox behind.
        _kill(process)
        raise
    finally:
        overflow.cancel()
        watcher.cancel()
        pumps.cancel()
        with contextlib.suppress(BaseException):
            await pumps
        with contextlib.suppress(BaseException):
            await watcher
    stdout = buffers["stdout"].decode("utf-8", errors="replace")
    stderr = buffers["stderr"].decode("utf-8", errors="replace")
    if truncated.is_set():
        stdout += TRUNCATION_MARKER
    if timed_out:
        notice = f"[killed: the time limit of {limits.timeout:g} seconds was reached]"
        stderr = f"{stderr}\n{notice}" if stderr else notice
    if stopped_because:
        notice = f"[killed: {stopped_because}]"
        stderr = f"{stderr}\n{notice}" if stderr else notice
    return SandboxResult(
        stdout=stdout,
        stderr=stderr,
        exit_code=None if timed_out or stopped_because else process.returncode,
        timed_out=timed_out,
        truncated=truncated.is_set(),
        duration_ms=int((time.perf_counter() - started) * 1000),
    )


def _kill_children(process: asyncio.subprocess.Process) -> None:
    import psutil

    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(process.pid).children():
            with contextlib.suppress(psutil.Error):
                child.kill()


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _kill_and_reap(process: asyncio.subprocess.Process) -> None:
    """Kill the sandbox's PID 1 and give bwrap a moment to reap it and exit by itself,
    then kill the whole process group for good. Killing bwrap before it has reaped its
    PID 1 orphans that zombie to the machine's init, where it lingers (and counts against
    the sandbox uid's process limit) unless init reaps it: a loaded CI machine's did not."""
    _kill_children(process)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(process.wait()), timeout=1)
    _kill_group(process)


def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the sandbox at once, without waiting (a cancelled run): its PID 1 first, then
    the whole process group."""
    _kill_children(process)
    _kill_group(process)


# --- availability ---------------------------------------------------------------------


@functools.cache
def sandbox_availability() -> tuple[bool, str]:
    """Whether the sandbox works here, probed once per process by running python3 in it."""
    for binary in ("bwrap", "prlimit") + (("setpriv",) if _drops_privileges() else ()):
        if shutil.which(binary) is None:
            package = "bubblewrap" if binary == "bwrap" else "util-linux"
            return False, f"{binary} is not installed (apt-get install {package})."
    if not os.access(SANDBOX_PYTHON, os.X_OK):
        return False, f"{SANDBOX_PYTHON} is missing (apt-get install python3)."
    try:
        return _probe()
    except Exception as error:  # any failure means "unavailable", with the reason
        logger.warning("Sandbox probe failed", exc_info=True)
        return False, f"The sandbox probe failed: {error}"


def _probe() -> tuple[bool, str]:
    from toolbox.workspace import prepare_sandbox_dir, workspace_root

    root = workspace_root()
    probe_dir = root / ".sandbox-probe"
    prepare_sandbox_dir(probe_dir)
    limits = SandboxLimits.from_settings(timeout=15)
    command = build_command(argv=[SANDBOX_PYTHON, "-I", "-c", "print('ok')"], workspace=probe_dir, limits=limits)
    import subprocess

    completed = subprocess.run(command, capture_output=True, timeout=20, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, check=False)
    if completed.returncode == 0 and completed.stdout.strip() == b"ok":
        return True, ""
    detail = completed.stderr.decode(errors="replace").strip().splitlines()
    hint = detail[-1] if detail else f"exit status {completed.returncode}"
    if "ermission denied" in hint or "No permissions" in hint:
        hint += (
            f" (bwrap runs as uid {SANDBOX_UID}: unprivileged user namespaces must be enabled and every "
            f"parent directory of the workspace root {root} must be searchable by that uid)"
        )
    return False, f"bubblewrap does not work here: {hint}"


def check_available() -> tuple[bool, str]:
    """The code and shell tools' availability check (looks the probe up at call time)."""
    return sandbox_availability()


def reset_availability_cache() -> None:
    """Forget the probe's answer (tests, or after installing bubblewrap)."""
    sandbox_availability.cache_clear()
