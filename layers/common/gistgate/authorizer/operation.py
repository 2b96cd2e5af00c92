"""The MCP operation a request names in its headers, as the authorizer sees it.

MCP 2026-07-28 requires ``Mcp-Method`` (and, for ``tools/call``, ``Mcp-Name``)
on every POST, so the authorizer can tell which tool is being called without
reading the body it never receives. These headers are claims of the client:
the MCP function checks that they match the body (a mismatch is a 400) and
keeps its own scope check, so a lie here can only cost the liar a 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gistgate.core.config import MCP_PATH
from gistgate.core.inbound import MalformedRequest, header

__all__ = ["called_tool"]

MAX_NAME = 128


def called_tool(event: Mapping[str, Any]) -> str | None:
    """The tool a ``tools/call`` POST to the MCP endpoint names; None for anything else.

    Requests without the headers (the 2025 revisions), with a repeated or
    malformed one, or for another method get None: no per-tool decision here.
    """
    if event.get("httpMethod") != "POST" or event.get("resource") != MCP_PATH:
        return None
    try:
        method = header(event, "Mcp-Method")
        name = header(event, "Mcp-Name")
    except MalformedRequest:
        return None
    if method is None or name is None or method.strip() != "tools/call":
        return None
    name = name.strip()  # HTTP optional whitespace (RFC 9110 §5.5)
    return name if 0 < len(name) <= MAX_NAME else None
