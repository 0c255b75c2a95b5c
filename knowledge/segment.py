"""Words for the full-text index: jieba's search-mode segmentation for Chinese, stemmed
lower-case words for English and everything else, so that index and query speak the same
tokens (and "married" finds "marry", "churches" finds "church").

jieba runs with its dictionary only (no HMM guessing of unknown words): twice as fast, and
a word it does not know becomes its characters the same way in a document and in a query,
where the HMM's guess could depend on the neighbouring text and differ between the two.
Stemming is the Snowball English stemmer, applied to words of ASCII letters only.

Every word is one token to SQLite's FTS5 and to PostgreSQL's parser alike, so that both
count the same words and rank the same way: words are NFKC-normalised, lower-cased and
stripped of their accents ("café" is "cafe", "ｆｉ" is "fi"), and underscores and "other"
number signs (½, ①, which PostgreSQL's parser drops) separate words.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_WORD_CHARS = 100  # longer "words" (hashes, base64) are left out of the index
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


@lru_cache(maxsize=1)
def _separators() -> dict[int, str]:
    """Characters that end a word besides what ``\\W`` matches: "other" numbers (No)."""
    return {code: " " for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "No"}


@lru_cache(maxsize=100_000)
def _folded(piece: str) -> tuple[str, ...]:
    """A non-ASCII, non-Chinese piece of a word as the index's words: NFKC, lower case,
    no accents, final sigma as sigma (as FTS5 folds it)."""
    text = unicodedata.normalize("NFKC", piece).lower().replace("ς", "σ")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return tuple(_WORD.findall(unicodedata.normalize("NFC", text).translate(_separators())))


def _raw_words(text: str) -> Iterator[str]:
    for match in _WORD.finditer(text.lower()):
        token = match.group()
        if token.isascii():
            if len(token) <= MAX_WORD_CHARS:
                yield token
            continue
        for piece in _CJK_SPLIT.split(token):
            if _CJK_RUN.fullmatch(piece):
                yield from (w for w in _jieba().cut_for_search(piece, HMM=False) if w.strip())  # type: ignore[attr-defined]
            elif piece:
                yield from (w for w in _folded(piece) if len(w) <= MAX_WORD_CHARS)


def words(text: str) -> list[str]:
    """The index's tokens for a text, in order."""
    return [_stem(word) for word in _raw_words(text)]


def segment(text: str) -> str:
    """The text as the full-text engine indexes it: its words joined by spaces."""
    return " ".join(words(text))


SHORT_CHUNK_WORDS = 40
BOOST_MIN_COUNT = 3


def boost_text(search_text: str) -> str:
    """The words of a chunk that can score high for a one-word match (see knowledge.index):
    those it holds BOOST_MIN_COUNT times or more, or all of them when the chunk is short."""
    counts = Counter(search_text.split())
    short = sum(counts.values()) <= SHORT_CHUNK_WORDS
    return " ".join(word for word, count in counts.items() if short or count >= BOOST_MIN_COUNT)


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
