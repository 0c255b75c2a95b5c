"""What an upload is, told from its bytes: the name's suffix may only agree with them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from django.utils.translation import gettext as _

from files import images

IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".gif": "GIF"}
DOCUMENT_SUFFIXES = {".pdf": "pdf", ".txt": "txt", ".text": "txt", ".md": "markdown", ".markdown": "markdown"}
DOCUMENT_CONTENT_TYPES = {"pdf": "application/pdf", "txt": "text/plain", "markdown": "text/markdown"}
TEXT_SNIFF_BYTES = 64 * 1024


class TypeRefused(Exception):
    """The file is of a type that is not taken, or not what its name says (415)."""


@dataclass(frozen=True)
class Detected:
    kind: str  # "image" or "document"
    file_type: str  # Pillow's format for an image; "pdf", "txt" or "markdown" for a document


def detect(*, name: str, data: bytes) -> Detected:
    """The kind and type of an upload, from its bytes. A name's known suffix must agree with
    them (a PNG named .pdf and text named .png are refused); a name without a suffix is
    taken for what the bytes are; any other suffix is refused."""
    suffix = PurePath(name).suffix.lower()
    if suffix and suffix not in IMAGE_SUFFIXES and suffix not in DOCUMENT_SUFFIXES:
        raise TypeRefused(
            _("Unsupported file type %(suffix)s: attach a PNG, JPEG, WebP or GIF image, or a PDF, TXT or Markdown document.")
            % {"suffix": suffix}
        )
    actual = _actual(data)
    if suffix in IMAGE_SUFFIXES:
        if actual.kind != "image":
            raise TypeRefused(
                _("%(name)s is not a PNG, JPEG, WebP or GIF image (its content is %(what)s).") % {"name": name, "what": _describe(actual)}
            )
        return actual
    if suffix in DOCUMENT_SUFFIXES:
        expected = DOCUMENT_SUFFIXES[suffix]
        if expected == "pdf" and actual.file_type != "pdf":
            raise TypeRefused(_("%(name)s is not a PDF (its content is %(what)s).") % {"name": name, "what": _describe(actual)})
        if expected != "pdf" and actual.file_type != "txt":
            raise TypeRefused(_("%(name)s is not a text file (its content is %(what)s).") % {"name": name, "what": _describe(actual)})
        return Detected("document", expected)
    if actual.kind == "other":
        raise TypeRefused(_("Unsupported file type: attach a PNG, JPEG, WebP or GIF image, or a PDF, TXT or Markdown document."))
    return actual


def _actual(data: bytes) -> Detected:
    if data.lstrip()[:5] == b"%PDF-":
        return Detected("document", "pdf")
    image_format = images.sniff(data)
    if image_format is not None:
        return Detected("image" if image_format in images.FORMATS else "other", image_format)
    if _looks_like_text(data[:TEXT_SNIFF_BYTES]):
        return Detected("document", "txt")
    return Detected("other", "binary")


def _looks_like_text(head: bytes) -> bool:
    """Text in some encoding: no NUL (UTF-16 aside, which has its byte-order mark), and a
    decoding that charset-normalizer trusts."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the sniffing window is still UTF-8.
        if error.start >= len(head) - 3 and len(head) == TEXT_SNIFF_BYTES:
            return True
    import charset_normalizer

    best = charset_normalizer.from_bytes(head).best()
    return best is not None and best.chaos < 0.2


def _describe(detected: Detected) -> str:
    if detected.kind == "image" or (detected.kind == "other" and detected.file_type != "binary"):
        return _("a %(format)s image") % {"format": images.NAMES.get(detected.file_type, detected.file_type)}
    if detected.file_type == "pdf":
        return _("a PDF")
    if detected.file_type == "txt":
        return _("text")
    return _("binary data")
