"""Structure-aware chunking: headings, then paragraphs, then sentences (Chinese
punctuation included), packed to about TARGET_TOKENS with about 15% overlap.

The decisions, in one place:

- A chunk never spans two sections: a heading starts a new chunk, and the overlap that
  starts a chunk comes only from the same section, so a section's first chunk never opens
  with the previous section's text (its heading path would be a lie for that text).
- A chunk never spans two PDF pages either, so its page is exact. A sentence that runs
  over a page break is kept whole and goes with the page it starts on (the page a reader
  would turn to), and the next page's chunks start after it. For the same reason the
  overlap does not reach back over a page break.
- Paragraphs are packed whole while they fit; a paragraph too large for that is packed
  sentence by sentence, and only a sentence too large for a chunk is cut, at a line break,
  a space or a CJK character, never inside a word when there is any other choice.
- The overlap is whole sentences from the end of the previous chunk, as close to
  OVERLAP_TOKENS as they come without passing OVERLAP_MAX_TOKENS; when the last sentence
  alone is over that, the longest tail of it within OVERLAP_TOKENS that starts at a word
  (or CJK character) boundary.
- Headings: Markdown's ``#`` and setext (underlined) headings; in plain text and PDFs,
  short lines on their own that look like "第一章 概述", "第二节 …", "Chapter 3 …",
  "CHAPTER III", "1. Introduction" or "1.2 Scope" (see _plain_headings()). Nothing inside
  a fenced code block is a heading.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass

from knowledge.extract import Page, join_wrapped
from luxx.text import estimate_tokens

TARGET_TOKENS = 500
OVERLAP_TOKENS = 75
OVERLAP_MAX_TOKENS = 100
# A block (a whole paragraph, or one piece of a long sentence) leaves room for the overlap.
_BLOCK_LIMIT = TARGET_TOKENS - OVERLAP_TOKENS
HEADING_MAX_CHARS = 60

_CJK = r"\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# Where a sentence ends: after CJK end punctuation (no space needed); after . ! ? when
# whitespace and something that can start a sentence follow (so "e.g. the" and "3.5" stay
# whole); after ! ? straight before CJK text.
_SENTENCE_END = re.compile(
    rf"[。！？；]+[”’」』）)\]\"']*"
    rf"|[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]*[A-Z0-9{_CJK}]|\s*\Z)"
    rf"|[!?]+(?=[{_CJK}])"
)
_SENTENCE_PUNCTUATION = ".!?;:,。！？；：，、…"
_SENTENCE_ENDERS = ".!?;:。！？；：…"
_CLOSERS = "\"'”’」』）)]"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)(?:\s+#+)?\s*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)\s*$")
_NOT_SETEXT_TEXT = re.compile(r"^(?: {4}|\s*(?:[-*+>|]|\d+[.)])(?:\s|$))")

_CN_NUMBER = "[零〇一二三四五六七八九十百千两0-9０-９]+"
_CN_DIVISION = re.compile(rf"^第{_CN_NUMBER}(部分|编|卷|篇|部|章|节)(?:$|[\s:：、.．]|(?=[{_CJK}A-Za-z]))")
_CN_DIVISION_DEPTH = {"部分": 0, "编": 0, "卷": 0, "篇": 0, "部": 0, "章": 1, "节": 2}
_CN_ENUMERATION = re.compile(r"^(?:([一二三四五六七八九十]+)、|[（(]([一二三四五六七八九十]+)[）)])\s*\S")
_EN_DIVISION = re.compile(
    r"^(Part|PART|Chapter|CHAPTER|Appendix|APPENDIX|Section|SECTION)\s+"
    r"(?:\d{1,3}|[IVXLC]{1,7}|[A-Z]|One|Two|Three|Four|Five|Six|Seven|Eight|Nine|Ten|ONE|TWO|THREE|FOUR|FIVE|SIX|SEVEN|EIGHT|NINE|TEN)"
    r"(?=$|[\s.:\-–—])"
)
_EN_DIVISION_DEPTH = {"part": 0, "chapter": 1, "appendix": 1, "section": 2}
_FAMILY_RANK = {"markdown": 0, "division": 0, "enumeration": 1, "numbered": 2}
_NUMBERED = re.compile(rf"^(\d{{1,2}}(?:\.\d{{1,2}}){{0,3}})\.?\s+[A-Z{_CJK}]")


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored. char_start and char_end are offsets into the document's
    text as the chunker saw it: line endings made ``\\n`` and, for a PDF, its normalised
    pages joined in order."""

    content: str
    heading: str
    page: int | None
    char_start: int
    char_end: int


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    tokens: int


@dataclass(frozen=True)
class _Sentence:
    span: _Span
    paragraph: int
    page: int | None


