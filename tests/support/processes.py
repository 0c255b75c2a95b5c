"""Real Luxx processes for the tests that kill them: web servers (daphne) and workers
(``manage.py db_worker``) on the test database, each started and killed by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Fast liveness for the tests: a worker silent for 2 s is dead, looked for twice a second.
FAST_ENV = {
    "LUXX_WORKER_BEAT_SECONDS": "0.3",
    "LUXX_WORKER_STALE_SECONDS": "2",
    "LUXX_WORKER_RECOVER_SECONDS": "0.5",
    "LUXX_WORKER_POLL_SECONDS": "0.1",
    "LUXX_TASK_RETRY_SECONDS": "0.2",
    "LUXX_STREAM_STALE_SECONDS": "2",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Cluster:
    """Web and worker processes sharing the test's PostgreSQL database and Redis."""

    def __init__(self, **extra_env: str) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="luxx-cluster-")
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "luxx.settings",
            "LUXX_DATA_DIR": self.data_dir,
            "LUXX_PROVIDER_PRIVATE_URLS": "all",
            "PYTHONUNBUFFERED": "1",
            **FAST_ENV,
            **extra_env,
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = open(Path(self.data_dir) / f"{name}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.logs.append(log)
        return process

    def web(self) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        command = [str(BIN / "daphne"), "--application-close-timeout", "3600", "-b", "127.0.0.1", "-p", str(port), "luxx.asgi:application"]
        process = self._spawn("web", command)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # a loaded machine: the first request imports the URLconf
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                    return process, url
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not start; see {self.data_dir}")
            time.sleep(0.2)

    def worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        """A worker, once it beats (its row is in the table)."""
        from worker.models import WorkerProcess

        process = self._spawn("worker", [sys.executable, "manage.py", "db_worker", "--concurrency", str(concurrency), "--no-startup-delay"])
        deadline = time.monotonic() + 60
        while not WorkerProcess.objects.filter(pid=process.pid).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; see {self.data_dir}")
            time.sleep(0.1)
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL by PID: no handler runs, nothing is cleaned up."""
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in self.logs:
            log.close()


def wait_for(condition: Any, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
