"""Uploads of chat attachments: checked from their bytes, made safe, stored for their owner."""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from datetime import timedelta
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status

from files import images, kinds
from files.models import File, FileKind
from luxx.api import LuxxError, NotFound
from luxx.db import write_transaction

MB = 1024 * 1024
logger = logging.getLogger(__name__)


class UnsupportedType(LuxxError):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_media_type"


class TooLarge(LuxxError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def largest_upload_bytes() -> int:
    """The most bytes an upload may have before its kind is known."""
    return max(int(settings.LUXX_MAX_UPLOAD_MB), int(settings.LUXX_MAX_IMAGE_MB)) * MB


def file_check_size(*, size: int) -> None:
    """413 for a file larger than any kind allows; views call it before reading the bytes."""
    if size > largest_upload_bytes():
        raise TooLarge(_("The file is larger than %(limit)s MB.") % {"limit": largest_upload_bytes() // MB})


def clean_name(name: str) -> str:
    """The file's own name (no folders), without control characters, at most 255 characters."""
    base = PurePath(name.replace("\\", "/")).name
    cleaned = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return (cleaned or "file")[:255]


def file_upload(*, user: Any, name: str, data: bytes) -> File:
    """Check an upload by its bytes and store it for ``user``.

    415 for a type not taken or not what the name says; 413 over the kind's size limit or
    the workspace quota; 400 for an empty file, an image that is corrupt or a decompression
    bomb, or a document without readable text. Images are decoded, turned upright, stripped
    of metadata and scaled down (files/images.py); documents' text is extracted and split
    into passages with the knowledge base's extractor and chunker."""
    name = clean_name(name)
    if not data:
        raise LuxxError(_("The file is empty."))
    file_check_size(size=len(data))
    try:
        detected = kinds.detect(name=name, data=data)
    except kinds.TypeRefused as error:
        raise UnsupportedType(str(error)) from None
    fields = _image_fields(data) if detected.kind == FileKind.IMAGE else _document_fields(data, detected.file_type)
    stored: bytes = fields["data"]
    _check_quota(user=user, adding=len(stored))
    with write_transaction():
        return File.objects.create(
            user=user, name=name, kind=detected.kind, size=len(stored), sha256=hashlib.sha256(stored).hexdigest(), **fields
        )


def _image_fields(data: bytes) -> dict[str, Any]:
    if len(data) > int(settings.LUXX_MAX_IMAGE_MB) * MB:
        raise TooLarge(_("The image is larger than %(limit)s MB.") % {"limit": settings.LUXX_MAX_IMAGE_MB})
    try:
        image = images.process(data)
    except images.ImageRefused as error:
        if error.unsupported:
            raise UnsupportedType(str(error)) from None
        raise LuxxError(str(error)) from None
    return {"data": image.data, "content_type": image.content_type, "width": image.width, "height": image.height}


def _document_fields(data: bytes, file_type: str) -> dict[str, Any]:
    from knowledge.chunking import chunk_pages
    from knowledge.extract import ExtractionError, extract
    from knowledge.segment import segment

    if len(data) > int(settings.LUXX_MAX_UPLOAD_MB) * MB:
        raise TooLarge(_("The document is larger than %(limit)s MB.") % {"limit": settings.LUXX_MAX_UPLOAD_MB})
    try:
        pages = extract(data, file_type)
    except ExtractionError as error:
        raise LuxxError(str(error)) from None
    drafts = chunk_pages(pages, markdown=file_type == "markdown")
    if not drafts:
        raise LuxxError(_("The file has no text to read."))
    chunks = [
        {"content": d.content, "heading": d.heading[:500], "page": d.page, "words": segment(f"{d.heading}\n{d.content}")} for d in drafts
    ]
    text = "\n\n".join(page.text for page in pages if page.text.strip())
    return {"data": data, "content_type": kinds.DOCUMENT_CONTENT_TYPES[file_type], "text": text, "chunks": chunks}


def _check_quota(*, user: Any, adding: int) -> None:
    """Attachments count against the workspace quota, with the workspace's own files."""
    quota = int(settings.LUXX_WORKSPACE_QUOTA_MB) * MB
    stored = File.objects.filter(user=user).aggregate(total=Sum("size"))["total"] or 0
    used = stored + _workspace_usage(user)
    if used + adding > quota:
        raise TooLarge(
            _("Your attachments and workspace would use more than your quota of %(quota)s MB: delete some files or conversations first.")
            % {"quota": settings.LUXX_WORKSPACE_QUOTA_MB}
        )


def _workspace_usage(user: Any) -> int:
    from toolbox import workspace

    path = Path(user.workspace_path) if user.workspace_path else Path(settings.LUXX_WORKSPACE_ROOT) / str(user.pk)
    if not path.is_dir():
        return 0
    try:
        return workspace.usage_bytes(path)
    except OSError:
        logger.warning("Could not measure the workspace of user %s", user.pk)
        return 0


def file_get(*, user: Any, file_id: str) -> File:
    """The user's file (without its bytes); 404 for an unknown id or another user's file."""
    found = File.objects.owned_by(user).defer("data", "chunks").filter(pk=file_id).first()
    if found is None:
        raise NotFound(_("File not found."))
    return found


def file_content(*, user: Any, file_id: str) -> tuple[File, bytes]:
    found = File.objects.owned_by(user).defer("chunks", "text").filter(pk=file_id).first()
    if found is None:
        raise NotFound(_("File not found."))
    return found, bytes(found.data)


def files_prune_unsent(*, older_than: timedelta) -> int:
    """Delete files never sent with a message, uploaded longer ago than ``older_than``.
    Safe to run twice: what is gone is not counted again."""
    cutoff = timezone.now() - older_than
    with write_transaction():
        deleted, _by_model = File.objects.filter(conversation__isnull=True, created_at__lt=cutoff).delete()
    return deleted


def file_delete(*, user: Any, file_id: str) -> None:
    with write_transaction():
        if not File.objects.owned_by(user).filter(pk=file_id).delete()[0]:
            raise NotFound(_("File not found."))
