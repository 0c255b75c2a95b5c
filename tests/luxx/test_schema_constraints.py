"""What the published OpenAPI schema states beyond field types: the constraints that the
serializers and services enforce, so that generated clients send what the API accepts.
(tests/luxx/test_api_schema_fuzz.py checks the whole schema against a running server.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.support.factories import api_client_for, make_admin
from toolbox.registry import registry

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema as /api/schema/ serves it (postprocessing hooks included)."""
    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


def request_schema(schema: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return body


def test_a_message_has_either_content_or_retry_message_id_and_real_id_patterns(schema: dict[str, Any]) -> None:
    send = request_schema(schema, "/api/messages/")

    # content and/or attachments (a message of files alone), or else retry_message_id
    assert send["oneOf"] == [
        {
            "anyOf": [{"required": ["content"]}, {"required": ["attachments"]}],
            "not": {"anyOf": [{"required": ["retry_message_id"]}, {"required": ["regenerate_message_id"]}]},
        },
        {
            "required": ["retry_message_id"],
            "not": {
                "anyOf": [
                    {"required": ["content"]},
                    {"required": ["attachments"]},
                    {"required": ["regenerate_message_id"]},
                    {"required": ["parent_id"]},
                ]
            },
        },
        {
            "required": ["regenerate_message_id"],
            "not": {
                "anyOf": [
                    {"required": ["content"]},
                    {"required": ["attachments"]},
                    {"required": ["retry_message_id"]},
                    {"required": ["parent_id"]},
                ]
            },
        },
    ]
    assert send["properties"]["conversation_id"]["pattern"] == "^conv_[a-z0-9]{16}$"
    for name in ("retry_message_id", "regenerate_message_id", "parent_id"):
        assert send["properties"][name]["pattern"] == "^msg_[a-z0-9]{16}$"
    assert send["properties"]["parent_id"]["nullable"] is True
    assert request_schema(schema, "/api/messages/stream") == send


def test_each_built_in_tool_has_an_operation_with_its_own_arguments(schema: dict[str, Any]) -> None:
    read = schema["paths"]["/api/tools/file_read/execute"]["post"]

    assert read["operationId"] == "tools_file_read_execute"
    assert read["requestBody"]["required"] is True
    assert request_schema(schema, "/api/tools/file_read/execute") == registry.get("file_read").parameters
    assert schema["paths"]["/api/tools/file_list/execute"]["post"]["requestBody"]["required"] is False
    assert {name for name in schema["paths"] if name.startswith("/api/tools/") and name.endswith("/execute")} == {
        "/api/tools/{name}/execute",
        *(f"/api/tools/{tool.name}/execute" for tool in registry.all()),
    }


def test_inputs_state_their_patterns_bounds_and_exclusive_needs(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]

    assert components["AgentInputRequest"]["properties"]["color"]["pattern"] == "^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
    assert components["RegisterInputRequest"]["properties"]["password"]["minLength"] == 8
    assert components["RoomCreateInputRequest"]["properties"]["agents"]["minItems"] == 1
    assert [option["required"] for option in components["ProviderInputRequest"]["anyOf"][1:]] == [
        ["provider_type", "base_url", "api_version"]
    ]
    assert components["UserAdminUpdateInputRequest"]["anyOf"] == [
        {"required": ["permission_level"]},
        {"required": ["is_active"]},
        {"required": ["workspace_path"]},
    ]
    limit = next(p for p in schema["paths"]["/api/messages/"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}


def test_a_json_endpoint_documents_and_takes_json_only(schema: dict[str, Any]) -> None:
    client = api_client_for(make_admin())

    form = client.post("/api/agents/", {"name": "form"}, format="multipart")

    assert list(schema["paths"]["/api/agents/"]["post"]["requestBody"]["content"]) == ["application/json"]
    assert form.status_code == 415


def test_a_provider_url_the_llm_sdks_cannot_parse_is_refused_not_a_500_later() -> None:
    client = api_client_for(make_admin())

    response = client.post(
        "/api/providers/", {"name": "odd", "provider_type": "openai", "base_url": "https://ex\bample.com/v1"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "base_url": ["Use a host of letters, digits, dots and hyphens (or [IPv6]), and no spaces or control characters."]
    }


def test_logout_refuses_a_body_that_is_not_an_object() -> None:
    client = api_client_for(make_admin())

    response = client.post("/api/auth/logout", "null", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["message"] == "No data provided"


@pytest.mark.parametrize("body", ["null", "[]", "0"])
def test_a_tool_call_whose_body_is_not_an_object_is_refused(body: str) -> None:
    client = api_client_for(make_admin())

    refused = client.post("/api/tools/file_list/execute", body, content_type="application/json")
    without_body = client.post("/api/tools/file_list/execute")

    assert refused.status_code == 400
    assert refused.json()["message"] == "The request body must be a JSON object of arguments."
    assert without_body.status_code == 200


def test_text_fields_state_that_they_refuse_nul_and_blank_text(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    agent = components["AgentInputRequest"]["properties"]

    assert agent["name"]["pattern"] == "^[^\\x00]*[^\\x00\\s][^\\x00]*$"  # required text: not blank once trimmed
    assert agent["role"]["pattern"] == "^[^\\x00]*$"
    assert agent["color"]["pattern"] == "^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"  # its own pattern stays
    assert "pattern" not in components["Agent"]["properties"]["name"]  # responses say nothing of it
    password = re.compile(components["RegisterInputRequest"]["properties"]["password"]["pattern"])
    assert password.search("secret123") and password.search("123secret")
    assert not password.search("secret12\x003") and not password.search("12345678") and not password.search("password")
    base_url = re.compile(components["ProviderInputRequest"]["properties"]["base_url"]["pattern"])
    assert base_url.search("http://127.0.0.1:65535/v1") and not base_url.search("http://127.0.0.1:65536/v1")
    assert schema["paths"]["/api/chat-rooms/{room_id}/agents"]["post"]["requestBody"]["required"] is True


def test_a_put_that_changes_only_the_given_fields_requires_none_nested_ones_included(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    v1_put = schema["paths"]["/api/v1/agents/{agent_id}"]["put"]["requestBody"]
    v1_body = components["PatchedV1AgentInputRequest"]

    assert "required" not in v1_put
    assert v1_put["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PatchedV1AgentInputRequest"}
    assert "required" not in v1_body
    assert v1_body["properties"]["model_config"] == {"$ref": "#/components/schemas/PatchedV1ModelConfigInputRequest"}
    assert "required" not in components["PatchedV1ModelConfigInputRequest"]
    assert components["V1AgentInputRequest"]["required"] == ["model_config", "name", "prompt_template"]  # creating still needs them
    for path, name in [
        ("/api/agents/{agent_id}", "PatchedAgentInputRequest"),
        ("/api/providers/{provider_id}", "PatchedProviderUpdateInputRequest"),
    ]:
        assert schema["paths"][path]["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(name)


def test_the_statuses_a_request_can_get_are_documented(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    upload = paths["/api/knowledge/documents/"]["post"]

    assert {"201", "202", "413"} <= set(upload["responses"])
    assert schema["components"]["schemas"]["UploadInputRequest"]["properties"]["agent_id"] == {
        "type": "integer",
        "minimum": 1,
        "nullable": False,
    }
    assert "413" in paths["/api/tools/python_execute/execute"]["post"]["responses"]
    assert "413" not in paths["/api/agents/"]["get"]["responses"]
    assert "404" in paths["/api/messages/"]["get"]["responses"]
    events = {p["name"]: p["schema"] for p in paths["/api/messages/{message_id}/events"]["get"]["parameters"]}
    assert events["Last-Event-ID"]["pattern"] == "^[0-9]{0,15}$"
    documents = {p["name"]: p["schema"] for p in paths["/api/knowledge/documents/"]["get"]["parameters"]}
    assert documents["agent_id"] == {"type": "integer", "minimum": 1}


def test_free_text_query_parameters_state_that_they_refuse_nul(schema: dict[str, Any]) -> None:
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/conversations/"]["get"]["parameters"]}

    assert parameters["search"]["pattern"] == parameters["project_id"]["pattern"] == "^[^\\x00]*$"
