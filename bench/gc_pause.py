"""The garbage collector's pause over a server process's start-up heap.

Imports the ASGI application (as uvicorn does: luxx/asgi.py freezes what start-up made),
then times a full collection, beside the same measure with the frozen objects put back
(``gc.unfreeze()``), in the same run:

    .venv/bin/python bench/gc_pause.py
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LUXX_DATA_DIR", tempfile.mkdtemp(prefix="luxx-gc-"))
os.environ.setdefault("DEBUG", "true")


def full_collection_ms(rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    import luxx.asgi  # noqa: F401

    frozen = gc.get_freeze_count()
    with_freeze = full_collection_ms()
    gc.unfreeze()
    without = full_collection_ms()
    print(f"start-up objects frozen: {frozen}")
    print(f"full collection, start-up heap frozen (as served): {with_freeze:.1f} ms")
    print(f"full collection, start-up heap scanned:            {without:.1f} ms")


if __name__ == "__main__":
    main()
