"""Luxx's middleware: the API's error contract for exceptions raised outside DRF, and
static files."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

from luxx.api import json_error_response

logger = logging.getLogger("luxx.api")

API_PREFIX = "/api/"


class ApiExceptionMiddleware(MiddlewareMixin):
    """An exception escaping a plain (non-DRF) view under /api/ answers in the dialect's
    error envelope, whatever DEBUG says: a client of the API never sees a stack trace or
    Django's debug page. DRF views never get here; their exceptions go through
    ``luxx.api.exception_handler``."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, Http404):
            return json_error_response(request, 404, "Not found.")
        if isinstance(exception, PermissionDenied):
            return json_error_response(request, 403, "You do not have permission to do this.")
        logger.error("Unhandled error in %s %s", request.method, request.path, exc_info=exception)
        return json_error_response(request, 500, "An unexpected error occurred on the server.")


class StaticFilesMiddleware:
    """WhiteNoise for ``STATIC_URL`` only. WhiteNoise's middleware is synchronous, which
    would put every request's whole middleware stack in a thread under ASGI; here only
    requests for static files go to it (in a thread), and the others pass straight on."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.prefix = "/" + str(settings.STATIC_URL).lstrip("/")
        self.whitenoise = WhiteNoiseMiddleware(_not_a_static_file)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        if request.path_info.startswith(self.prefix):
            response = self.whitenoise(request)
            if response is not None:
                return response
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.startswith(self.prefix):
            static: HttpResponseBase | None = await sync_to_async(self.whitenoise, thread_sensitive=True)(request)
            if static is not None:
                return static
        response: HttpResponseBase = await self.get_response(request)
        return response


def _not_a_static_file(request: HttpRequest) -> None:
    return None
