"""Schemathesis hooks for the fuzz run of tests/luxx/test_api_schema_fuzz.py (loaded by the
schemathesis CLI through SCHEMATHESIS_HOOKS; the run's data comes in LUXX_FUZZ).

Generated ids are random, so nearly every request with a path parameter would end in a
404. Before each call these hooks put the ids of the fuzz user's real resources in place
most of the time (PUT and DELETE always get spare resources of their own, so that a
fuzzed update or delete cannot break what the other operations use), and point ids named
in request bodies at real resources, since a schema cannot say which integers exist.
"""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import requests
import schemathesis

FUZZ: dict[str, Any] = json.loads(os.environ.get("LUXX_FUZZ", "{}"))
# Ids that request bodies refer to: the field's name, and the kind of resource it names.
BODY_REFERENCES = {
    "provider_id": "provider_id",
    "selector_provider_id": "provider_id",
    "agent_id": "agent_id",
    "conversation_id": "conversation_id",
}


def _ids_for(path: str, method: str) -> dict[str, Any]:
    """Real ids by parameter name; a key "<path>:<name>" is for that path only."""
    scope: dict[str, Any] = FUZZ.get("victim" if method.upper() in ("PUT", "PATCH", "DELETE") else "use", {})
    ids = {key: value for key, value in scope.items() if ":" not in key}
    ids.update({key.rpartition(":")[2]: value for key, value in scope.items() if key.rpartition(":")[0] == path})
    return ids


def _keeps_generated(value: Any) -> bool:
    """One generated id in four is kept (an unknown one: 404), chosen by the value itself
    so that a run with the same seed makes the same requests."""
    return zlib.crc32(repr(value).encode()) % 4 == 0


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    operation = case.operation
    if case.path_parameters:
        writes = operation.method.upper() in ("PUT", "PATCH", "DELETE") or operation.path.startswith("/api/auth/users/")
        for name, real in _ids_for(operation.path, operation.method).items():
            if name in case.path_parameters and (writes or not _keeps_generated(case.path_parameters[name])):
                case.path_parameters[name] = real
    if not (case.meta is not None and case.meta.generation.mode.is_negative):
        # A negative case's body stays as generated: made real, it could become valid.
        _point_at_real_resources(case.body)


def _point_at_real_resources(body: Any) -> None:
    """Ids named in a body (also in nested objects, such as a room's agents) made real."""
    if isinstance(body, list):
        for item in body:
            _point_at_real_resources(item)
    elif isinstance(body, dict):
        for name, value in body.items():
            if name in BODY_REFERENCES and isinstance(value, (int, str)) and not isinstance(value, bool):
                body[name] = FUZZ["body"][BODY_REFERENCES[name]]
            elif name == "attachments" and isinstance(value, list) and value and "attachment" in FUZZ["body"]:
                # A message's files: one real image of the fuzz user (already in its conversation).
                body[name] = [FUZZ["body"]["attachment"]]
            else:
                _point_at_real_resources(value)


@schemathesis.auth(refresh_interval=5)
class FuzzUserToken:
    """The fuzz user's bearer token, from a real sign-in: a fuzzed logout revokes the token
    it presents, and schemathesis then signs in again (on the 401) and replays."""

    def get(self, case: Any, ctx: Any) -> str:
        login = requests.post(f"{FUZZ['base_url']}/api/auth/login", json=FUZZ["credentials"], timeout=10)
        login.raise_for_status()
        return str(login.json()["data"]["access_token"])

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


# Refusals of schema-valid requests that no schema can state: uniqueness, what exists or
# is configured, how many of a thing a user already has, Django's password similarity and common-password lists. Each is a 400
# naming its reason; anything else refused with 400 is a schema that says too little.
STATEFUL_REFUSALS = (
    "already exists",
    "User does not exist.",
    "provider is available: add one first.",
    "The password is too similar to the",
    "This password is too common.",
    "room cannot be set to",  # a room's status moves only along its state machine
    "does not resolve: check the URL.",  # a provider's host must resolve now, which no schema can say
    "is not an agent of this room.",  # a moderator or summarizer names one of the room's agents
    "The moderator policy needs a moderator",
    "besides the moderator.",
    "tokens already: revoke one first.",  # a user holds at most 20 MCP tokens
    "is not an IPv6 address.",  # a pattern cannot say which bracketed hosts are IPv6 addresses
    "Unknown tools:",  # which tools exist depends on the server's configuration and the user's MCP servers
    "Only a reply of a conversation has events to follow.",  # which kind of message an id names
    "Enter a valid email address.",  # `format: email` does not say which domains Django's validator takes
    "The submitted file is empty.",  # a binary part cannot be given a minimum length
)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except a schema-violating request that schemathesis itself names a
    positive one, a schema-valid request refused for one of the reasons above,
    an upload refused with 415 for its file name's suffix, an import refused with 400 for its
    file's content, or a chat attachment refused for its content (not an image or document
    the server can read: 400, 415): no multipart schema can state those."""
    if type(failure).__name__ == "AcceptedNegativeData":
        # Schemathesis puts a valid sample file into a binary part of its own accord; a
        # negative case whose only invalid part was that file is then valid, and it says so.
        return "Invalid component: positive test case" not in failure.message
    if type(failure).__name__ != "RejectedPositiveData":
        return True
    if response.status_code == 415 and "/documents/" in case.operation.path:
        return False
    if response.status_code == 400 and case.operation.path == "/api/conversations/import":
        return False  # the file's content (a Luxx or ChatGPT export) is not a multipart schema's to state
    if response.status_code in (400, 415) and case.operation.path == "/api/files/":
        return False
    if response.status_code != 400:
        return True
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        return True
    return not any(reason in message for reason in STATEFUL_REFUSALS)
