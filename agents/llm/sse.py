"""A minimal reader of ``data:`` lines from a raw byte stream.

Reading the SDKs' raw streaming response and parsing lines here (instead of consuming
the SDKs' typed event iterators, which build an object per chunk) is what keeps one
server process relaying hundreds of concurrent streams at the provider's rate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator


async def iter_sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield the payload of each ``data:`` line (without the prefix), in order."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        if b"\n" not in chunk:
            continue
        lines = buffer.split(b"\n")
        buffer = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()
    if buffer.startswith(b"data:"):
        yield buffer[5:].strip()
