"""Small text helpers shared by chat and knowledge."""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    """A cheap token estimate: about one token per CJK character and per 4 other characters."""
    if not text:
        return 0
    cjk = len(CJK.findall(text))
    return cjk + max(1, (len(text) - cjk + 3) // 4)
