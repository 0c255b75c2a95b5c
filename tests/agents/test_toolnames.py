"""Tool names the model APIs would refuse travel as stand-ins and come back as Luxx's."""

from __future__ import annotations

from agents.llm.base import ChatRequest, TextDelta, ToolCallRequest, ToolSpec
from agents.llm.toolnames import VALID_NAME, ToolNameMap


def test_dotted_names_get_valid_stand_ins_and_valid_names_stay() -> None:
    names = ToolNameMap.for_names(["mcp.files.read", "process_data", "mcp.files.read_v2.0"])

    assert names.to_wire == {"mcp.files.read": "mcp_files_read", "mcp.files.read_v2.0": "mcp_files_read_v2_0"}
    assert names.from_wire == {"mcp_files_read": "mcp.files.read", "mcp_files_read_v2_0": "mcp.files.read_v2.0"}


def test_a_stand_in_that_would_clash_gets_a_hash_and_every_stand_in_is_valid() -> None:
    names = ToolNameMap.for_names(["mcp_a_b", "mcp.a.b", "mcp.a_b", "mcp." + "x" * 70])

    wires = list(names.to_wire.values())
    assert names.to_wire["mcp.a.b"].startswith("mcp_a_b_") and len(names.to_wire["mcp.a.b"]) == len("mcp_a_b_") + 8
    assert len(set(wires) | {"mcp_a_b"}) == len(wires) + 1
    assert all(VALID_NAME.match(wire) for wire in wires)


def test_a_request_goes_out_with_stand_ins_and_tool_calls_come_back_under_luxx_names() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "mcp.s.old", "arguments": "{}"}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
        tools=[ToolSpec("mcp.s.echo", "Echo", {"type": "object"}), ToolSpec("file_read", "Read", {"type": "object"})],
    )
    names = ToolNameMap.for_request(request)

    sent = names.outgoing(request)

    assert [t.name for t in sent.tools] == ["mcp_s_echo", "file_read"]
    assert sent.messages[1]["tool_calls"][0]["name"] == "mcp_s_old"
    assert request.tools[0].name == "mcp.s.echo"
    assert names.incoming(ToolCallRequest("c2", "mcp_s_echo", "{}")) == ToolCallRequest("c2", "mcp.s.echo", "{}")
    assert names.incoming(ToolCallRequest("c3", "file_read", "{}")) == ToolCallRequest("c3", "file_read", "{}")
    assert names.incoming(TextDelta("x")) == TextDelta("x")


def test_a_request_with_only_valid_names_needs_no_map() -> None:
    request = ChatRequest(model="m", messages=[], tools=[ToolSpec("web_fetch", "", {})])

    assert not ToolNameMap.for_request(request)
