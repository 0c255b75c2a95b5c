"""Views that exist only when LUXX_TEST_VIEWS is on (or DEBUG), so tests can force failures.

Mounted at /api/__test__/ and /api/v1/__test__/ so that each dialect's envelope is tested.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

SECRET_DETAIL = "forced failure with secret detail sk-should-never-leak"


class ExplodeView(APIView):
    """A DRF view that fails unexpectedly."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def get(self, request: Request) -> Response:
        raise RuntimeError(SECRET_DETAIL)


def plain_explode(request: HttpRequest) -> HttpResponse:
    """A plain Django view that fails unexpectedly (as a streaming view could)."""
    raise RuntimeError(SECRET_DETAIL)


luxx_patterns = [path("explode", ExplodeView.as_view()), path("plain-explode", plain_explode)]
v1_patterns = [path("explode", ExplodeView.as_view()), path("plain-explode", plain_explode)]
