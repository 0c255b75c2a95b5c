"""Words for the full-text index: jieba's search-mode segmentation for Chinese, lower-cased
words for everything else, so that both index and query speak the same tokens."""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK_RUN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]+")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _jieba() -> object:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _lock:
        jieba.initialize()
    return jieba


def words(text: str) -> list[str]:
    tokens: list[str] = []
    for match in _WORD.finditer(text.lower()):
        token = match.group()
        if _CJK_RUN.search(token):
            for piece in re.split(r"([\u4e00-\u9fff\u3400-\u4dbf]+)", token):
                if not piece:
                    continue
                if _CJK_RUN.fullmatch(piece):
                    tokens.extend(w for w in _jieba().cut_for_search(piece) if w.strip())  # type: ignore[attr-defined]
                else:
                    tokens.append(piece)
        else:
            tokens.append(token)
    return tokens


def segment(text: str) -> str:
    return " ".join(words(text))
