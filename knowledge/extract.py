"""Text out of uploaded files: PDF (per page), plain text in the usual encodings, Markdown."""

from __future__ import annotations

import codecs
import io
import itertools
import math
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import charset_normalizer
from django.utils.translation import gettext as _
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, PyPdfError

_TIE_BREAK = ("cp1252", "latin_1", "iso8859_15")
SUFFIX_TYPES = {".pdf": "pdf", ".txt": "txt", ".text": "txt", ".md": "markdown", ".markdown": "markdown"}


class ExtractionError(Exception):
    """The file cannot be indexed; the message says why, in plain words."""


@dataclass(frozen=True)
class Page:
    text: str
    number: int | None


def file_type_for(name: str) -> str | None:
    """``pdf``, ``txt`` or ``markdown`` by the file's suffix; None when not supported."""
    return SUFFIX_TYPES.get(PurePath(name).suffix.lower())


def extract(data: bytes, file_type: str) -> list[Page]:
    """The file's text, one Page per PDF page (numbered from 1, its wrapped lines rejoined
    by normalise_pdf_lines()) or a single unnumbered Page, without characters that cannot be text (see strip_unreadable()).

    Raises ExtractionError for empty, corrupt, encrypted or text-less files, and for a PDF
    without pages."""
    if not data:
        raise ExtractionError(_("The file is empty."))
    pages = _pdf_pages(data) if file_type == "pdf" else [Page(strip_unreadable(decode_text(data))[0], None)]
    if not any(page.text.strip() for page in pages):
        if file_type == "pdf":
            raise ExtractionError(_("The PDF has no extractable text (it may be scanned images)."))
        raise ExtractionError(_("The file is empty."))
    return pages


# pypdf's own errors, plus what its parser lets escape on malformed input (its errors module
# says so: "broken PDF files might cause other Exceptions"). Listed rather than a bare
# Exception so that a bug of ours still surfaces as one.
_CORRUPT_PDF_ERRORS: tuple[type[BaseException], ...] = (
    PyPdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    OSError,
    OverflowError,
    ZeroDivisionError,
    RecursionError,
    NotImplementedError,  # e.g. "Unsupported filter", often a mangled stream
    DependencyError,
    struct.error,
    zlib.error,
)


def _pdf_pages(data: bytes) -> list[Page]:
    try:
        reader = PdfReader(io.BytesIO(data))
        # An owner password alone only restricts editing or printing; such a file opens with
        # the empty user password, as in any viewer.
        locked = reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED
    except (DependencyError, NotImplementedError):
        # While opening, these come from the encryption handler (an algorithm pypdf or the
        # installed crypto library does not support); /Encrypt is always written in the
        # clear, which tells that case from an odd cross-reference stream.
        if b"/Encrypt" in data:
            raise ExtractionError(_("The PDF is encrypted in a way this server cannot read.")) from None
        raise ExtractionError(_("The PDF is corrupt or unreadable (unsupported structure).")) from None
    except _CORRUPT_PDF_ERRORS as error:
        raise ExtractionError(_("The PDF is corrupt or unreadable (%(reason)s).") % {"reason": type(error).__name__}) from None
    if locked:
        raise ExtractionError(_("The PDF is encrypted with a password."))
    try:
        texts = [_page_lines(page) for page in reader.pages]
    except _CORRUPT_PDF_ERRORS as error:
        raise ExtractionError(_("The PDF is corrupt or unreadable (%(reason)s).") % {"reason": type(error).__name__}) from None
    if not texts:
        raise ExtractionError(_("The PDF has no pages."))
    pages, readable, unreadable = [], 0, 0
    for number, lines in enumerate(texts, start=1):
        cleaned = [(strip_unreadable(line.text), line) for line in lines]
        unreadable += sum(lost for (_text, lost), _line in cleaned)
        readable += sum(len("".join(text.split())) for (text, _lost), _line in cleaned)
        kept = [PdfLine(text, line.size, line.y) for (text, _lost), line in cleaned]
        pages.append(Page(normalise_pdf_lines(kept), number))
    if unreadable > readable:
        # Most of the text would be lost: indexing the rest would answer from a fraction
        # of the document without anyone knowing.
        raise ExtractionError(
            _(
                "The PDF's text cannot be read: its fonts do not say which characters they draw (often Chinese or Japanese "
                "text without an embedded font). Export it again with the fonts embedded, or upload it as text."
            )
        )
    return pages


