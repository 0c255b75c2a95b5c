"""What loading the ASGI application leaves behind, in a process of its own (as a server
loads it): the start-up heap frozen out of the garbage collector's scans."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import gc, luxx.asgi; print(gc.get_freeze_count(), len(gc.get_objects()))"


def test_loading_the_application_freezes_the_start_up_heap(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="luxx.settings", LUXX_DATA_DIR=str(tmp_path), DEBUG="true")

    run = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)

    frozen, still_tracked = map(int, run.stdout.split())
    assert frozen > 100_000
    assert still_tracked < frozen / 100
