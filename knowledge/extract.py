"""Text out of uploaded files: PDF (per page), plain text in the usual encodings, Markdown."""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from pathlib import PurePath

import charset_normalizer
from pypdf import PdfReader
from pypdf.errors import PdfReadError

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
    """The file's text, one Page per PDF page (numbered from 1) or a single unnumbered Page.

    Raises ExtractionError for empty, corrupt, encrypted or text-less files."""
    if not data:
        raise ExtractionError("The file is empty.")
    pages = _pdf_pages(data) if file_type == "pdf" else [Page(decode_text(data), None)]
    if not any(page.text.strip() for page in pages):
        if file_type == "pdf":
            raise ExtractionError("The PDF has no extractable text (it may be scanned images only).")
        raise ExtractionError("The file is empty.")
    return pages


def _pdf_pages(data: bytes) -> list[Page]:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError("The PDF is encrypted; upload an unprotected copy.")
        return [Page(page.extract_text() or "", number) for number, page in enumerate(reader.pages, start=1)]
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError) as error:
        raise ExtractionError(f"The PDF is corrupt or unreadable ({type(error).__name__}).") from None


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
        raise ExtractionError("The text file's encoding could not be recognised.")
    best = matches[0]
    # Western European text often ties between code pages that differ in a few letters;
    # the tie goes to the most common one.
    for match in matches:
        if match.encoding in _TIE_BREAK and match.chaos <= best.chaos and match.coherence >= best.coherence:
            return str(match)
    return str(best)
