"""Keep the API's error contract for exceptions raised outside DRF."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

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
