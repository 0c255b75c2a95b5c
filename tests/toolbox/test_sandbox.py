"""The code and shell tools, and every way out of the sandbox we could think of."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from accounts.models import PermissionLevel
from tests.toolbox.conftest import Listener, call, leftover_sandbox_pids, make_ctx, requires_sandbox, sandbox_pids
from toolbox import sandbox
from toolbox.checks import sandbox_check
from toolbox.workspace import prepare_sandbox_dir

pytestmark = [pytest.mark.django_db(transaction=True), requires_sandbox]


async def run_python(code: str, **extra: Any) -> dict[str, Any]:
    ctx = await make_ctx()
    outcome, result = await call("python_execute", {"code": code, **extra}, ctx)
    assert outcome.success, result
    return result


# --- normal behaviour -----------------------------------------------------------------


async def test_python_execute_returns_stdout_stderr_and_exit_code() -> None:
    result = await run_python("import sys\nprint('hello', 6 * 7)\nprint('warn', file=sys.stderr)\nsys.exit(3)")

    assert result["stdout"] == "hello 42\n"
    assert result["stderr"] == "warn\n"
    assert result["exit_code"] == 3
    assert result["timed_out"] is False
    assert result["truncated"] is False


async def test_python_execute_runs_as_nobody_in_the_workspace_with_a_clean_environment() -> None:
    result = await run_python("import os, sys; print(os.getuid(), os.getgid(), os.getcwd(), sys.executable); print(sorted(os.environ))")

    assert result["stdout"].splitlines() == [
        "65534 65534 /workspace /usr/bin/python3",
        "['HOME', 'LANG', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'TMPDIR']",
    ]


async def test_files_written_by_code_are_in_the_users_workspace(workspace_root: Path) -> None:
    ctx = await make_ctx()

    await call("python_execute", {"code": "open('out.txt', 'w').write('from the sandbox')"}, ctx)
    _outcome, result = await call("file_read", {"path": "out.txt"}, ctx)

    assert (workspace_root / str(ctx.user_id) / "out.txt").read_text() == "from the sandbox"
    assert result["content"] == "from the sandbox"


async def test_python_eval_returns_the_repr_of_the_expression() -> None:
    ctx = await make_ctx()

    outcome, result = await call("python_eval", {"expression": "[2**100, 'a' * 3, math.floor(2.5)]"}, ctx)

    assert outcome.success
    assert result == {
        "expression": "[2**100, 'a' * 3, math.floor(2.5)]",
        "result": "[1267650600228229401496703205376, 'aaa', 2]",
        "type": "list",
        "stdout": "",
    }


async def test_python_eval_reports_an_error_as_a_failed_result() -> None:
    ctx = await make_ctx()

    outcome, result = await call("python_eval", {"expression": "1 / 0"}, ctx)

    assert outcome.success is False
    assert result == {"error": "ZeroDivisionError: division by zero"}


async def test_shell_execute_runs_a_script_in_the_workspace() -> None:
    ctx = await make_ctx()

    outcome, result = await call("shell_execute", {"command": "echo one > f.txt\ncat f.txt | tr a-z A-Z\npwd\nexit 4"}, ctx)

    assert outcome.success
    assert result["stdout"] == "ONE\n/workspace\n"
    assert result["exit_code"] == 4


async def test_200_kb_of_code_runs() -> None:
    code = "x = 0\n" + "x += 1\n" * 30_000 + "print(x)\n"
    assert len(code) > 200_000

    result = await run_python(code)

    assert result["stdout"] == "30000\n"


# --- escapes --------------------------------------------------------------------------


async def test_etc_shadow_is_not_there() -> None:
    result = await run_python("import os\nprint(sorted(os.listdir('/etc')))\nopen('/etc/shadow')")

    assert "shadow" not in result["stdout"]
    assert "FileNotFoundError" in result["stderr"]
    assert result["exit_code"] == 1


SETTINGS_FILE = Path(__file__).resolve().parents[2] / "luxx" / "settings.py"


def _exists_on_host(*paths: str) -> bool:
    return any(os.path.lexists(p) for p in paths)


async def test_the_projects_settings_file_cannot_be_read() -> None:
    assert _exists_on_host(str(SETTINGS_FILE))

    result = await run_python(f"print(open({str(SETTINGS_FILE)!r}).read())")

    assert result["stdout"] == ""
    assert "FileNotFoundError" in result["stderr"]


async def test_another_users_workspace_cannot_be_read(workspace_root: Path) -> None:
    victim = await make_ctx()
    await call("file_write", {"path": "secret.txt", "content": "victim data"}, victim)
    secret = workspace_root / str(victim.user_id) / "secret.txt"
    assert secret.read_text() == "victim data"

    result = await run_python(
        "import os\n"
        f"for p in [{str(secret)!r}, '/workspace/../{victim.user_id}/secret.txt', '../{victim.user_id}/secret.txt']:\n"
        "    try:\n        print(open(p).read())\n    except OSError as e:\n        print(type(e).__name__)\n"
        "print(os.listdir('/'))"
    )

    assert "victim data" not in result["stdout"]
    assert result["stdout"].splitlines()[:3] == ["FileNotFoundError"] * 3


async def test_nothing_outside_the_workspace_is_writable() -> None:
    result = await run_python(
        "for p in ['/usr/evil', '/etc/evil', '/evil', '/proc/evil']:\n"
        "    try:\n        open(p, 'w').write('x'); print('wrote', p)\n    except OSError as e:\n        print(type(e).__name__)\n"
    )

    assert "wrote" not in result["stdout"]
    assert not _exists_on_host("/usr/evil", "/etc/evil", "/evil")


async def test_server_secrets_are_not_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUXX_FAKE_SECRET_KEY", "s3cr3t-do-not-leak")

    result = await run_python("import os; print(os.environ); print(open('/proc/1/environ', 'rb').read())")

    assert "LUXX_FAKE_SECRET_KEY" not in result["stdout"]
    assert "s3cr3t-do-not-leak" not in result["stdout"] + result["stderr"]


async def test_tcp_udp_and_unix_sockets_reach_nothing(listener: Listener, tmp_path: Path) -> None:
    import socket

    unix_path = tmp_path / "server.sock"
    unix_server = socket.socket(socket.AF_UNIX)
    unix_server.bind(str(unix_path))
    unix_server.listen(1)
    unix_server.settimeout(0.1)
    code = f"""
