"""What /mcp serves and advertises, at every protocol revision we serve (2025-06-18,
2025-11-25, 2026-07-28): tools only, the same capabilities everywhere, every other method
Method not found at once (``subscriptions/listen`` included), an unknown tool -32602, and
the cache hints and ``serverInfo`` on the results (gistgate/mcp/server.py).

The requests go through the real app (``build_app``: the Origin check, the identity from
the authorizer's context, the per-request session manager), as ASGI calls under a time
limit, so a request that never ends fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import httpx
import pytest

from gistgate import __version__
from gistgate.mcp.http import build_app
from gistgate.mcp.server import LIST_CACHE
from gistgate.mcp.tools import SERVER_NAME, build_server
from tests.fixtures.lambda_runtime import authorizer_context, rest_event

MODERN = "2026-07-28"
LEGACY = ("2025-06-18", "2025-11-25")
VERSIONS = (*LEGACY, MODERN)
SERVER_INFO = "io.modelcontextprotocol/serverInfo"
# Every spec method gistgate does not serve, with params valid for it.
NOT_SERVED: dict[str, dict[str, Any]] = {
    "prompts/list": {},
    "prompts/get": {"name": "summarize"},
    "resources/list": {},
    "resources/templates/list": {},
    "resources/read": {"uri": "test://nonexistent"},
    "resources/subscribe": {"uri": "test://nonexistent"},
    "resources/unsubscribe": {"uri": "test://nonexistent"},
    "completion/complete": {
        "ref": {"type": "ref/prompt", "name": "summarize"},
        "argument": {"name": "x", "value": ""},
    },
    "logging/setLevel": {"level": "info"},
    "subscriptions/listen": {"notifications": {"toolsListChanged": True}},
}
TIME_LIMIT = 10  # seconds; every answer here takes milliseconds


class Mcp:
    """Posts one JSON-RPC request at a revision, shaped as a client of that revision."""

    def __init__(self, app: Any) -> None:
        event = rest_event("POST", "/mcp", authorizer=authorizer_context())

        async def with_event(scope: Any, receive: Any, send: Any) -> None:
            scope["aws.event"] = event  # as Mangum leaves it: the authorizer's context
            await app(scope, receive, send)

        self.app = with_event

    def post(
        self, version: str, method: str, params: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        params = dict(params or {})
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": version,
        }
        if version == MODERN:
            params["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": version,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
            }
            headers["Mcp-Method"] = method
            name = params.get("name", params.get("uri"))
            if method in ("tools/call", "prompts/get", "resources/read") and name:
                headers["Mcp-Name"] = name
        body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}

        async def exchange() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="https://mcp.test") as c:
                with anyio.fail_after(TIME_LIMIT):
                    return await c.post("/mcp", content=json.dumps(body), headers=headers)

        response = anyio.run(exchange)
        return response.status_code, response.json()

    def result(self, version: str, method: str, params: dict[str, Any] | None = None) -> Any:
        status, answer = self.post(version, method, params)
        assert status == 200, (status, answer)
        assert "result" in answer, answer
        return answer["result"]

    def capabilities(self, version: str) -> dict[str, Any]:
        """What the revision's handshake or discovery advertises."""
        if version == MODERN:
            return self.result(version, "server/discover")["capabilities"]
        init = {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        }
        return self.result(version, "initialize", init)["capabilities"]


@pytest.fixture
def mcp(stack) -> Mcp:
    return Mcp(build_app(stack.settings, build_server(stack.services)))


def test_the_capabilities_are_tools_only_and_the_same_at_every_revision(mcp):
    advertised = {version: mcp.capabilities(version) for version in VERSIONS}
    for version, capabilities in advertised.items():
        # No prompts, resources, completions or logging; nothing to subscribe to.
        assert capabilities == {"tools": {"listChanged": False}}, version


@pytest.mark.parametrize("version", VERSIONS)
def test_every_method_we_do_not_serve_is_method_not_found_at_once(mcp, version):
    for method, params in NOT_SERVED.items():
        status, answer = mcp.post(version, method, params)
        assert answer["id"] == 7, method
        assert answer["error"]["code"] == -32601, (method, answer)
        # Streamable HTTP (2026-07-28): a method the server does not implement is a 404.
        assert status == (404 if version == MODERN else 200), method


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unknown_tool_is_invalid_params_not_a_tool_result(mcp, version, caplog):
    with caplog.at_level(logging.WARNING):
        status, answer = mcp.post(version, "tools/call", {"name": "nope", "arguments": {}})
    assert "result" not in answer, answer
    assert answer["error"] == {"code": -32602, "message": "Unknown tool: nope"}
    assert status == (400 if version == MODERN else 200)
    assert not caplog.records  # a caller's mistake, not a server fault: no traceback


@pytest.mark.parametrize("version", VERSIONS)
def test_a_known_tool_still_runs_and_its_failures_stay_tool_results(mcp, version):
    who = mcp.result(version, "tools/call", {"name": "whoami", "arguments": {}})
    assert who["isError"] is False
    assert who["structuredContent"]["sub"] == "user-alice"
    # A bad argument is the model's to fix: a tool result with isError, not a protocol error.
    bad = mcp.result(version, "tools/call", {"name": "get_gist", "arguments": {}})
    assert bad["isError"] is True


@pytest.mark.parametrize("version", VERSIONS)
def test_tools_list_is_in_registration_order_every_time(stack, mcp, version):
    server = build_server(stack.services)
    registered = [tool.name for tool in anyio.run(server.list_tools)]
    first = [tool["name"] for tool in mcp.result(version, "tools/list")["tools"]]
    assert first == registered
    assert first[0] == "whoami"  # needs no scope, changes nothing: safe to call blind
    assert len(set(first)) == len(first)
    again = [tool["name"] for tool in mcp.result(version, "tools/list")["tools"]]
    other = Mcp(build_app(stack.settings, build_server(stack.services)))
    elsewhere = [tool["name"] for tool in other.result(version, "tools/list")["tools"]]
    assert again == elsewhere == first


def test_the_cacheable_results_carry_the_deliberate_hint(mcp):
    for method in ("tools/list", "server/discover"):
        result = mcp.result(MODERN, method)
        assert result["ttlMs"] == LIST_CACHE.ttl_ms == 3_600_000, method
        assert result["cacheScope"] == LIST_CACHE.scope == "public", method


@pytest.mark.parametrize("version", LEGACY)
def test_the_2025_revisions_get_no_cache_fields(mcp, version):
    result = mcp.result(version, "tools/list")
    assert "ttlMs" not in result
    assert "cacheScope" not in result


def test_every_2026_result_names_the_server(mcp):
    identity = {"name": SERVER_NAME, "version": __version__}
    results = {
        "server/discover": mcp.result(MODERN, "server/discover"),
        "tools/list": mcp.result(MODERN, "tools/list"),
        "tools/call": mcp.result(MODERN, "tools/call", {"name": "whoami", "arguments": {}}),
        "tools/call isError": mcp.result(MODERN, "tools/call", {"name": "get_gist"}),
    }
    for method, result in results.items():
        assert result["_meta"][SERVER_INFO] == identity, method
        assert result["resultType"] == "complete", method
    assert results["server/discover"]["supportedVersions"] == [MODERN]


@pytest.mark.parametrize("version", LEGACY)
def test_the_2025_handshake_names_the_server(mcp, version):
    init = {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    }
    result = mcp.result(version, "initialize", init)
    assert result["protocolVersion"] == version
    assert result["serverInfo"] == {"name": SERVER_NAME, "version": __version__}
