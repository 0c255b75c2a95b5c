"""The tools API: list, detail, execute, and the audit trail behind it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from accounts.models import PermissionLevel
from tests.support.factories import api_client_for, make_user
from tests.toolbox.conftest import call, make_ctx
from toolbox import sandbox
from toolbox.models import ToolExecution

pytestmark = pytest.mark.django_db

ALL_TOOLS = {
    "code": ["python_eval", "python_execute"],
    "file": ["file_delete", "file_exists", "file_grep", "file_list", "file_read", "file_write"],
    "shell": ["shell_execute"],
    "crawler": ["batch_fetch", "web_fetch", "web_search"],
    "data": ["process_data"],
}


def test_the_list_has_the_seeds_shape_with_level_and_availability() -> None:
    user = make_user(level=PermissionLevel.WRITE)

    response = api_client_for(user).get("/api/tools/")

    body = response.json()
    assert response.status_code == 200 and body["success"] is True
    data = body["data"]
    assert set(data) == {"tools", "categorized", "total"}
    for category, names in ALL_TOOLS.items():
        assert [t["name"] for t in data["categorized"][category]] == names
    assert data["total"] == len(data["tools"]) >= 12
    by_name = {t["name"]: t for t in data["tools"]}
    write = by_name["file_write"]
    assert {k: write[k] for k in ("category", "required_level", "allowed", "available", "unavailable_reason")} == {
        "category": "file",
        "required_level": 2,
        "allowed": True,
        "available": True,
        "unavailable_reason": "",
    }
    assert write["parameters"]["required"] == ["path", "content"]
    assert by_name["python_execute"]["allowed"] is False
    assert by_name["python_execute"]["available"] is sandbox.sandbox_availability()[0]


def test_the_list_filters_by_category_and_refuses_an_unknown_one() -> None:
    client = api_client_for(make_user())

    shell = client.get("/api/tools/?category=shell").json()["data"]
    unknown = client.get("/api/tools/?category=magic")

    assert [t["name"] for t in shell["tools"]] == ["shell_execute"] and shell["total"] == 1
    assert unknown.status_code == 400
    assert unknown.json()["message"].startswith("category: Unknown category")


def test_tool_detail_and_unknown_tool() -> None:
    client = api_client_for(make_user())

    detail = client.get("/api/tools/web_search")
    missing = client.get("/api/tools/no_such_tool")
    missing_execute = client.post("/api/tools/no_such_tool/execute", {}, format="json")

    assert detail.status_code == 200
    assert detail.json()["data"]["parameters"]["properties"]["query"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 500,
        "description": "Search query",
    }
    assert (missing.status_code, missing.json()["message"]) == (404, "Unknown tool: no_such_tool.")
    assert missing_execute.status_code == 404


def test_unauthenticated_requests_get_401() -> None:
    client = api_client_for(None)

    assert client.get("/api/tools/").status_code == 401
    assert client.post("/api/tools/process_data/execute", {"data": "[]"}, format="json").status_code == 401


def test_execute_returns_the_result_and_records_it() -> None:
    user = make_user(level=PermissionLevel.WRITE)
    client = api_client_for(user)

    written = client.post("/api/tools/file_write/execute", {"path": "a.txt", "content": "hi"}, format="json")
    missing = client.post("/api/tools/file_read/execute", {"path": "nope.txt"}, format="json")

    assert written.status_code == 200
    assert written.json()["data"]["result"] == {"path": "a.txt", "bytes_written": 2, "size": 2, "appended": False}
    assert written.json()["data"]["success"] is True
    assert missing.status_code == 200
    assert missing.json()["data"]["success"] is False
    assert missing.json()["data"]["result"] == {"error": "Not found: nope.txt."}
    records = list(ToolExecution.objects.filter(user=user).order_by("id").values("tool_name", "arguments", "success", "rejected_status"))
    assert records == [
        {"tool_name": "file_write", "arguments": {"path": "a.txt", "content": "hi"}, "success": True, "rejected_status": None},
        {"tool_name": "file_read", "arguments": {"path": "nope.txt"}, "success": False, "rejected_status": None},
    ]


def test_bad_arguments_answer_400_naming_the_argument() -> None:
    client = api_client_for(make_user())

    missing = client.post("/api/tools/file_read/execute", {}, format="json")
    wrong_type = client.post("/api/tools/file_read/execute", {"path": 5}, format="json")
    extra = client.post("/api/tools/file_read/execute", {"path": "a", "mode": "x"}, format="json")
    not_object = client.post("/api/tools/file_read/execute", ["a"], format="json")

    assert (missing.status_code, missing.json()["message"]) == (400, "arguments: 'path' is a required property")
    assert (wrong_type.status_code, wrong_type.json()["message"]) == (400, "path: 5 is not of type 'string'")
    assert extra.status_code == 400 and "'mode' was unexpected" in extra.json()["message"]
    assert not_object.status_code == 400


@pytest.mark.parametrize(
    "name,arguments",
    [("python_execute", {"code": "print(1)"}), ("shell_execute", {"command": "id"}), ("file_write", {"path": "a", "content": "b"})],
)
def test_a_read_only_user_gets_403_and_the_refusal_is_audited(name: str, arguments: dict[str, Any]) -> None:
    user = make_user(level=PermissionLevel.READ_ONLY)

    response = api_client_for(user).post(f"/api/tools/{name}/execute", arguments, format="json")

    assert response.status_code == 403
    assert "(READ_ONLY)" in response.json()["message"]
    record = ToolExecution.objects.get(user=user)
    assert (record.tool_name, record.success, record.rejected_status) == (name, False, 403)


def test_an_unavailable_tool_answers_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "sandbox_availability", lambda: (False, "bwrap is not installed (apt-get install bubblewrap)."))
    client = api_client_for(make_user(level=PermissionLevel.EXECUTE))

    listing = client.get("/api/tools/?category=code").json()["data"]["tools"]
    response = client.post("/api/tools/python_execute/execute", {"code": "print(1)"}, format="json")

    assert [(t["available"], t["unavailable_reason"]) for t in listing] == [
        (False, "bwrap is not installed (apt-get install bubblewrap).")
    ] * 2
    assert response.status_code == 503
    assert (
        response.json()["message"]
        == "The tool python_execute is unavailable on this server: bwrap is not installed (apt-get install bubblewrap)."
    )


@pytest.mark.django_db(transaction=True)
async def test_tool_execute_refuses_beyond_the_level_and_audits_with_the_chat_ids() -> None:
    ctx = await make_ctx(level=PermissionLevel.READ_ONLY)
    from dataclasses import replace

    ctx = replace(ctx, conversation_id="conv_abc", room_id="room_xyz")

    outcome, result = await call("file_write", {"path": "a", "content": "b"}, ctx)

    assert outcome.success is False and outcome.rejected_status == 403
    assert result == {"error": "The tool file_write needs permission level 2 (WRITE); you have 1 (READ_ONLY)."}
    record = await ToolExecution.objects.aget(user_id=ctx.user_id)
    assert (record.conversation_id, record.room_id, record.rejected_status) == ("conv_abc", "room_xyz", 403)
    assert json.loads(record.result_preview) == result
