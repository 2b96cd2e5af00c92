"""The SDK internals gistgate reaches into: fail loudly if mcp moves them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer

from gistgate.mcp.sdk import (
    drop_request_handlers,
    lowlevel_server,
    request_methods,
    request_scope,
)


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


def test_the_handler_registry_is_the_one_the_sdk_reads():
    """MCPServer registers prompts, resources and subscriptions/listen, and the SDK derives
    the advertised capabilities from the same registry: dropping them takes both away."""
    low = lowlevel_server(MCPServer("t"))
    assert {"prompts/list", "resources/read", "subscriptions/listen"} <= request_methods(low)
    assert low.get_capabilities().prompts is not None

    drop_request_handlers(low, ["prompts/list", "prompts/get", "subscriptions/listen"])

    assert low.get_request_handler("prompts/get") is None
    assert "subscriptions/listen" not in request_methods(low)
    assert low.get_capabilities().prompts is None
    modern = low.get_capabilities(protocol_version="2026-07-28")
    assert modern.tools is not None
    assert not modern.tools.list_changed
    assert low.get_request_handler("tools/call") is not None  # nothing else goes


def test_a_moved_handler_registry_fails_loudly():
    class Moved:
        """A server whose registry is no longer ``_request_handlers``."""

        def __init__(self) -> None:
            self._request_handlers: dict[str, object] = {}

        def get_request_handler(self, method: str) -> object:
            return {"tools/list": object()}.get(method)

    with pytest.raises(RuntimeError, match="mcp SDK changed"):
        request_methods(Moved())  # type: ignore[arg-type]
    no_registry = SimpleNamespace(get_request_handler=lambda method: None)
    with pytest.raises(RuntimeError, match="mcp SDK changed"):
        drop_request_handlers(no_registry, ["prompts/list"])  # type: ignore[arg-type]
