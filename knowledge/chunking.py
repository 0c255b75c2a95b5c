"""Structure-aware chunking: headings, then paragraphs, then sentences (Chinese
punctuation included), packed to about TARGET_TOKENS with about 15% overlap."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.extract import Page
from luxx.text import estimate_tokens

TARGET_TOKENS = 500
OVERLAP_TOKENS = 75

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_PARAGRAPH = re.compile(r"\S(?:.*?)(?=\n\s*\n|\Z)", re.DOTALL)
_SENTENCE = re.compile(r".+?(?:[.!?](?=\s)|[。！？；]|\n|$)", re.DOTALL)


@dataclass(frozen=True)
class Unit:
    text: str
    start: int
    end: int
    opens_paragraph: bool = True


@dataclass(frozen=True)
class ChunkDraft:
    content: str
    heading: str
    page: int | None
    char_start: int
    char_end: int


@dataclass
class _Section:
    heading: str
    page: int | None
    text: str
    offset: int


def _markdown_sections(text: str) -> list[_Section]:
    sections: list[_Section] = []
    path: list[tuple[int, str]] = []
    body_start = 0
    position = 0
    in_code = False
    current_heading = ""
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line.rstrip("\n"))
        if match:
            sections.append(_Section(current_heading, None, text[body_start:position], body_start))
            level, title = len(match.group(1)), match.group(2).strip()
            path = [(lvl, name) for lvl, name in path if lvl < level] + [(level, title)]
            current_heading = " > ".join(name for _, name in path)
            body_start = position + len(line)
        position += len(line)
    sections.append(_Section(current_heading, None, text[body_start:], body_start))
    return [s for s in sections if s.text.strip()]


def _units(section: _Section) -> list[Unit]:
    """Paragraphs, or their sentences when a paragraph alone is over the target."""
    units: list[Unit] = []
    for paragraph in _PARAGRAPH.finditer(section.text):
        start = section.offset + paragraph.start()
        if estimate_tokens(paragraph.group()) <= TARGET_TOKENS:
            units.append(Unit(paragraph.group().strip(), start, start + len(paragraph.group())))
            continue
        first = True
        for sentence in _SENTENCE.finditer(paragraph.group()):
            piece = sentence.group()
            if not piece.strip():
                continue
            begin = start + sentence.start()
            for part, offset in _split_long(piece):
                units.append(Unit(part.strip(), begin + offset, begin + offset + len(part), first))
                first = False
    return [u for u in units if u.text]


def _split_long(text: str) -> list[tuple[str, int]]:
    """A sentence over the target is cut at spaces (or, for CJK text, between characters)."""
    if estimate_tokens(text) <= TARGET_TOKENS:
        return [(text, 0)]
    limit = TARGET_TOKENS * (1 if re.search(r"[\u4e00-\u9fff]", text) else 4)
    parts, start = [], 0
    while start < len(text):
        end = min(len(text), start + limit)
        if end < len(text):
            space = text.rfind(" ", start, end)
            if space > start + limit // 2:
                end = space + 1
        parts.append((text[start:end], start))
        start = end
    return parts


def chunk_pages(pages: list[Page], *, markdown: bool) -> list[ChunkDraft]:
    sections: list[_Section] = []
    for page in pages:
        if markdown:
            sections.extend(_markdown_sections(page.text))
        else:
            sections.append(_Section("", page.number, page.text, 0))
    drafts: list[ChunkDraft] = []
    for section in sections:
        drafts.extend(_pack(_units(section), section.heading, section.page))
    return drafts


def _pack(units: list[Unit], heading: str, page: int | None) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    current: list[Unit] = []
    size = 0
    for unit in units:
        cost = estimate_tokens(unit.text)
        if current and size + cost > TARGET_TOKENS:
            drafts.append(_draft(current, heading, page))
            current = _overlap(current)
            size = sum(estimate_tokens(u.text) for u in current)
        current.append(unit)
        size += cost
    if current:
        drafts.append(_draft(current, heading, page))
    return drafts


def _overlap(units: list[Unit]) -> list[Unit]:
    """The tail of a chunk (whole units, about 15% of the target) that starts the next."""
    kept: list[Unit] = []
    size = 0
    for unit in reversed(units):
        size += estimate_tokens(unit.text)
        if size > OVERLAP_TOKENS:
            break
        kept.insert(0, unit)
    return kept


def _draft(units: list[Unit], heading: str, page: int | None) -> ChunkDraft:
    content = units[0].text
    for unit in units[1:]:
        content += ("\n\n" if unit.opens_paragraph else " ") + unit.text
    return ChunkDraft(content, heading, page, units[0].start, units[-1].end)
