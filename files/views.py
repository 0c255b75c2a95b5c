"""Chat attachments: upload, details, content, extracted text, deletion. Owner only: any
other user's file is 404."""

from __future__ import annotations

from urllib.parse import quote

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from files import serializers as s
from files import services
from files.models import FileKind
from luxx.api import Conflict, ok, validated

MULTIPART_OVERHEAD = 64 * 1024
# What a stored file's bytes can be: images as re-encoded (a GIF becomes PNG), documents as uploaded.
CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain", "text/markdown")


class FileListView(APIView):
    parser_classes = [MultiPartParser]
    luxx_error_codes = {"POST": ["415"]}

    @extend_schema(
        tags=["files"],
        summary="Upload a file to attach to a message",
        description=(
            "Images (PNG, JPEG, WebP, GIF: first frame) up to LUXX_MAX_IMAGE_MB (10), documents (PDF, TXT, Markdown) up to "
            "LUXX_MAX_UPLOAD_MB (20). The type is told from the bytes: a name's suffix that disagrees is 415. Images are "
            "decoded, stripped of metadata and scaled to at most LUXX_IMAGE_MAX_SIDE pixels; one that would decode past "
            "LUXX_IMAGE_MAX_MEGAPIXELS is 400. Files count against the workspace quota (413 past it) and are deleted "
            "with the conversation they are attached in."
        ),
        request={"multipart/form-data": s.FileUploadInput},
        responses={201: s.FileSerializer},
    )
    def post(self, request: Request) -> Response:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit():
            services.file_check_size(size=max(0, int(declared) - MULTIPART_OVERHEAD))
        data = validated(s.FileUploadInput, request.data)
        upload = data["file"]
        services.file_check_size(size=upload.size)
        stored = services.file_upload(user=request.user, name=upload.name or "", data=upload.read())
        return ok(s.FileSerializer(stored).data, "File uploaded", 201)


class FileDetailView(APIView):
    @extend_schema(tags=["files"], summary="A file's details", responses=s.FileSerializer)
    def get(self, request: Request, file_id: str) -> Response:
        return ok(s.FileSerializer(services.file_get(user=request.user, file_id=file_id)).data)

    @extend_schema(tags=["files"], summary="Delete a file", responses={200: None})
    def delete(self, request: Request, file_id: str) -> Response:
        services.file_delete(user=request.user, file_id=file_id)
        return ok(None, "File deleted")


class FileContentView(APIView):
    @extend_schema(
        tags=["files"],
        summary="A file's bytes (the image as the model sees it, or the document as uploaded)",
        responses={(200, media_type): OpenApiResponse(OpenApiTypes.BINARY) for media_type in CONTENT_TYPES},
    )
    def get(self, request: Request, file_id: str) -> HttpResponse:
        found, data = services.file_content(user=request.user, file_id=file_id)
        response = HttpResponse(data, content_type=found.content_type)
        # Images show in the browser; documents download (a sandboxed page could not show a PDF).
        disposition = "inline" if found.kind == FileKind.IMAGE else "attachment"
        response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(found.name)}"
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, max-age=3600"
        # A document opened in the browser runs nothing and embeds nothing.
        response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
        return response


class FileTextView(APIView):
    luxx_error_codes = {"GET": ["409"]}

    @extend_schema(tags=["files"], summary="A document's extracted text", responses=s.FileTextOutput)
    def get(self, request: Request, file_id: str) -> Response:
        found = services.file_get(user=request.user, file_id=file_id)
        if found.kind != FileKind.DOCUMENT:
            raise Conflict(_("Only a document has extracted text."))
        return ok({"id": found.pk, "name": found.name, "text": found.text})
