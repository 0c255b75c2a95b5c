"""Providers and agents (Luxx dialect)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import probe, selectors, services
from agents import serializers as s
from agents.models import Agent
from luxx.api import ok, validated


class ProviderListView(APIView):
    @extend_schema(tags=["providers"], summary="The caller's providers and the shared ones", responses=s.ProviderListOutput)
    def get(self, request: Request) -> Response:
        providers = selectors.provider_list_visible(user=request.user)
        return ok({"providers": s.ProviderSerializer(providers, many=True).data, "total": len(providers)})

    @extend_schema(tags=["providers"], summary="Add a provider", request=s.ProviderInput, responses={201: s.ProviderSerializer})
    def post(self, request: Request) -> Response:
        data = validated(s.ProviderInput, request.data)
        provider = services.provider_create(user=request.user, data=data)
        return ok(s.ProviderSerializer(provider).data, "Provider created", 201)


class ProviderDetailView(APIView):
    luxx_partial_put = True  # PUT changes only the given fields
    luxx_error_codes = {"PUT": ["403"], "DELETE": ["403"]}

    @extend_schema(tags=["providers"], summary="Get a provider", responses=s.ProviderSerializer)
    def get(self, request: Request, provider_id: int) -> Response:
        return ok(s.ProviderSerializer(selectors.provider_get_visible(user=request.user, provider_id=provider_id)).data)

    @extend_schema(
        tags=["providers"],
        summary="Update a provider (only the given fields; api_key omitted keeps it, empty clears it)",
        request=s.ProviderUpdateInput,
        responses=s.ProviderSerializer,
    )
    def put(self, request: Request, provider_id: int) -> Response:
        provider = selectors.provider_get_visible(user=request.user, provider_id=provider_id)
        data = validated(s.ProviderUpdateInput, request.data, partial=True)
        provider = services.provider_update(provider=provider, user=request.user, data=data)
        return ok(s.ProviderSerializer(provider).data, "Provider updated")

    @extend_schema(tags=["providers"], summary="Delete a provider", responses={200: None})
    def delete(self, request: Request, provider_id: int) -> Response:
        provider = selectors.provider_get_visible(user=request.user, provider_id=provider_id)
        services.provider_delete(provider=provider, user=request.user)
        return ok(None, "Provider deleted")


class ProviderTestView(APIView):
    @extend_schema(
        tags=["providers"], summary="Make one tiny real request through the provider", request=None, responses=s.ProviderTestOutput
    )
    def post(self, request: Request, provider_id: int) -> Response:
        provider = selectors.provider_get_visible(user=request.user, provider_id=provider_id)
        result = probe.provider_test(provider=provider)
        label = f"HTTP {result.status_code}" if result.status_code else "No response"
        return ok(s.ProviderTestOutput(result).data, f"{label}: {result.response_body[:200]}")


class AgentListView(APIView):
    @extend_schema(tags=["agents"], summary="The caller's agents", responses=s.AgentSerializer(many=True))
    def get(self, request: Request) -> Response:
        return ok(s.AgentSerializer(Agent.objects.owned_by(request.user).order_by("id"), many=True).data)

    @extend_schema(tags=["agents"], summary="Create an agent", request=s.AgentInput, responses={201: s.AgentSerializer})
    def post(self, request: Request) -> Response:
        data = validated(s.AgentInput, request.data)
        agent = services.agent_create(user=request.user, data=data)
        return ok(s.AgentSerializer(agent).data, "Agent created", 201)


class AgentDetailView(APIView):
    luxx_partial_put = True  # PUT changes only the given fields

    @extend_schema(tags=["agents"], summary="Get an agent", responses=s.AgentSerializer)
    def get(self, request: Request, agent_id: int) -> Response:
        return ok(s.AgentSerializer(selectors.agent_get_owned(user=request.user, agent_id=agent_id)).data)

    @extend_schema(tags=["agents"], summary="Update an agent (only the given fields)", request=s.AgentInput, responses=s.AgentSerializer)
    def put(self, request: Request, agent_id: int) -> Response:
        agent = selectors.agent_get_owned(user=request.user, agent_id=agent_id)
        data = validated(s.AgentInput, request.data, partial=True)
        agent = services.agent_update(agent=agent, user=request.user, data=data)
        return ok(s.AgentSerializer(agent).data, "Agent updated")

    @extend_schema(tags=["agents"], summary="Delete an agent", responses={200: None})
    def delete(self, request: Request, agent_id: int) -> Response:
        selectors.agent_get_owned(user=request.user, agent_id=agent_id).delete()
        return ok(None, "Agent deleted")