@dataclass(frozen=True)
class _Line:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Heading:
    first: int
    last: int
    kind: str
    depth: int
    title: str


@dataclass(frozen=True)
class _Section:
    heading: str
    start: int
    end: int


def chunk_pages(pages: list[Page], *, markdown: bool) -> list[ChunkDraft]:
    """The pages' text cut into chunks, in reading order, each with its heading path."""
    text, page_starts, numbers = _join_pages(pages)
    lines = _lines(text)
    headings = _markdown_headings(lines) if markdown else _plain_headings(lines)
    drafts: list[ChunkDraft] = []
    for section in _sections(text, lines, headings):
        sentences = _sentences(text, section, page_starts, numbers)
        for run in _page_runs(sentences):
            drafts.extend(_pack(text, _blocks(text, run), section.heading, run[0].page))
    return drafts


def _join_pages(pages: list[Page]) -> tuple[str, list[int], list[int | None]]:
    """One text for all pages, with where each page starts and its number.

    Pages are joined with a paragraph break, unless the first stops mid-sentence: then as
    one line, so that the sentence stays whole. A page that ends or starts with what looks
    like a heading is not run on (see _runs_on())."""
    text = ""
    starts: list[int] = []
    numbers: list[int | None] = []
    for page in pages:
        body = page.text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if not body:
            continue
        if text:
            joined = join_wrapped(text, body) if _runs_on(text, body) else text + "\n\n" + body
            starts.append(len(joined) - len(body))
            text = joined
        else:
            starts.append(0)
            text = body
        numbers.append(page.number)
    return text, starts, numbers


def _runs_on(before: str, after: str) -> bool:
    """Whether the text of one page carries on a sentence the page before left open.

    Not when the earlier page ends a sentence (or a clause such as "as follows:"), nor when
    either side of the break is a heading, or a short title-like line followed by a capital."""
    unquoted = before.rstrip(_CLOSERS)
    if not unquoted or unquoted[-1] in _SENTENCE_ENDERS:
        return False
    last = _PARAGRAPH_BREAK.split(before)[-1].strip()
    first = _PARAGRAPH_BREAK.split(after, maxsplit=1)[0].strip()
    if _title_like(last) and (_plain_heading_kind(last) or not after[0].islower()):
        return False
    return not (_title_like(first) and _plain_heading_kind(first))


def _title_like(line: str) -> bool:
    return 0 < len(line) <= HEADING_MAX_CHARS and line[-1] not in _SENTENCE_PUNCTUATION


def _lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    position = 0
    for raw in text.split("\n"):
        lines.append(_Line(position, position + len(raw), raw))
        position += len(raw) + 1
    return lines


def _fenced(lines: list[_Line]) -> set[int]:
    """Indexes of lines inside fenced code blocks, fences included."""
    inside: set[int] = set()
    opener = ""
    for index, line in enumerate(lines):
        fence = _FENCE.match(line.text)
        if opener:
            inside.add(index)
            if fence and fence.group(1)[0] == opener[0] and len(fence.group(1)) >= len(opener) and not line.text[fence.end() :].strip():
                opener = ""
        elif fence:
            inside.add(index)
            opener = fence.group(1)
    return inside


def _blank(lines: list[_Line], index: int) -> bool:
    return index < 0 or index >= len(lines) or not lines[index].text.strip()


def _markdown_headings(lines: list[_Line]) -> list[_Heading]:
    """ATX (``## Title``) and setext (a one-line paragraph underlined with === or ---)."""
    skip = _fenced(lines) | _front_matter(lines)
    headings: list[_Heading] = []
    index = 0
    while index < len(lines):
        text = lines[index].text
        atx = None if index in skip else _ATX.match(text)
        if atx:
            headings.append(_Heading(index, index, "markdown", len(atx.group(1)), atx.group(2).strip()))
        elif (
            index not in skip
            and index + 1 < len(lines)
            and index + 1 not in skip
            and text.strip()
            and (_blank(lines, index - 1) or (headings and headings[-1].last == index - 1))
            and not _NOT_SETEXT_TEXT.match(text)
            and (underline := _SETEXT_UNDERLINE.match(lines[index + 1].text))
        ):
            headings.append(_Heading(index, index + 1, "markdown", 1 if underline.group(1)[0] == "=" else 2, text.strip()))
            index += 1
        index += 1
    return headings


def _front_matter(lines: list[_Line]) -> set[int]:
    """YAML front matter (between --- lines at the very top), whose closing --- would
    otherwise underline its last line into a heading."""
    if not lines or lines[0].text.strip() != "---":
        return set()
    for index in range(1, len(lines)):
        if lines[index].text.strip() in ("---", "..."):
            return set(range(index + 1))
    return set()


