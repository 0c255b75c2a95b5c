"""The API envelope of both dialects: renderers, the exception handler, pagination.

Views return plain data through :func:`ok`; the renderer of the view's dialect wraps it.
Errors of every kind (validation, auth, throttling, 404, 405, unexpected exceptions) go
through :func:`exception_handler`, which produces the dialect's error envelope and never
a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.pagination import BasePagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

V1_PREFIX = "/api/v1/"


class LuxxError(exceptions.APIException):
    """The one application error type; services raise it (or a subclass) for any
    failure the client should see, and the exception handler maps it to HTTP."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_detail = "The request could not be processed."
    default_code = "error"
    v1_code: int | None = None

    def __init__(self, detail: str | None = None, *, status_code: int | None = None, v1_code: int | None = None):
        super().__init__(detail)
        if status_code is not None:
            self.status_code = status_code
        if v1_code is not None:
            self.v1_code = v1_code


class NotFound(LuxxError):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."
    default_code = "not_found"


class Conflict(LuxxError):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource is in a state that does not allow this."
    default_code = "conflict"


class Forbidden(LuxxError):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "You do not have permission to do this."
    default_code = "forbidden"


class UpstreamError(LuxxError):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The model provider failed."
    default_code = "upstream_error"


def ok(data: Any = None, message: str = "success", status_code: int = 200) -> Response:
    """A successful response; the renderer puts ``data`` and ``message`` in the envelope."""
    response = Response(data, status=status_code)
    response.luxx_message = message  # type: ignore[attr-defined]
    return response


def is_v1_path(path: str) -> bool:
    return path.startswith(V1_PREFIX) or path == V1_PREFIX.rstrip("/")


class LuxxRenderer(JSONRenderer):
    """``{"success", "message", "data"}`` for /api/, ``{"code", "message", "data"}`` for /api/v1/.

    The dialect is chosen by the request path so that errors raised before a view is
    resolved (unknown URL, auth) still wear the right envelope.
    """

    charset = "utf-8"
    ensure_ascii = False

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None) -> bytes:
        renderer_context = renderer_context or {}
        response: Response | None = renderer_context.get("response")
        request: Request | None = renderer_context.get("request")
        if response is None or getattr(response, "luxx_raw", False):
            return super().render(data, accepted_media_type, renderer_context)
        path = request.path if request is not None else ""
        body = envelope(
            data,
            status_code=response.status_code,
            message=getattr(response, "luxx_message", None),
            v1=is_v1_path(path),
        )
        return super().render(body, accepted_media_type, renderer_context)


def envelope(data: Any, *, status_code: int, message: str | None, v1: bool) -> dict[str, Any]:
    is_error = status_code >= 400
    if not is_error:
        if v1:
            return {"code": 200, "message": message or "success", "data": data}
        return {"success": True, "message": message or "success", "data": data}
    detail = data if isinstance(data, dict) else {"message": str(data)}
    text = detail.get("message") or "Request failed."
    if v1:
        return {"code": detail.get("code") or status_code * 100, "message": text, "data": None}
    body: dict[str, Any] = {"success": False, "message": text}
    if detail.get("errors"):
        body["errors"] = detail["errors"]
    return body


