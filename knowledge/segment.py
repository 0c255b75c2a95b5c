"""Words for the full-text index: jieba's search-mode segmentation for Chinese, stemmed
lower-case words for English and everything else, so that index and query speak the same
tokens (and "married" finds "marry", "churches" finds "church").

jieba runs with its dictionary only (no HMM guessing of unknown words): twice as fast, and
a word it does not know becomes its characters the same way in a document and in a query,
where the HMM's guess could depend on the neighbouring text and differ between the two.
Stemming is the Snowball English stemmer, applied to words of ASCII letters only."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK_RUN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]+")
_CJK_SPLIT = re.compile(r"([\u4e00-\u9fff\u3400-\u4dbf]+)")
_ASCII_WORD = re.compile(r"[a-z]+")
_lock = threading.Lock()
_stem_lock = threading.Lock()
_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=1)
def _jieba() -> object:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _lock:
        jieba.initialize()
    return jieba


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    if not _ASCII_WORD.fullmatch(word):
        return word
    with _stem_lock:  # the Snowball stemmer object keeps state between calls
        return _stemmer.stemWord(word)


def _raw_words(text: str) -> Iterator[str]:
    for match in _WORD.finditer(text.lower()):
        token = match.group()
        if not _CJK_RUN.search(token):
            yield token
            continue
        for piece in _CJK_SPLIT.split(token):
            if _CJK_RUN.fullmatch(piece):
                yield from (w for w in _jieba().cut_for_search(piece, HMM=False) if w.strip())  # type: ignore[attr-defined]
            elif piece:
                yield piece


def words(text: str) -> list[str]:
    """The index's tokens for a text, in order."""
    return [_stem(word) for word in _raw_words(text)]


def segment(text: str) -> str:
    """The text as the full-text engine indexes it: its words joined by spaces."""
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
    """The index's tokens for a search query, without stopwords (all of them when nothing
    else is left)."""
    raw = list(_raw_words(text))
    content = [word for word in raw if word not in STOPWORDS] or raw
    return [_stem(word) for word in content]
