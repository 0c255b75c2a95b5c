"""Text out of uploaded files: PDF (per page), plain text in the usual encodings, Markdown."""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from pathlib import PurePath

import charset_normalizer
from pypdf import PdfReader
from pypdf.errors import PdfReadError

SUFFIX_TYPES = {".pdf": "pdf", ".txt": "txt", ".text": "txt", ".md": "markdown", ".markdown": "markdown"}


class ExtractionError(Exception):
    """The file cannot be indexed; the message says why, in plain words."""


@dataclass(frozen=True)
class Page:
    text: str
    number: int | None


def file_type_for(name: str) -> str | None:
    return SUFFIX_TYPES.get(PurePath(name).suffix.lower())


def extract(data: bytes, file_type: str) -> list[Page]:
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
    """UTF-8 (with or without BOM), UTF-16 (BOM), else GB18030 (a superset of GBK), else
    whatever charset-normalizer finds best."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding)
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise ExtractionError("The text file's encoding could not be recognised.")
    return str(best)