def _flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{"field.sub": ["message", ...]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten_errors(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                flat.update(_flatten_errors(item, f"{prefix}[{index}]" if prefix else str(index)))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def validation_message(errors: dict[str, list[str]]) -> str:
    parts = []
    for field, messages in errors.items():
        text = " ".join(messages)
        parts.append(text if field == "non_field_errors" else f"{field}: {text}")
    return "; ".join(parts) or "Invalid input."


_AUTH_MESSAGES = {
    "not_authenticated": "Authentication credentials were not provided.",
    "token_not_valid": "The token is invalid or expired.",
    "authentication_failed": "Authentication failed.",
    "user_inactive": "This account is disabled.",
    "user_not_found": "The token's user no longer exists.",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Map every exception to the dialect's error envelope. Unexpected errors are logged
    with their trace on the server and answered with a plain 500."""
    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = Forbidden()
    elif isinstance(exc, DjangoValidationError):
        # A model or form validator reached from a service: still bad input, never a 500.
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, RequestDataTooBig):
        exc = LuxxError("The request body is too large.", status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    elif isinstance(exc, SuspiciousOperation):
        exc = LuxxError("The request was refused as malformed.")

    headers: dict[str, str] = {}
    status_code: int
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten_errors(exc.detail)
        payload: dict[str, Any] = {"message": validation_message(errors), "errors": errors}
        status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, exceptions.Throttled):
        wait = getattr(exc, "wait", None)
        seconds = int(wait) + 1 if wait is not None else None
        text = "Too many requests. Try again later."
        if seconds is not None:
            text = f"Too many requests. Try again in {seconds} seconds."
            headers["Retry-After"] = str(seconds)
        text = getattr(exc, "luxx_message", None) or text
        payload = {"message": text}
        status_code = status.HTTP_429_TOO_MANY_REQUESTS
    elif isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        payload = {"message": _api_exception_message(exc)}
        if isinstance(exc, LuxxError) and exc.v1_code:
            payload["code"] = exc.v1_code
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            status_code = status.HTTP_401_UNAUTHORIZED
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
    else:
        logger.exception("Unhandled error in API view", exc_info=exc)
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
        payload = {"message": "An unexpected error occurred on the server."}

    response = Response(payload, status=status_code, headers=headers)
    response.exception = True
    return response


def json_error_response(request: HttpRequest, status_code: int, message: str) -> JsonResponse:
    """An error in the envelope of the request's dialect, for answers produced outside DRF
    (Django's own 400/403/404/500 handlers, plain async views)."""
    body = envelope({"message": message}, status_code=status_code, message=None, v1=is_v1_path(request.path))
    return JsonResponse(body, status=status_code, json_dumps_params={"ensure_ascii": False})


def _api_exception_message(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        code = detail.get("code")
        if code is not None and str(code) in _AUTH_MESSAGES:
            return _AUTH_MESSAGES[str(code)]
        message = detail.get("detail") or detail.get("message")
        if message:
            return str(message)
        return validation_message(_flatten_errors(detail))
    if isinstance(detail, list):
        return " ".join(str(item) for item in detail)
    return str(detail)


def query_text(request: Request, name: str, default: str | None = None) -> str | None:
    """A free-text query parameter; NUL characters (which no database column holds) are a 400."""
    value = request.query_params.get(name, default)
    if value is not None and "\x00" in value:
        raise exceptions.ValidationError({name: ["Null characters are not allowed."]})
    return value


def parse_positive_int(request: Request, name: str, default: int, *, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: ["Must be a whole number."]}) from None
    if value < 1 or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise exceptions.ValidationError({name: [f"Must be at least 1{bound}."]})
    return value


class LuxxPagination(BasePagination):
    """``page`` (default 1) and ``page_size`` (default 20, max 100), answered as
    ``{items, total, page, page_size}``. A page past the end is empty, not an error."""

    default_page_size = 20
    max_page_size = 100

    def paginate_queryset(self, queryset: Any, request: Request, view: APIView | None = None) -> list[Any]:
        self.page = parse_positive_int(request, "page", 1)
        default_size = getattr(view, "default_page_size", self.default_page_size)
        self.page_size = parse_positive_int(request, "page_size", default_size, maximum=self.max_page_size)
        self.total = queryset.count() if hasattr(queryset, "count") and not isinstance(queryset, list) else len(queryset)
        start = (self.page - 1) * self.page_size
        if start >= self.total:
            return []  # not asked of the database: an offset past a 64-bit integer is an error there
        return list(queryset[start : start + self.page_size])

    def get_paginated_response(self, data: Any) -> Response:
        return ok(self.get_paginated_data(data))

    def get_paginated_data(self, data: Any) -> dict[str, Any]:
        return {"items": data, "total": self.total, "page": self.page, "page_size": self.page_size}

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        maximum = self.max_page_size
        return [
            {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
            {"name": "page_size", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": maximum}},
        ]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["items", "total", "page", "page_size"],
            "properties": {
                "items": schema,
                "total": {"type": "integer", "example": 100},
                "page": {"type": "integer", "example": 1},
                "page_size": {"type": "integer", "example": 20},
            },
        }


def paginate(
    request: Request, queryset: Any, serializer_class: Any, *, default_page_size: int = 20, context: dict | None = None
) -> dict[str, Any]:
    """Paginate a queryset and serialize the page: ``{items, total, page, page_size}``."""
    paginator = LuxxPagination()
    paginator.default_page_size = default_page_size
    page = paginator.paginate_queryset(queryset, request)
    items = serializer_class(page, many=True, context=context or {"request": request}).data
    return paginator.get_paginated_data(items)


def validated(serializer_class: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
    """Validate request data with an input serializer; raise a 400 naming the fields."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