def _plain_headings(lines: list[_Line]) -> list[_Heading]:
    """Headings in text without markup, found conservatively.

    A heading is a line of at most HEADING_MAX_CHARS that has blank lines (or the start or
    end of the text) on both sides, does not end in sentence punctuation, and starts like a
    division: 第…章/节/篇/部分, 一、 or （一）, Chapter/Part/Section/Appendix with a number,
    letter or roman numeral, or a section number (1, 1.2, 1.2.3) followed by a capital or
    CJK text. Two or more of the same kind in a row with nothing but blank lines between
    them are a list (or a table of contents), not headings."""
    fenced = _fenced(lines)
    found: list[_Heading] = []
    for index, line in enumerate(lines):
        title = line.text.strip()
        if index in fenced or not _title_like(title) or not _blank(lines, index - 1) or not _blank(lines, index + 1):
            continue
        kind = _plain_heading_kind(title)
        if kind:
            found.append(_Heading(index, index, kind[0], kind[1], title))
    listed: set[int] = set()
    for before, after in itertools.pairwise(found):
        nothing_between = all(_blank(lines, i) for i in range(before.last + 1, after.first))
        if nothing_between and (before.kind, before.depth) == (after.kind, after.depth):
            listed.update((before.first, after.first))
    return [heading for heading in found if heading.first not in listed]


def _plain_heading_kind(title: str) -> tuple[str, int] | None:
    """The heading's family and its depth within the family, or None for body text."""
    if match := _CN_DIVISION.match(title):
        return "division", _CN_DIVISION_DEPTH[match.group(1)]
    if match := _CN_ENUMERATION.match(title):
        return "enumeration", 0 if match.group(1) else 1
    if match := _EN_DIVISION.match(title):
        return "division", _EN_DIVISION_DEPTH[match.group(1).lower()]
    if match := _NUMBERED.match(title):
        return "numbered", match.group(1).count(".")
    return None


def _sections(text: str, lines: list[_Line], headings: list[_Heading]) -> list[_Section]:
    """The text between headings, each with its heading path ("A > B > C").

    A heading closes every open heading of its own level or deeper. Plain-text headings
    rank by family, then by depth within it: named divisions (part, chapter, section;
    编, 章, 节) above 一、 and （一） above section numbers, which is how Chinese and
    English documents nest them ("第一章 > 一、 > 1.", "Chapter 2 > 2.1")."""
    sections: list[_Section] = []
    path: list[tuple[tuple[int, int], str]] = []
    body_start = 0
    for heading in headings:
        sections.append(_Section(" > ".join(title for _, title in path), body_start, lines[heading.first].start))
        level = (_FAMILY_RANK[heading.kind], heading.depth)
        path = [entry for entry in path if entry[0] < level] + [(level, heading.title)]
        body_start = min(len(text), lines[heading.last].end + 1)
    sections.append(_Section(" > ".join(title for _, title in path), body_start, len(text)))
    return [section for section in sections if text[section.start : section.end].strip()]


def _sentences(text: str, section: _Section, page_starts: list[int], numbers: list[int | None]) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    start, paragraph = section.start, 0
    for found in [*_PARAGRAPH_BREAK.finditer(text, section.start, section.end), None]:
        end = found.start() if found else section.end
        piece_start = start
        for sentence_end in _SENTENCE_END.finditer(text, start, end):
            sentences.extend(_sentence(text, piece_start, sentence_end.end(), paragraph, page_starts, numbers))
            piece_start = sentence_end.end()
        sentences.extend(_sentence(text, piece_start, end, paragraph, page_starts, numbers))
        if found:
            start, paragraph = found.end(), paragraph + 1
    return sentences


def _sentence(text: str, start: int, end: int, paragraph: int, page_starts: list[int], numbers: list[int | None]) -> list[_Sentence]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start == end:
        return []
    page = numbers[bisect.bisect_right(page_starts, start) - 1] if numbers else None
    return [_Sentence(_Span(start, end, estimate_tokens(text[start:end])), paragraph, page)]


def _page_runs(sentences: list[_Sentence]) -> list[list[_Sentence]]:
    """Consecutive sentences that start on the same page."""
    runs: list[list[_Sentence]] = []
    for sentence in sentences:
        if runs and runs[-1][-1].page == sentence.page:
            runs[-1].append(sentence)
        else:
            runs.append([sentence])
    return runs


