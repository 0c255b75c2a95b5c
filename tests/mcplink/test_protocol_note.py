"""The README's note on the MCP protocol stays true to the installed SDK: the pinned
version is the one installed, and the revisions it names are the ones the SDK speaks."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

from mcp.types import version as protocol

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_names_the_pinned_sdk_and_the_revisions_it_speaks() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pinned = re.search(r"^mcp==(\S+)$", (ROOT / "requirements.txt").read_text(encoding="utf-8"), re.MULTILINE)

    assert pinned is not None and pinned.group(1) == version("mcp")
    assert f"(`mcp` {version('mcp')}, pinned)" in readme
    assert f"The SDK's newest protocol revision is\n**{protocol.LATEST_PROTOCOL_VERSION}**" in readme
    older = ", ".join(reversed(protocol.HANDSHAKE_PROTOCOL_VERSIONS[1:])) + f" and {protocol.OLDEST_SUPPORTED_VERSION}"
    assert " ".join(older.split()) in " ".join(readme.split())
