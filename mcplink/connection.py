"""What the MCP client needs and gives, as plain data, without the SDK (which is imported
only when a server is actually contacted, see :mod:`mcplink.client`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class McpFailure(Exception):
    def __init__(self, message: str, *, unreachable: bool):
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable


@dataclass(frozen=True)
class Connection:
    """Everything needed to reach one server, as plain data (secrets decrypted)."""

    server_id: int
    name: str
    transport: str
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    network: bool = False
    timeout: float = 30.0
    allow_private: bool = False

    @property
    def secrets(self) -> list[str]:
        return [value for value in (*self.headers.values(), *self.env.values()) if len(value) >= 4]


@dataclass(frozen=True)
class DiscoveredTool:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class CallOutcome:
    is_error: bool
    text: str


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` without any of the secrets in it."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
