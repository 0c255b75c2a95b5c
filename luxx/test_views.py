"""Views that exist only when LUXX_TEST_VIEWS is on, so tests can force failures."""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ExplodeView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def get(self, request: Request) -> Response:
        raise RuntimeError("forced failure with secret detail sk-should-never-leak")


luxx_patterns = [path("explode", ExplodeView.as_view())]
v1_patterns = [path("explode", ExplodeView.as_view())]
