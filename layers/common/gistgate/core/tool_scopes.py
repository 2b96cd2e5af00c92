"""Which scope each MCP tool needs: the one table the authorizer and the MCP function read.

The authorizer uses it to answer a ``tools/call`` the token lacks scope for with
a step-up 403 before the MCP function runs (MCP 2026-07-28 names the tool in
the ``Mcp-Name`` header); the MCP function uses it for its own check, which
older protocol revisions (no headers) rely on. One table, so the two can never
disagree (tests/unit/core/test_tool_scopes.py and the MCP registry test hold it).

Scopes are named by role (read, write) because the scope strings themselves are
settings (``SCOPE_READ``, ``SCOPE_WRITE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from gistgate.core.config import Settings

__all__ = ["TOOL_SCOPES", "UnknownTool", "challenge_scopes", "tool_scope"]

Role = Literal["read", "write"]

# Every tool the MCP function serves, and the scope role it needs (None: no scope).
TOOL_SCOPES: Mapping[str, Role | None] = MappingProxyType(
    {
        "whoami": None,
        "connect_github": None,
        "disconnect_github": None,
        "create_gist": "write",
        "list_gists": "read",
        "get_gist": "read",
        "update_gist": "write",
        "delete_gist": "write",
        "get_my_profile": "read",
    }
)


class UnknownTool(KeyError):
    """A tool name that is not in the table (the MCP function answers it as unknown)."""


def tool_scope(settings: Settings, tool: str) -> str | None:
    """The scope ``tool`` needs under these settings, or None when it needs none."""
    try:
        role = TOOL_SCOPES[tool]
    except KeyError:
        raise UnknownTool(tool) from None
    if role is None:
        return None
    return settings.scope_read if role == "read" else settings.scope_write


def challenge_scopes(settings: Settings, tool: str) -> tuple[str, ...]:
    """Every scope a call of ``tool`` needs: the API's baseline plus the tool's own.

    This is the ``scope`` of an ``insufficient_scope`` challenge: all the operation
    needs, including what the token may already hold (MCP authorization, scope
    challenges), so a client that asks for exactly this set can make the call.
    """
    needed = list(settings.required_scopes)
    own = tool_scope(settings, tool)
    if own and own not in needed:
        needed.append(own)
    return tuple(needed)
