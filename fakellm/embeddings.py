"""Deterministic embeddings: a hashed bag of words (and CJK characters), L2-normalised,
so texts that share words are close."""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct

DIMENSIONS = 256
_TERM = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]|[a-z0-9]+")


def embed(text: str) -> list[float]:
    vector = [0.0] * DIMENSIONS
    for term in _TERM.findall(text.lower()):
        digest = hashlib.blake2b(term.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % DIMENSIONS
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def encode_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