import socket
def attempt(label, fn):
    try:
        fn(); print(label, 'connected')
    except OSError as e:
        print(label, type(e).__name__)
attempt('tcp', lambda: socket.create_connection(('127.0.0.1', {listener.port}), timeout=2))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
attempt('udp', lambda: u.sendto(b'x', ('127.0.0.1', {listener.udp_port})))
attempt('unix', lambda: socket.socket(socket.AF_UNIX).connect({str(unix_path)!r}))
attempt('dns', lambda: socket.getaddrinfo('example.com', 80))
"""
    result = await run_python(code)
    await asyncio.sleep(0.3)

    lines = result["stdout"].splitlines()
    assert lines[0] == "tcp ConnectionRefusedError"
    assert lines[1] in {"udp connected", "udp OSError"}  # a datagram may leave... into an empty namespace
    assert lines[2] == "unix FileNotFoundError"
    assert lines[3] == "dns gaierror"
    assert listener.connections == 0
    assert listener.datagrams == 0
    with pytest.raises(TimeoutError):
        unix_server.accept()
    unix_server.close()


async def test_the_server_process_cannot_be_signalled() -> None:
    result = await run_python(f"import os, signal\nos.kill({os.getpid()}, signal.SIGTERM)")

    assert "ProcessLookupError" in result["stderr"]


@pytest.mark.serial
async def test_an_infinite_loop_and_a_sleep_time_out_and_leave_no_process() -> None:
    before = sandbox_pids()
    loop = await run_python("while True:\n    pass", timeout=1)
    sleep = await run_python("import time\ntime.sleep(60)", timeout=1)

    assert loop["timed_out"] is True and loop["exit_code"] is None
    assert sleep["timed_out"] is True
    assert "time limit of 1 seconds" in sleep["stderr"]
    assert await leftover_sandbox_pids(before) == set()


@pytest.mark.serial
async def test_a_fork_bomb_is_refused_at_the_limit_and_the_server_stays_responsive() -> None:
    code = """
import os, time
children = 0
try:
    for _ in range(1000):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as e:
    print('refused after', children, e.strerror)
