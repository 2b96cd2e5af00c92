"""The clients people run, registered the way each registers, against ``make dev``: each
completes the authorization flow and calls tools. docs/clients.md has the matching
copy-paste setup per client."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.dev_clients import DevTarget, call_tool
from tests.fixtures.oauth_stack import Flow

CURSOR = "cursor://anysphere.cursor-retrieval/oauth/user-gistgate/callback"
CLAUDE = "https://claude.ai/api/mcp/auth_callback"
VSCODE_LOOPBACK = "http://127.0.0.1:33418/"
VSCODE_WEB = "https://vscode.dev/redirect"

SHAPES = {
    # Cursor: DCR, a native app with its own scheme; it does not send application_type.
    "cursor": ({"client_name": "Cursor", "redirect_uris": [CURSOR]}, CURSOR, "native"),
    # Claude (claude.ai, Claude Desktop): DCR as a web client with its https callback.
    "claude": (
        {"client_name": "Claude", "application_type": "web", "redirect_uris": [CLAUDE]},
        CLAUDE,
        "web",
    ),
    # VS Code: DCR listing a loopback port and vscode.dev (desktop and web editors).
    "vscode": (
        {"client_name": "Visual Studio Code", "redirect_uris": [VSCODE_LOOPBACK, VSCODE_WEB]},
        VSCODE_LOOPBACK,
        "native",
    ),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_client_shape_registers_signs_in_and_calls_tools(dev_stack: Any, shape: str) -> None:
    metadata, redirect, expected_type = SHAPES[shape]
    flow = Flow(DevTarget(dev_stack.base_url))  # type: ignore[arg-type]
    registered = flow.api.post(
        "/oauth/register",
        json={
            **metadata,
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        },
    )
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]
    assert registered.json()["application_type"] == expected_type

    answer = flow.browser.authorize(
        flow.authorize_url(client_id, redirect_uri=redirect), redirect_uri=redirect
    )
    assert answer["iss"] == dev_stack.base_url  # RFC 9207, checked by careful clients
    tokens = flow.redeem(client_id, answer["code"], redirect_uri=redirect)
    assert tokens.status_code == 200, tokens.text
    access = tokens.json()["access_token"]

    who = call_tool(dev_stack.base_url + "/mcp", access, "whoami", {})
    made = call_tool(
        dev_stack.base_url + "/mcp", access, "create_gist", {"files": {f"{shape}.txt": shape}}
    )

    assert who.status_code == 200
    assert who.json()["result"]["structuredContent"]["client_id"] == client_id
    created = made.json()["result"]
    assert created["isError"] is False, created
    assert created["structuredContent"]["id"] in dev_stack.github.gists
