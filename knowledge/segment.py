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


# Words that carry no topic: dropped from queries (not from the index) so that "what is the
# refund policy" ranks on "refund" and "policy", and so that a common word does not make the
# full-text engine score nearly every chunk.
_STOPWORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here hers herself him
    himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other
    our ours ourselves out over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves
    的 了 是 在 和 与 及 或 也 就 都 而 被 把 对 为 从 以 于 之 个 们 着 过 吗 呢 吧 啊 呀 么 这 那 这个 那个 这些 那些
    什么 怎么 怎样 如何 为什么 哪 哪些 哪里 哪个 谁 多少 几 是否 是不是 有没有 请问 一下 一个 我 你 他 她 它 我们 你们 他们
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def query_words(text: str) -> list[str]:
    """The words of a search query without stopwords; all of them when nothing else is left."""
    tokens = words(text)
    content = [token for token in tokens if token not in STOPWORDS]
    return content or tokens
