"""The SDK internals gistgate reaches into: fail loudly if mcp moves them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer

from gistgate.mcp.sdk import lowlevel_server, request_scope


def test_the_lowlevel_server_is_reachable():
    server = MCPServer("t")
    assert isinstance(lowlevel_server(server), Server)


def test_a_missing_lowlevel_server_fails_loudly():
    with pytest.raises(RuntimeError, match="mcp SDK changed"):
        lowlevel_server(SimpleNamespace())  # type: ignore[arg-type]


def test_request_scope_needs_a_starlette_request():
    ctx = SimpleNamespace(request_context=SimpleNamespace(request=None))
    with pytest.raises(RuntimeError, match="mcp SDK changed"):
        request_scope(ctx)  # type: ignore[arg-type]
    scope = {"type": "http"}
    ctx = SimpleNamespace(request_context=SimpleNamespace(request=SimpleNamespace(scope=scope)))
    assert request_scope(ctx) is scope  # type: ignore[arg-type]