def _blocks(text: str, sentences: list[_Sentence]) -> list[list[_Span]]:
    """What is packed: a paragraph whole while it fits in _BLOCK_LIMIT, else its sentences
    one by one, a sentence over the limit in pieces."""
    blocks: list[list[_Span]] = []
    by_paragraph: list[list[_Sentence]] = []
    for sentence in sentences:
        if by_paragraph and by_paragraph[-1][-1].paragraph == sentence.paragraph:
            by_paragraph[-1].append(sentence)
        else:
            by_paragraph.append([sentence])
    for paragraph in by_paragraph:
        spans = [sentence.span for sentence in paragraph]
        if estimate_tokens(text[spans[0].start : spans[-1].end]) <= _BLOCK_LIMIT:
            blocks.append(spans)
            continue
        for span in spans:
            blocks.extend([piece] for piece in _split_long(text, span))
    return blocks


def _split_long(text: str, span: _Span) -> list[_Span]:
    """A sentence over _BLOCK_LIMIT in pieces that fit, cut where a word or CJK character
    ends (a line break first, then a space, then after CJK punctuation, then between CJK
    characters); cut blindly only inside a single over-long "word"."""
    if span.tokens <= _BLOCK_LIMIT:
        return [span]
    pieces: list[_Span] = []
    start = span.start
    while start < span.end:
        end = _longest_prefix_end(text, start, span.end, _BLOCK_LIMIT)
        if end < span.end:
            end = _boundary_before(text, start, end)
        pieces.append(_Span(start, end, estimate_tokens(text[start:end].strip())))
        start = end
        while start < span.end and text[start].isspace():
            start += 1
    return [_Span(p.start, p.start + len(text[p.start : p.end].rstrip()), p.tokens) for p in pieces]


def _longest_prefix_end(text: str, start: int, end: int, budget: int) -> int:
    """The furthest end such that text[start:end] is within budget tokens (at least one
    character, so that cutting always progresses)."""
    low, high = start + 1, end
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_tokens(text[start:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _boundary_before(text: str, start: int, end: int) -> int:
    floor = start + (end - start) // 2
    for candidates in (("\n",), (" ", "\t"), tuple("，、：；,;:")):
        best = max(text.rfind(c, floor, end) for c in candidates)
        if best > start:
            return best + 1
    for position in range(end, floor, -1):
        if _CJK_CHAR.match(text[position - 1]) or _CJK_CHAR.match(text[position]):
            return position
    return end


def _pack(text: str, blocks: list[list[_Span]], heading: str, page: int | None) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    current: list[_Span] = []
    size = 0
    carried = 0  # how many spans of `current` are the overlap from the previous chunk
    for block in blocks:
        cost = sum(span.tokens for span in block)
        if len(current) > carried and size + cost > TARGET_TOKENS:
            drafts.append(_draft(text, current, heading, page))
            current = _overlap(text, current, room=TARGET_TOKENS - cost)
            carried = len(current)
            size = sum(span.tokens for span in current)
        current.extend(block)
        size += cost
    if len(current) > carried:
        drafts.append(_draft(text, current, heading, page))
    return drafts


def _overlap(text: str, spans: list[_Span], *, room: int) -> list[_Span]:
    """The tail of a chunk that also starts the next one; never the whole chunk.

    Whole sentences whose total is nearest OVERLAP_TOKENS without passing
    OVERLAP_MAX_TOKENS (or the room the next block leaves); if even the last sentence is
    over that, the longest tail of it within OVERLAP_TOKENS that starts at a word or CJK
    character boundary."""
    most = min(OVERLAP_MAX_TOKENS, room)
    best: list[_Span] = []
    total = 0
    for count in range(1, len(spans)):
        total += spans[-count].tokens
        if total > most:
            break
        if abs(total - OVERLAP_TOKENS) < abs(sum(s.tokens for s in best) - OVERLAP_TOKENS) or not best:
            best = spans[-count:]
    if best:
        return best
    last = spans[-1]
    budget = min(OVERLAP_TOKENS, room)
    if budget <= 0:
        return []
    start = _shortest_suffix_start(text, last.start, last.end, budget)
    while start < last.end and not _starts_word(text, start):
        start += 1
    if start >= last.end or start == last.start:
        return []
    return [_Span(start, last.end, estimate_tokens(text[start : last.end]))]


def _shortest_suffix_start(text: str, start: int, end: int, budget: int) -> int:
    low, high = start, end
    while low < high:
        middle = (low + high) // 2
        if estimate_tokens(text[middle:end]) <= budget:
            high = middle
        else:
            low = middle + 1
    return low


def _starts_word(text: str, position: int) -> bool:
    """Whether a chunk may start at position: at a non-space character after a space, or
    at or after a CJK character (CJK has no spaces between words)."""
    here, before = text[position], text[position - 1]
    if here.isspace():
        return False
    return before.isspace() or bool(_CJK_CHAR.match(here) or _CJK_CHAR.match(before))


def _draft(text: str, spans: list[_Span], heading: str, page: int | None) -> ChunkDraft:
    start, end = spans[0].start, spans[-1].end
    return ChunkDraft(text[start:end], heading, page, start, end)
