"""Sandbox figures: start-up overhead and throughput.

    .venv/bin/python bench/sandbox.py

Prints the median wall time of 50 runs of an empty Python program inside the sandbox
(setpriv + prlimit + bwrap + /usr/bin/python3) against /usr/bin/python3 alone, then how
many sandbox runs complete per second with several in flight, pinned to 2 CPU cores.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

RUNS = 50
CONCURRENT_RUNS = 80
CORES = 2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
root = Path(tempfile.mkdtemp(prefix="luxx-bench-ws-"))
root.chmod(0o711)
os.environ.update(
    DJANGO_SETTINGS_MODULE="luxx.settings",
    LUXX_WORKSPACE_ROOT=str(root),
    LUXX_SANDBOX_MAX_CONCURRENT="8",
    LUXX_SANDBOX_MAX_PER_USER="8",
)

import django  # noqa: E402

django.setup()

from toolbox import sandbox  # noqa: E402
from toolbox.workspace import prepare_sandbox_dir  # noqa: E402


async def plain_python() -> float:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(sandbox.SANDBOX_PYTHON, "-I", "-c", "pass")
    await process.wait()
    return time.perf_counter() - started


async def sandboxed_python(workspace: Path, user_id: int = 1) -> float:
    started = time.perf_counter()
    result = await sandbox.run_sandboxed(argv=[sandbox.SANDBOX_PYTHON, "-I", "-c", "pass"], stdin=b"", workspace=workspace, user_id=user_id)
    assert result.exit_code == 0, result
    return time.perf_counter() - started


async def main() -> None:
    available, reason = sandbox.sandbox_availability()
    if not available:
        sys.exit(f"The sandbox is unavailable: {reason}")
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    workspace = root / "1"
    prepare_sandbox_dir(workspace)

    plain = [await plain_python() for _ in range(RUNS)]
    boxed = [await sandboxed_python(workspace) for _ in range(RUNS)]
    plain_ms = statistics.median(plain) * 1000
    boxed_ms = statistics.median(boxed) * 1000
    print(f"empty program, median of {RUNS}: python3 {plain_ms:.1f} ms, sandboxed {boxed_ms:.1f} ms, overhead {boxed_ms - plain_ms:.1f} ms")

    started = time.perf_counter()
    await asyncio.gather(*(sandboxed_python(workspace, user_id=i % 8) for i in range(CONCURRENT_RUNS)))
    elapsed = time.perf_counter() - started
    print(f"{CONCURRENT_RUNS} runs, 8 in flight, on {CORES} cores: {CONCURRENT_RUNS / elapsed:.1f} sandbox runs per second")


if __name__ == "__main__":
    asyncio.run(main())
