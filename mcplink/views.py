"""The MCP servers API: list, add, read, change, remove, and refresh the tools found."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from luxx.api import ok, validated
from mcplink import selectors, services
from mcplink import serializers as s

TAGS = ["mcp"]


def _report(report: services.DiscoveryReport) -> dict[str, Any]:
    server = report.server
    return {
        "server": s.McpServerSerializer(server).data,
        "tools": s.tools_data(server),
        "skipped": report.skipped,
        "status": server.status,
        "error": report.error,
    }


class McpServerListView(APIView):
    luxx_error_codes = {"POST": ["403"]}

    @extend_schema(tags=TAGS, summary="The caller's MCP servers and the shared ones", responses=s.McpServerListOutput)
    def get(self, request: Request) -> Response:
        servers = selectors.server_list_visible(user=request.user)
        return ok({"servers": s.McpServerSerializer(servers, many=True).data, "total": len(servers)})

    @extend_schema(
        tags=TAGS,
        summary="Add an MCP server and discover its tools",
        description="Headers and env are write-only. stdio servers, shared servers, network and required_level are for administrators.",
        request=s.McpServerInput,
        responses={201: s.McpRefreshOutput},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.McpServerInput, request.data)
        report = services.server_create(user=request.user, data=data)
        return ok(_report(report), "MCP server added", 201)


class McpServerDetailView(APIView):
    luxx_partial_put = True  # PUT changes only the given fields
    luxx_error_codes = {"PUT": ["403"], "DELETE": ["403"]}

    @extend_schema(tags=TAGS, summary="Get an MCP server", responses=s.McpServerSerializer)
    def get(self, request: Request, server_id: int) -> Response:
        return ok(s.McpServerSerializer(selectors.server_get_visible(user=request.user, server_id=server_id)).data)

    @extend_schema(
        tags=TAGS,
        summary="Change an MCP server (only the given fields; headers/env omitted keep them, {} clears them)",
        request=s.McpServerInput,
        responses=s.McpRefreshOutput,
    )
    def put(self, request: Request, server_id: int) -> Response:
        server = selectors.server_get_visible(user=request.user, server_id=server_id)
        data = validated(s.McpServerInput, request.data, partial=True)
        report = services.server_update(server=server, user=request.user, data=data)
        return ok(_report(report), "MCP server updated")

    @extend_schema(tags=TAGS, summary="Remove an MCP server", responses={200: None})
    def delete(self, request: Request, server_id: int) -> Response:
        server = selectors.server_get_visible(user=request.user, server_id=server_id)
        services.server_delete(server=server, user=request.user)
        return ok(None, "MCP server removed")


class McpServerRefreshView(APIView):
    luxx_error_codes = {"POST": ["403"]}

    @extend_schema(tags=TAGS, summary="Discover the server's tools again", request=None, responses=s.McpRefreshOutput)
    def post(self, request: Request, server_id: int) -> Response:
        server = selectors.server_get_visible(user=request.user, server_id=server_id)
        report = services.server_refresh(server=server, user=request.user)
        message = f"Found {len(report.server.tools)} tools" if not report.error else report.error
        return ok(_report(report), message)


class McpTokenListView(APIView):
    @extend_schema(tags=TAGS, summary="The caller's personal MCP tokens (never the tokens themselves)", responses=s.McpTokenListOutput)
    def get(self, request: Request) -> Response:
        tokens = selectors.token_list(user=request.user)
        return ok({"tokens": s.McpTokenSerializer(tokens, many=True).data, "total": len(tokens)})

    @extend_schema(
        tags=TAGS,
        summary="Make a personal token for MCP clients (valid at /mcp only; shown once)",
        request=s.McpTokenInput,
        responses={201: s.McpTokenCreatedSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.McpTokenInput, request.data)
        issued = services.token_create(user=request.user, name=data["name"], expires_in_days=data.get("expires_in_days"))
        body = {**s.McpTokenSerializer(issued.record).data, "token": issued.secret}
        return ok(body, "Token made: copy it now, it is not shown again", 201)


class McpTokenDetailView(APIView):
    @extend_schema(tags=TAGS, summary="Revoke a personal MCP token", responses={200: None})
    def delete(self, request: Request, token_id: int) -> Response:
        services.token_revoke(token=selectors.token_get_owned(user=request.user, token_id=token_id))
        return ok(None, "Token revoked")
