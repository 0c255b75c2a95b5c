"""Documents and search, in both dialects."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge import selectors, services
from knowledge import serializers as s
from knowledge.models import Document, DocumentStatus
from luxx.api import LuxxError, LuxxPagination, ok, paginate, parse_positive_int, validated

MULTIPART_OVERHEAD = 64 * 1024


def _upload(request: Request, serializer: Any) -> Document:
    # A body far over the limit is refused before it is read and spooled to disk.
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > settings.LUXX_MAX_UPLOAD_MB * 1024 * 1024 + MULTIPART_OVERHEAD:
        raise LuxxError(services.too_large_message(), status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    data = validated(serializer, request.data)
    agent = selectors.agent_owned(user=request.user, agent_id=data.get("agent_id"))
    upload = data["file"]
    services.document_check(name=upload.name, size=upload.size)  # before reading a file that is too big
    return services.document_upload(user=request.user, agent=agent, name=upload.name, data=upload.read())


def _search(request: Request, serializer: Any) -> dict[str, Any]:
    data = validated(serializer, request.data)
    selectors.agent_owned(user=request.user, agent_id=data.get("agent_id"))
    user_id: int = request.user.pk  # type: ignore[assignment]
    results = services.knowledge_search(user_id=user_id, query=data["query"], agent_id=data.get("agent_id"), top_k=data["top_k"])
    return {"results": [asdict(r) for r in results], "total": len(results)}


class DocumentListView(APIView):
    parser_classes = [MultiPartParser]
    pagination_class = LuxxPagination
    luxx_error_codes = {"GET": ["404"], "POST": ["404", "409", "415"]}

    @extend_schema(
        tags=["knowledge"],
        summary="The caller's documents",
        parameters=[OpenApiParameter("agent_id", {"type": "integer", "minimum": 1}, required=False)],
        responses=s.DocumentSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        agent_id = parse_positive_int(request, "agent_id", 0) or None
        documents = selectors.document_list(user=request.user, agent=selectors.agent_owned(user=request.user, agent_id=agent_id))
        return ok(paginate(request, documents, s.DocumentSerializer))

    @extend_schema(
        tags=["knowledge"],
        summary="Upload a PDF, TXT or Markdown document",
        request=s.UploadInput,
        responses={
            201: s.DocumentSerializer,
            202: OpenApiResponse(s.DocumentSerializer, description="A large file: indexed in the background."),
        },
    )
    def post(self, request: Request) -> Response:
        document = _upload(request, s.UploadInput)
        if document.status == DocumentStatus.PROCESSING:
            return ok(s.DocumentSerializer(document).data, "Document accepted; indexing in the background", 202)
        return ok(s.DocumentSerializer(document).data, "Document uploaded", 201)


class DocumentDetailView(APIView):
    @extend_schema(tags=["knowledge"], summary="Get a document", responses=s.DocumentSerializer)
    def get(self, request: Request, document_id: int) -> Response:
        return ok(s.DocumentSerializer(selectors.document_get(user=request.user, document_id=document_id)).data)

    @extend_schema(tags=["knowledge"], summary="Delete a document and its passages", responses={200: None})
    def delete(self, request: Request, document_id: int) -> Response:
        services.document_delete(document=selectors.document_get(user=request.user, document_id=document_id))
        return ok(None, "Document deleted")


class DocumentChunkListView(APIView):
    pagination_class = LuxxPagination

    @extend_schema(
        tags=["knowledge"],
        summary="A document's chunks, in index order",
        parameters=[
            OpenApiParameter(
                "page", {"type": "integer", "minimum": 1}, required=False, description="1-based; a page past the end is empty."
            ),
            OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": 100}, required=False, description="Default 20."),
        ],
        responses=s.ChunkSerializer(many=True),
    )
    def get(self, request: Request, document_id: int) -> Response:
        document = selectors.document_get(user=request.user, document_id=document_id)
        return ok(paginate(request, selectors.chunk_list(document=document), s.ChunkSerializer))


class SearchView(APIView):
    luxx_error_codes = {"POST": ["404"]}

    @extend_schema(tags=["knowledge"], summary="Search the caller's documents", request=s.SearchInput, responses=s.SearchOutput)
    def post(self, request: Request) -> Response:
        return ok(_search(request, s.SearchInput))


class V1UploadView(APIView):
    parser_classes = [MultiPartParser]
    luxx_error_codes = {"POST": ["404", "409", "415"]}

    @extend_schema(
        tags=["v1 knowledge"], summary="Upload a document for an agent (v1)", request=s.V1UploadInput, responses=s.DocumentSerializer
    )
    def post(self, request: Request) -> Response:
        return ok(s.DocumentSerializer(_upload(request, s.V1UploadInput)).data)


class V1SearchView(APIView):
    luxx_error_codes = {"POST": ["404"]}

    @extend_schema(tags=["v1 knowledge"], summary="Search an agent's documents (v1)", request=s.V1SearchInput, responses=s.SearchOutput)
    def post(self, request: Request) -> Response:
        return ok(_search(request, s.V1SearchInput))
