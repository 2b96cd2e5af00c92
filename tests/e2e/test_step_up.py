"""Scope step-up at the gateway, end to end against ``make dev``'s stack.

A token granted ``read:gists`` calls ``create_gist`` on MCP 2026-07-28: the local gateway
(uncached authorizer, as the template deploys it) answers 403 with the challenge the
authorizer wrote; the MCP Python SDK client re-authorizes with the wider scope and the
call succeeds. A 2025-revision client (no ``Mcp-Name`` header) gets the MCP function's
readable tool error instead. docs/step-up.md.
"""

from __future__ import annotations

import anyio

from tests.fixtures.dev_clients import call_tool, read_only_client
from tests.fixtures.mcp_client import structured
from tests.fixtures.oauth_stack import Browser, sdk_provider, sdk_session


def test_a_read_only_token_is_stepped_up_to_write_and_the_call_succeeds(dev_stack):
    mcp_url = dev_stack.base_url + "/mcp"
    storage, tokens = read_only_client(dev_stack.base_url)
    assert tokens["scope"] == "read:gists"
    browser = Browser()
    provider = sdk_provider(mcp_url, browser, storage)
    read_only = tokens["access_token"]
    before = set(dev_stack.github.gists)

    # The gateway's answer, before any client logic: a real HTTP challenge, even right
    # after an allowed call with the same token (the authorizer's answers are not cached).
    assert call_tool(mcp_url, read_only, "whoami", {}).status_code == 200
    denied = call_tool(mcp_url, read_only)
    assert denied.status_code == 403
    assert denied.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="write:gists", '
        f'resource_metadata="{dev_stack.base_url}/.well-known/oauth-protected-resource/mcp"'
    )
    assert set(dev_stack.github.gists) == before  # nothing reached the MCP function

    async def create(session):
        await session.discover()
        return structured(
            await session.call_tool("create_gist", {"files": {"step-up.txt": "granted"}})
        )

    made = anyio.run(sdk_session, mcp_url, provider, create)

    assert made["id"] in dev_stack.github.gists
    # The SDK asked for the union of what it had and what the challenge named.
    assert set(storage.tokens.scope.split()) == {"read:gists", "write:gists"}
    assert len(browser.pages) == 1  # the wider scope was consented to, on its own page
    assert call_tool(mcp_url, storage.tokens.access_token).status_code == 200


def test_a_2025_client_gets_the_tool_error_not_a_gateway_403(dev_stack):
    mcp_url = dev_stack.base_url + "/mcp"
    storage, _ = read_only_client(dev_stack.base_url)
    browser = Browser()
    provider = sdk_provider(mcp_url, browser, storage)
    before = set(dev_stack.github.gists)

    async def create(session):  # sdk_session's initialize(): the 2025-11-25 handshake
        return await session.call_tool("create_gist", {"files": {"a.txt": "x"}})

    result = anyio.run(sdk_session, mcp_url, provider, create)

    assert result.is_error
    assert "write:gists" in result.content[0].text
    assert set(dev_stack.github.gists) == before
    assert browser.pages == []  # no step-up: the tool error names the scope instead


def test_a_cached_allow_for_one_tool_never_authorizes_another(make_dev_stack):
    # AuthorizerTtl > 0: the gateway reuses one answer per token for every tool, so the
    # authorizer decides per token only; the MCP function still refuses the write.
    stack = make_dev_stack(AUTHORIZER_RESULT_TTL="30")
    mcp_url = stack.base_url + "/mcp"
    _, tokens = read_only_client(stack.base_url)
    before = set(stack.github.gists)

    assert call_tool(mcp_url, tokens["access_token"], "whoami", {}).status_code == 200
    refused = call_tool(mcp_url, tokens["access_token"])

    assert refused.status_code == 200
    result = refused.json()["result"]
    assert result["isError"] is True
    assert "write:gists" in result["content"][0]["text"]
    assert set(stack.github.gists) == before