# NUL and the other C0 controls (tab and line breaks aside) are never text: a PDF font
# without a Unicode map yields NULs for its glyphs, and PostgreSQL text columns refuse NUL.
_UNREADABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def strip_unreadable(text: str) -> tuple[str, int]:
    """The text without characters that cannot be text, and how many there were."""
    cleaned, count = _UNREADABLE.subn("", text)
    return cleaned, count


@dataclass(frozen=True)
class PdfLine:
    """A printed line: its text, and where known its font size and baseline height (in
    points, the height growing up the page)."""

    text: str
    size: float | None = None
    y: float | None = None


def _page_lines(page: Any) -> list[PdfLine]:
    """A page's lines as pypdf extracts them, each with the size and height of the text
    it mostly consists of. pypdf tells both only to a visitor of the text it emits;
    when what the visitor saw is not exactly the extracted text, the lines come without."""
    fragments: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, font_size: float) -> None:
        m = _multiply(tm, cm)
        fragments.append((text, abs(font_size * math.hypot(m[2], m[3])), m[5]))

    text = page.extract_text(visitor_text=visit) or ""
    if "".join(fragment for fragment, _size, _y in fragments) != text:
        return [PdfLine(line) for line in text.split("\n")]
    lines: list[PdfLine] = []
    current: list[tuple[str, float, float]] = []
    for fragment, size, y in fragments:
        pieces = fragment.split("\n")
        for index, piece in enumerate(pieces):
            if index:
                lines.append(_line_of(current))
                current = []
            current.append((piece, size, y))
    lines.append(_line_of(current))
    return lines


def _line_of(pieces: list[tuple[str, float, float]]) -> PdfLine:
    text = "".join(piece for piece, _size, _y in pieces)
    visible = [(piece, size, y) for piece, size, y in pieces if piece.strip()]
    if not visible:
        return PdfLine(text)
    weight: dict[float, int] = {}
    for piece, size, _y in visible:
        weight[round(size, 1)] = weight.get(round(size, 1), 0) + len(piece.strip())
    return PdfLine(text, max(weight, key=lambda size: weight[size]), visible[0][2])


def _multiply(m: list[float], n: list[float]) -> list[float]:
    """The product of two PDF transformation matrices [a b c d e f]."""
    return [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]


