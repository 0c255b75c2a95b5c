"""OpenAPI generation that documents what clients actually receive: every body inside
its dialect's envelope, and the error envelope for the failures each endpoint can have."""

from __future__ import annotations

import copy
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance, is_patched_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from luxx.api import is_v1_path

_LUXX_ERROR = {
    "type": "object",
    "required": ["success", "message"],
    "properties": {
        "success": {"type": "boolean", "example": False},
        "message": {"type": "string", "example": "email: This field is required."},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Per-field messages, for validation errors only.",
        },
    },
}
_V1_ERROR = {
    "type": "object",
    "required": ["code", "message", "data"],
    "properties": {
        "code": {"type": "integer", "example": 40000},
        "message": {"type": "string", "example": "email: This field is required."},
        "data": {"type": "object", "nullable": True, "example": None},
    },
}
_ERROR_DESCRIPTIONS = {
    "400": "Bad input; the message names the field.",
    "401": "Missing, expired or revoked token.",
    "403": "Not allowed for this user.",
    "404": "Unknown, or not yours.",
    "409": "The resource's state does not allow this.",
    "413": "Too large.",
    "415": "Unsupported file type.",
    "429": "Throttled.",
}


# Text without NUL characters, which DRF's CharField refuses (and PostgreSQL cannot store).
NO_NUL_PATTERN = "^[^\\x00]*$"
# The same, for a field that must not be blank: DRF trims the text, so one character that
# is not white space is needed.
NOT_BLANK_PATTERN = "^[^\\x00]*[^\\x00\\s][^\\x00]*$"


# What one server-sent event is, as schemathesis and OpenAPI 3.2's itemSchema read a
# text/event-stream body: its ``event`` name, ``data`` (JSON text) and ``id``.
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"type": "string", "description": "The event type (absent for the v1 dialect's data-only lines)."},
        "data": {"type": "string", "description": "The event's JSON payload."},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}


def merge_schema(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` laid over ``base``, dictionaries merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = merge_schema(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


class EnvelopeAutoSchema(AutoSchema):
    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        if self.method == "GET" and self.path.endswith("/") and operation_id.endswith("_retrieve"):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _map_serializer(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        """A serializer's ``openapi_extra`` (constraints across fields that no field states,
        such as "either content or retry_message_id") is laid over its request schema."""
        self._luxx_direction = direction
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if is_patched_serializer(serializer, direction):
            self._patch_nested(serializer, schema, direction)
        extra = getattr(serializer, "openapi_extra", None)
        if extra and direction == "request":
            schema = merge_schema(schema, extra)
        return schema

    def _patch_nested(self, serializer: Any, schema: dict[str, Any], direction: Any) -> None:
        """DRF validates a partial body's nested objects as partial too: so are their schemas."""
        properties = schema.get("properties", {})
        for name, field in force_instance(serializer).fields.items():
            if not isinstance(field, serializers.Serializer) or set(properties.get(name, {})) != {"$ref"}:
                continue
            nested = copy.copy(field)
            nested.partial = True
            properties[name] = self.resolve_serializer(nested, direction).ref

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        """A request's text field that refuses NUL characters (DRF's CharField does, and
        PostgreSQL cannot store them) says so, and that it must not be blank once trimmed,
        unless a pattern of its own says more."""
        super()._insert_field_validators(field, schema)
        if (
            getattr(self, "_luxx_direction", None) == "request"
            and schema.get("type") == "string"
            and "pattern" not in schema
            and "enum" not in schema
            and any(isinstance(validator, ProhibitNullCharactersValidator) for validator in field.validators)
        ):
            not_blank = not getattr(field, "allow_blank", True) and getattr(field, "trim_whitespace", False)
            schema["pattern"] = NOT_BLANK_PATTERN if not_blank else NO_NUL_PATTERN

    def _get_request_for_media_type(self, serializer: Any, direction: str = "request") -> Any:
        """A view with ``luxx_partial_put`` validates PUT bodies as partial: its PUT body
        is documented as a PATCH body is (no field required, its own component)."""
        if self.method != "PUT" or not getattr(self.view, "luxx_partial_put", False):
            return super()._get_request_for_media_type(serializer, direction)
        self.method = "PATCH"
        try:
            return super()._get_request_for_media_type(serializer, direction)
        finally:
            self.method = "PUT"

    def _get_request_body(self, direction: str = "request") -> Any:
        """A serializer with ``openapi_body_required`` needs a body even though each of its
        fields is optional (e.g. "give at least one of ...")."""
        body = super()._get_request_body(direction)
        if body and getattr(self.get_request_serializer(), "openapi_body_required", False):
            body["required"] = True
        return body

    def _is_v1(self) -> bool:
        return is_v1_path(self.path)

    def _wrap(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self._is_v1():
            return {
                "type": "object",
                "required": ["code", "message", "data"],
                "properties": {
                    "code": {"type": "integer", "example": 200},
                    "message": {"type": "string", "example": "success"},
                    "data": schema,
                },
            }
        return {
            "type": "object",
            "required": ["success", "message", "data"],
            "properties": {
                "success": {"type": "boolean", "example": True},
                "message": {"type": "string", "example": "success"},
                "data": schema,
            },
        }

    def _get_response_for_code(
        self, serializer: Any, status_code: str, media_types: Any = None, direction: str = "response"
    ) -> dict[str, Any]:
        response = super()._get_response_for_code(serializer, status_code, media_types, direction)
        if getattr(self.view, "luxx_raw_schema", False):
            return response
        for media_type, body in response.get("content", {}).items():
            if media_type != "application/json" or "schema" not in body:
                continue
            if str(status_code) >= "400":
                body["schema"] = _V1_ERROR if self._is_v1() else _LUXX_ERROR
            elif not getattr(self.view, "luxx_raw_success", False):  # a file download is not enveloped
                body["schema"] = self._wrap(body["schema"])
        return response

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if getattr(self.view, "luxx_raw_schema", False):
            return responses
        error_codes = ["400"] if self.method in ("POST", "PUT", "PATCH") or self._has_query_params() else []
        if not any(isinstance(p, type) and issubclass(p, AllowAny) for p in getattr(self.view, "permission_classes", [])):
            error_codes.append("401")
        if "{" in self.path:
            error_codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            error_codes.append("413")  # every route's body has a limit (luxx/bodylimit.py)
        error_codes.extend(getattr(self.view, "luxx_error_codes", {}).get(self.method, []))
        schema = _V1_ERROR if self._is_v1() else _LUXX_ERROR
        for code in error_codes:
            responses.setdefault(
                code,
                {"description": _ERROR_DESCRIPTIONS.get(code, "Error."), "content": {"application/json": {"schema": schema}}},
            )
        return responses

    def _has_query_params(self) -> bool:
        return bool(self._get_paginator()) or bool(getattr(self.view, "luxx_query_params", False))
