"""Linking GitHub inside a tool call (MCP 2026-07-28, URL-mode elicitation in a multi round
trip), with the MCP Python SDK client against ``make dev`` in delegated mode.

The user's GitHub grant is removed (disconnect_github); create_gist then answers with an
InputRequiredResult whose input request is our connect link; the user's browser (the one
that signed in, so the link accepts it) completes the GitHub flow; the client retries with
the user's answer and the sealed requestState, and the gist is created with the user's own
token. A 2025-11-25 client gets the tool error that names connect_github instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from mcp_types import ElicitResult

from tests.fixtures.dev_clients import DevTarget
from tests.fixtures.oauth_stack import Flow

Work = Callable[[Any], Awaitable[Any]]


async def session(mcp_url: str, token: str, work: Work, *, elicit: bool = True) -> Any:
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def never(*_: Any) -> ElicitResult:  # declares elicitation (form and url)
        raise AssertionError("the server must ask inside the result, not mid-call")

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        streamable_http_client(mcp_url, http_client=http, terminate_on_close=False) as (r, w),
        ClientSession(r, w, elicitation_callback=never if elicit else None) as client,
    ):
        return await work(client)


@pytest.fixture(scope="module")
def delegated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.fixtures.dev_stack import start_stack

    stack = start_stack(tmp_path_factory.mktemp("delegated"), GITHUB_CREDENTIALS="delegated")
    yield stack
    stack.stop()


def signed_in(stack: Any) -> tuple[Flow, str]:
    """A user signed in through the builtin server (a browser with a gistgate session)."""
    flow = Flow(DevTarget(stack.base_url))  # type: ignore[arg-type]
    client = flow.register()
    tokens = flow.redeem(client["client_id"], flow.code(client["client_id"])["code"]).json()
    return flow, tokens["access_token"]


def test_a_2026_client_links_github_inside_the_call_and_the_retry_runs_it(delegated: Any) -> None:
    flow, token = signed_in(delegated)
    mcp_url = delegated.base_url + "/mcp"
    before = set(delegated.github.gists)
    files = {"files": {"linked.txt": "made with my own token"}}

    async def first(client: Any) -> Any:
        await client.discover()
        await client.call_tool("disconnect_github", {})
        return await client.call_tool("create_gist", files, allow_input_required=True)

    asked = anyio.run(session, mcp_url, token, first)

    assert asked.result_type == "input_required"
    request = asked.input_requests["github_connect"]
    assert request.params.mode == "url"
    assert request.params.url.startswith(delegated.base_url + "/oauth/github/connect?ticket=")
    assert asked.request_state
    assert "rounds" not in asked.request_state  # sealed: the client cannot read it
    assert set(delegated.github.gists) == before  # nothing ran yet

    # The user opens the link in the browser that signed in: it is bound to them.
    opened = flow.browser.follow(request.params.url, until="nowhere:")
    assert opened.status_code == 200, opened.text[:300]

    async def retry(client: Any) -> Any:
        await client.discover()
        return await client.call_tool(
            "create_gist",
            files,
            input_responses={"github_connect": ElicitResult(action="accept")},
            request_state=asked.request_state,
        )

    done = anyio.run(session, mcp_url, token, retry)

    assert done.is_error is False, done.content
    assert done.structured_content["credential"] == "delegated"
    assert done.structured_content["id"] in delegated.github.gists


def test_a_tampered_or_foreign_request_state_is_refused(delegated: Any) -> None:
    _, token = signed_in(delegated)
    _, other_token = signed_in(delegated)  # same GitHub user, another client
    mcp_url = delegated.base_url + "/mcp"

    async def ask(client: Any) -> Any:
        await client.discover()
        await client.call_tool("disconnect_github", {})
        return await client.call_tool("connect_github", {}, allow_input_required=True)

    asked = anyio.run(session, mcp_url, token, ask)
    accept = {"github_connect": ElicitResult(action="accept")}

    def retry_with(state: str, bearer: str, name: str = "connect_github") -> Any:
        """The JSON-RPC error of the retry (None if it was accepted)."""
        from mcp.shared.exceptions import MCPError

        async def work(client: Any) -> Any:
            await client.discover()
            try:
                await client.call_tool(
                    name, {}, input_responses=accept, request_state=state, allow_input_required=True
                )
            except MCPError as refused:
                return refused
            return None

        return anyio.run(session, mcp_url, bearer, work)

    for state, bearer, name in (
        (asked.request_state[:-4] + "AAAA", token, "connect_github"),  # tampered
        (asked.request_state, other_token, "connect_github"),  # another client's caller
        (asked.request_state, token, "whoami"),  # another call
    ):
        refused = retry_with(state, bearer, name)
        assert refused is not None, name
        assert refused.error.code == -32602
    # The untouched state, by its own caller, for its own call, is accepted (not yet linked:
    # the answer is a new connect request, not an error).
    assert retry_with(asked.request_state, token) is None


def test_a_declined_link_is_a_tool_error(delegated: Any) -> None:
    _, token = signed_in(delegated)

    async def work(client: Any) -> Any:
        await client.discover()
        await client.call_tool("disconnect_github", {})
        asked = await client.call_tool("get_my_profile", {}, allow_input_required=True)
        return await client.call_tool(
            "get_my_profile",
            {},
            input_responses={"github_connect": ElicitResult(action="decline")},
            request_state=asked.request_state,
        )

    declined = anyio.run(session, delegated.base_url + "/mcp", token, work)

    assert declined.is_error is True
    assert "connect_github" in declined.content[0].text


def test_a_2025_client_gets_the_tool_error_with_connect_github(delegated: Any) -> None:
    _, token = signed_in(delegated)

    async def work(client: Any) -> Any:
        await client.initialize()  # the 2025-11-25 handshake
        await client.call_tool("disconnect_github", {})
        return await client.call_tool("create_gist", {"files": {"a.txt": "x"}})

    result = anyio.run(session, delegated.base_url + "/mcp", token, work)

    assert result.is_error is True
    assert "connect_github" in result.content[0].text