"""
    before = sandbox_pids()
    started = time.perf_counter()

    bomb, longest_gap = await asyncio.gather(run_python(code, timeout=10), _longest_tick_gap(1.0))

    assert bomb["stdout"].startswith("refused after ")
    assert int(bomb["stdout"].split()[2]) < 64
    # The event loop kept turning while the bomb ran: no wait for it blocked the loop (a
    # blocking wait would hold it for seconds; 50 ms ticks come late only by load).
    assert longest_gap < 0.5
    assert time.perf_counter() - started < 10
    after = await run_python("print('still works')")
    assert after["stdout"] == "still works\n"
    assert await leftover_sandbox_pids(before) == set()


async def _longest_tick_gap(seconds: float) -> float:
    """Tick every 50 ms for ``seconds``; answer the longest time between two ticks."""
    longest = 0.0
    last = time.perf_counter()
    deadline = last + seconds
    while last < deadline:
        await asyncio.sleep(0.05)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return longest


async def test_a_3_gib_allocation_raises_memory_error() -> None:
    result = await run_python("try:\n    b = bytearray(3 * 1024**3)\nexcept MemoryError:\n    print('MemoryError')")

    assert result["stdout"] == "MemoryError\n"


async def test_endless_output_is_cut_at_1_mib_and_the_program_killed(workspace_root: Path) -> None:
    workspace = workspace_root / "direct"
    prepare_sandbox_dir(workspace)

    result = await sandbox.run_sandboxed(
        argv=[sandbox.SANDBOX_PYTHON, "-c", "while True:\n    print('x' * 1000)"], stdin=b"", workspace=workspace, user_id=1
    )

    assert result.truncated is True
    assert result.stdout.endswith(sandbox.TRUNCATION_MARKER)
    assert len(result.stdout) == 1024 * 1024 + len(sandbox.TRUNCATION_MARKER)
    assert result.timed_out is False


async def test_endless_output_through_the_tool_is_a_short_marked_result() -> None:
    result = await run_python("while True:\n    print('x' * 1000)")

    assert result["truncated"] is True
    assert result["stdout"].endswith(f"\n…[{1024 * 1024 + len(sandbox.TRUNCATION_MARKER) - 24_000} more characters not shown]")


async def test_writing_a_200_mib_file_is_stopped_by_the_file_size_limit(workspace_root: Path) -> None:
    ctx = await make_ctx()
    code = """
chunk = b'x' * (1024 * 1024)
written = 0
try:
    with open('big.bin', 'wb') as f:
        for _ in range(200):
            f.write(chunk); written += 1
except OSError as e:
    print('stopped after', written, 'MiB:', e.strerror)
"""
    _outcome, result = await call("python_execute", {"code": code}, ctx)

    assert result["stdout"].startswith("stopped after 6")
    assert "File too large" in result["stdout"]
    assert (workspace_root / str(ctx.user_id) / "big.bin").stat().st_size <= 64 * 1024 * 1024


@pytest.mark.serial
async def test_a_setsid_double_fork_daemon_is_gone_after_the_call() -> None:
    code = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
time.sleep(0.2)
print('parent done')
"""
    before = sandbox_pids()

    result = await run_python(code)

    assert result["stdout"] == "parent done\n"
    await asyncio.sleep(0.2)
    assert await leftover_sandbox_pids(before) == set()


async def test_a_nested_user_namespace_is_refused() -> None:
    ctx = await make_ctx()

    _outcome, result = await call("shell_execute", {"command": "unshare -U -r id -u; echo status=$?"}, ctx)

    assert "status=1" in result["stdout"]
    assert "unshare failed" in result["stderr"]


# --- availability ---------------------------------------------------------------------


async def test_without_a_working_sandbox_code_tools_refuse_and_the_check_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = await make_ctx()
    monkeypatch.setenv("PATH", "/nonexistent")
    sandbox.reset_availability_cache()
    try:
        outcome, result = await call("python_execute", {"code": "print(1)"}, ctx)
        warnings = sandbox_check()
        with pytest.raises(sandbox.SandboxUnavailable):
            await sandbox.run_sandboxed(argv=["/usr/bin/true"], stdin=b"", workspace=Path("/tmp"), user_id=1)
    finally:
        monkeypatch.undo()
        sandbox.reset_availability_cache()

    assert outcome.success is False and outcome.rejected_status == 503
    reason = "bwrap is not installed (apt-get install bubblewrap)."
    assert result == {"error": f"The tool python_execute is unavailable on this server: {reason}"}
    assert [w.id for w in warnings] == ["toolbox.W001"]


async def test_a_user_below_execute_gets_a_failed_outcome_naming_the_level() -> None:
    ctx = await make_ctx(level=PermissionLevel.WRITE)

    outcome, result = await call("python_execute", {"code": "print(1)"}, ctx)

    assert outcome.success is False and outcome.rejected_status == 403
    assert result == {"error": "The tool python_execute needs permission level 3 (EXECUTE); you have 2 (WRITE)."}
