"""A minimal reader of ``data:`` lines from a raw byte stream, a read at a time.

Reading the SDKs' raw streaming response and parsing lines here (instead of consuming
the SDKs' typed event iterators, which build an object per chunk) is what keeps one
server process relaying hundreds of concurrent streams at the provider's rate. Lines
are handed on in batches, one per network read: when the process falls behind, every
event that piled up in the socket is parsed and relayed as one step, so the cost per
token falls as the load rises instead of the delay growing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator


async def sse_data_batches(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """Yield, for each chunk read, the payloads of the ``data:`` lines it completed
    (without the prefix), in order; never an empty batch."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        if b"\n" not in chunk:
            continue
        lines = buffer.split(b"\n")
        buffer = lines.pop()
        batch = [line[5:].strip() for line in lines if line.startswith(b"data:")]
        if batch:
            yield batch
    if buffer.startswith(b"data:"):
        yield [buffer[5:].strip()]
