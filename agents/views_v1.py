"""Agents in the v1 (agent-platform) dialect: ``prompt_template`` and ``model_config``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors, services
from agents import serializers as s
from agents.models import Agent
from luxx.api import LuxxPagination, ok, paginate, validated


def _agent_fields(user: Any, data: dict[str, Any]) -> dict[str, Any]:
    """v1 input to the Agent model's fields."""
    fields: dict[str, Any] = {}
    for source, target in (("name", "name"), ("description", "description"), ("prompt_template", "system_prompt")):
        if source in data:
            fields[target] = data[source]
    config = data.get("model_config")
    if config:
        if "provider" in config:
            fields["provider_id"] = services.provider_for_kind(user=user, kind=config["provider"]).pk
            fields["provider_kind"] = config["provider"]
        for source, target in (("model_name", "model"), ("temperature", "temperature"), ("max_tokens", "max_tokens")):
            if source in config:
                fields[target] = config[source]
    return fields


class V1AgentListView(APIView):
    pagination_class = LuxxPagination

    @extend_schema(tags=["v1 agents"], summary="The caller's agents (v1)", responses=s.V1AgentSerializer(many=True))
    def get(self, request: Request) -> Response:
        agents = Agent.objects.owned_by(request.user).select_related("provider").order_by("id")
        return ok(paginate(request, agents, s.V1AgentSerializer))

    @extend_schema(tags=["v1 agents"], summary="Create an agent (v1)", request=s.V1AgentInput, responses=s.V1AgentSerializer)
    def post(self, request: Request) -> Response:
        data = validated(s.V1AgentInput, request.data)
        agent = services.agent_create(user=request.user, data=_agent_fields(request.user, data))
        return ok(s.V1AgentSerializer(agent).data)


class V1AgentDetailView(APIView):
    luxx_partial_put = True  # PUT changes only the given fields

    @extend_schema(tags=["v1 agents"], summary="Get an agent (v1)", responses=s.V1AgentSerializer)
    def get(self, request: Request, agent_id: int) -> Response:
        return ok(s.V1AgentSerializer(selectors.agent_get_owned(user=request.user, agent_id=agent_id)).data)

    @extend_schema(tags=["v1 agents"], summary="Update an agent, partially (v1)", request=s.V1AgentInput, responses=s.V1AgentSerializer)
    def put(self, request: Request, agent_id: int) -> Response:
        agent = selectors.agent_get_owned(user=request.user, agent_id=agent_id)
        data = validated(s.V1AgentInput, request.data, partial=True)
        agent = services.agent_update(agent=agent, user=request.user, data=_agent_fields(request.user, data))
        return ok(s.V1AgentSerializer(agent).data)

    @extend_schema(tags=["v1 agents"], summary="Delete an agent (v1)", responses={200: None})
    def delete(self, request: Request, agent_id: int) -> Response:
        selectors.agent_get_owned(user=request.user, agent_id=agent_id).delete()
        return ok(None)
