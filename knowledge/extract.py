"""Text out of uploaded files: PDF (per page), plain text in the usual encodings, Markdown."""

from __future__ import annotations

import codecs
import io
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import PurePath

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
    by normalise_pdf_text()) or a single unnumbered Page.

    Raises ExtractionError for empty, corrupt, encrypted or text-less files, and for a PDF
    without pages."""
    if not data:
        raise ExtractionError(_("The file is empty."))
    pages = _pdf_pages(data) if file_type == "pdf" else [Page(decode_text(data), None)]
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
        texts = [page.extract_text() or "" for page in reader.pages]
    except _CORRUPT_PDF_ERRORS as error:
        raise ExtractionError(_("The PDF is corrupt or unreadable (%(reason)s).") % {"reason": type(error).__name__}) from None
    if not texts:
        raise ExtractionError(_("The PDF has no pages."))
    return [Page(normalise_pdf_text(text), number) for number, text in enumerate(texts, start=1)]


_CJK_CHAR = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_OPENS_LINE = re.compile(r"[A-Z0-9\"'“‘(\[•·*\-\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
# A line shorter than this share of the page's usual line width ended before the margin:
# the last line of a paragraph, a heading, a list item.
_SHORT_LINE = 0.75


def normalise_pdf_text(text: str) -> str:
    """A PDF page's text as paragraphs separated by blank lines, wrapped lines joined.

    pypdf ends every printed line with a newline, so a paragraph arrives cut into lines.
    A line is joined to the next unless it is blank, or it stops well short of the page's
    usual width and the next line starts like a new paragraph (a capital, a digit, a
    bullet, a quote or CJK text); a line that ends in a hyphenated word always goes on.
    See join_wrapped() for how two lines are glued."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    widths = sorted(_display_width(line) for line in lines if line)
    if not widths:
        return ""
    # The 80th percentile: most lines of running text reach the margin, and one long
    # outlier (a URL, a table row) does not make every other line look short.
    usual = widths[min(len(widths) - 1, int(len(widths) * 0.8))]
    paragraphs: list[str] = []
    current = ""
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        current = join_wrapped(current, line) if current else line
        hyphenated = line.endswith("-") and len(line) > 1 and not line[-2].isspace()
        if following and not hyphenated and _display_width(line) < usual * _SHORT_LINE and _OPENS_LINE.match(following):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)


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