_CJK_CHAR = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_OPENS_LINE = re.compile(r"[A-Z0-9\"'“‘(\[•·*\-\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
# A line shorter than this share of the page's usual line width ended before the margin:
# the last line of a paragraph, a heading, a list item.
_SHORT_LINE = 0.75


# A line set this much larger or smaller than the next is a heading (or the text after
# one); a gap between baselines this much wider than the page's usual one is a paragraph
# break (printers put space between paragraphs and around headings).
_SIZE_CHANGE = 1.15
_WIDE_GAP = 1.4


def normalise_pdf_text(text: str) -> str:
    """A PDF page's text as paragraphs separated by blank lines, wrapped lines joined.
    See normalise_pdf_lines(); this is the same without the layout."""
    return normalise_pdf_lines([PdfLine(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")])


def normalise_pdf_lines(page_lines: list[PdfLine]) -> str:
    """A PDF page's lines as paragraphs separated by blank lines, wrapped lines joined.

    pypdf ends every printed line with a newline, so a paragraph arrives cut into lines.
    A line is joined to the next unless it is blank, or the layout separates them (the
    font size changes, as between a heading and its text, or the space between the two
    lines is wider than the page's usual line spacing), or it stops well short of the
    page's usual width and the next line starts like a new paragraph (a capital, a digit,
    a bullet, a quote or CJK text); a line that ends in a hyphenated word always goes on
    when the layout does not separate them. See join_wrapped() for how two lines are glued."""
    page_lines = [PdfLine(line.text.strip(), line.size, line.y) for line in page_lines]
    widths = sorted(_display_width(line.text) for line in page_lines if line.text)
    if not widths:
        return ""
    # The 80th percentile: most lines of running text reach the margin, and one long
    # outlier (a URL, a table row) does not make every other line look short.
    usual = widths[min(len(widths) - 1, int(len(widths) * 0.8))]
    pitch = _usual_pitch(page_lines)
    paragraphs: list[str] = []
    current = ""
    for item, next_item in zip(page_lines, [*page_lines[1:], PdfLine("")], strict=True):
        line, following = item.text, next_item.text
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        current = join_wrapped(current, line) if current else line
        hyphenated = line.endswith("-") and len(line) > 1 and not line[-2].isspace()
        short = _display_width(line) < usual * _SHORT_LINE and _OPENS_LINE.match(following)
        if following and (_laid_apart(item, next_item, pitch) or (not hyphenated and short)):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)


def _laid_apart(line: PdfLine, following: PdfLine, pitch: float | None) -> bool:
    """Whether the layout puts two consecutive lines in different paragraphs."""
    if line.size is None or following.size is None or line.y is None or following.y is None:
        return False
    if max(line.size, following.size) > min(line.size, following.size) * _SIZE_CHANGE:
        return True
    return pitch is not None and (line.y - following.y) / line.size > pitch * _WIDE_GAP


def _usual_pitch(page_lines: list[PdfLine]) -> float | None:
    """The page's usual distance between the baselines of two lines of the same size, in
    units of their font size (so that it holds for a larger print too); None when no two
    such lines follow each other."""
    gaps = sorted(
        (line.y - following.y) / line.size
        for line, following in itertools.pairwise(page_lines)
        if line.text
        and following.text
        and line.size
        and following.size
        and line.y is not None
        and following.y is not None
        and line.size == following.size
        and line.y > following.y
    )
    return gaps[len(gaps) // 2] if gaps else None


def join_wrapped(left: str, right: str) -> str:
    """Two pieces of one paragraph that a line (or page) break separated, glued back.

    "exam-" + "ple" is "example" only between lower-case letters ("COVID-" + "19" keeps
    its hyphen); two CJK characters join with nothing between them; anything else with
    one space."""
    if not left or not right:
        return left + right
    if left.endswith("-") and len(left) >= 2 and not left[-2].isspace():
        if left[-2].islower() and right[0].islower():
            return left[:-1] + right
        return left + right
    if _CJK_CHAR.match(left[-1]) and _CJK_CHAR.match(right[0]):
        return left + right
    return left + " " + right


def _display_width(line: str) -> int:
    # CJK characters are set about twice as wide as Latin letters.
    return len(line) + len(_CJK_CHAR.findall(line))


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 (with a BOM, or told by its NUL bytes), else
    GB18030 (a superset of GBK and GB2312), else whatever charset-normalizer finds best.

    GB18030 comes before charset-normalizer because short Chinese texts are often guessed
    as Big5 or a Cyrillic code page; non-Chinese legacy text (Latin-1 and friends) rarely
    survives a strict GB18030 decode, so it falls through to the detector."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    # UTF-16 without a BOM is also valid UTF-8 when it is mostly ASCII, NULs and all; the
    # NULs in every other byte give it away.
    sample = data[:4096]
    if len(sample) >= 2 and sample.count(0) * 4 > len(sample):
        evens, odds = sample[0::2].count(0), sample[1::2].count(0)
        try:
            return data.decode("utf-16-be" if evens > odds else "utf-16-le")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        raise ExtractionError(_("The text file's encoding could not be recognised."))
    best = matches[0]
    # Western European text often ties between code pages that differ in a few letters;
    # the tie goes to the most common one.
    for match in matches:
        if match.encoding in _TIE_BREAK and match.chaos <= best.chaos and match.coherence >= best.coherence:
            return str(match)
    return str(best)
