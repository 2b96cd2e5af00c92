"""Browser-based local clients against ``make dev``: loopback origins are welcome on /mcp,
and CORS lets a browser send MCP 2026-07-28's request headers and read the challenge."""

from __future__ import annotations

import httpx

from tests.fixtures.dev_clients import read_only_client

INSPECTOR_UI = "http://localhost:6274"


def whoami(base: str, token: str, origin: str) -> httpx.Response:
    return httpx.post(
        base + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami"}},
        headers={
            "Authorization": f"Bearer {token}",
            "Origin": origin,
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=10,
    )


def test_make_dev_accepts_a_local_browser_client_and_refuses_other_origins(dev_stack):
    _, tokens = read_only_client(dev_stack.base_url)

    local = whoami(dev_stack.base_url, tokens["access_token"], INSPECTOR_UI)
    foreign = whoami(dev_stack.base_url, tokens["access_token"], "https://evil.example")

    assert local.status_code == 200, local.text
    assert foreign.status_code == 403
    assert foreign.json()["error"] == "forbidden_origin"


def test_a_browser_may_send_the_mcp_headers_and_read_the_challenge(dev_stack):
    preflight = httpx.options(
        dev_stack.base_url + "/mcp",
        headers={
            "Origin": INSPECTOR_UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": (
                "authorization,mcp-method,mcp-name,mcp-protocol-version"
            ),
        },
        timeout=10,
    )
    allowed = {
        h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "mcp-method", "mcp-name", "mcp-protocol-version"} <= allowed

    challenge = httpx.post(dev_stack.base_url + "/mcp", json={}, headers={"Origin": INSPECTOR_UI})
    assert challenge.status_code == 401
    assert "www-authenticate" in challenge.headers["access-control-expose-headers"].lower()
