"""Enterprise-managed authorization end to end, offline: ``make dev EMA_TRUSTED_ISSUERS=local``
(the local enterprise IdP, trusted by its URL, and an enterprise client registered for the
jwt-bearer grant), the installed ``gistgate token`` CLI, the MCP Python SDK client.

- ``gistgate token --dev --enterprise``: the IdP's sign-in and RFC 8693 token exchange,
  then our jwt-bearer grant; the token works with the SDK client as ``ema|<id>|alice``;
- ``gistgate token --dev --id-jag -``: an ID-JAG obtained over HTTP as an MCP client would,
  traded once; traded again, it is refused (``invalid_grant``, used already);
- a replay sent to a brand-new OAuth function process is refused too: the spent ``jti``
  lives in DynamoDB (moto), not in a process's memory;
- ``server/discover`` (2026-07-28) and the AS metadata advertise the extension and the
  grant on this stack, and not on the default one.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import boto3
import httpx
import jwt
import pytest
from gistgate_dev.local.dev import ENTERPRISE_DEV_USER, LOCAL_CREDENTIALS, REGION, DevStack
from gistgate_dev.local.workers import ProcessFunction

from gistgate.oauth.id_jag import issuer_id, spent_key
from tests.fixtures.dev_clients import capabilities as discover
from tests.fixtures.mcp_client import structured

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
EMA = "io.modelcontextprotocol/enterprise-managed-authorization"
USED = "the assertion has been used already"


class Ema(NamedTuple):
    """The stack, and the directory ``make dev`` ran in (its .gistgate/dev-client.json)."""

    stack: DevStack
    workdir: Path

    @property
    def enterprise(self) -> dict[str, str]:
        """The enterprise section of the dev client file, as the CLI reads it."""
        document = json.loads((self.workdir / ".gistgate" / "dev-client.json").read_text())
        return dict(document["enterprise"])


@pytest.fixture(scope="module")
def ema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ema]:
    """One stack for the module, its client file where ``make dev`` writes it."""
    workdir = tmp_path_factory.mktemp("ema")
    stack = DevStack(
        port=0,
        env={"EMA_TRUSTED_ISSUERS": "local"},
        client_file=workdir / ".gistgate" / "dev-client.json",
    )
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    yield Ema(stack, workdir)
    stack.stop()


# -- helpers ---------------------------------------------------------------------------------


def gistgate_cli() -> Path:
    script = Path(sys.executable).parent / "gistgate"
    if not script.exists():
        script = Path(shutil.which("gistgate") or script)
    assert script.exists(), "no gistgate script: run pip install -e '.[dev]'"
    return script


def run_cli(
    workdir: Path, cache: Path, *argv: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``gistgate token ...`` as a user runs it, in the directory ``make dev`` ran in."""
    env = {k: v for k, v in os.environ.items() if k != "GISTGATE_CLIENT_SECRET"}
    env["GISTGATE_TOKEN_CACHE"] = str(cache)  # never the user's ~/.cache
    return subprocess.run(
        [str(gistgate_cli()), "token", *argv],
        cwd=workdir,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def id_jag_over_http(stack: DevStack, enterprise: dict[str, str]) -> str:
    """What an MCP client does at the enterprise IdP: sign in (an ID token), then the
    RFC 8693 token exchange of that ID token for an ID-JAG for our server."""
    issuer = enterprise["idp_issuer"]
    login = httpx.post(
        f"{issuer}/login",
        data={"sub": enterprise["subject"], "client_id": enterprise["idp_client_id"]},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    exchanged = httpx.post(
        f"{issuer}/token",
        data={
            "grant_type": TOKEN_EXCHANGE,
            "requested_token_type": ID_JAG_TYPE,
            "subject_token": login.json()["id_token"],
            "subject_token_type": ID_TOKEN_TYPE,
            "audience": stack.base_url,
            "resource": stack.base_url + "/mcp",
            "scope": "read:gists write:gists",
            "client_id": enterprise["idp_client_id"],
            "client_secret": enterprise["idp_client_secret"],
        },
        timeout=10,
    )
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["issued_token_type"] == ID_JAG_TYPE
    return str(exchanged.json()["access_token"])


def trade(stack: DevStack, enterprise: dict[str, str], assertion: str) -> httpx.Response:
    """Our jwt-bearer grant, as the enterprise client (client_secret_basic)."""
    return httpx.post(
        stack.base_url + "/oauth/token",
        data={"grant_type": JWT_BEARER, "assertion": assertion},
        headers={"Authorization": basic(enterprise["client_id"], enterprise["client_secret"])},
        timeout=30,
    )


def assert_replay_refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_grant"
    assert body["error_description"] == USED
    assert "access_token" not in body


async def sdk_tools_and_whoami(mcp_url: str, token: str) -> tuple[list[str], dict[str, Any]]:
    """The MCP Python SDK client over real HTTP, authorized by a bearer header only."""
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        streamable_http_client(mcp_url, http_client=http, terminate_on_close=False) as (r, w),
        ClientSession(r, w) as session,
    ):
        await session.initialize()
        tools = [tool.name for tool in (await session.list_tools()).tools]
        result = await session.call_tool("whoami", {})
        assert not result.is_error, result
        return tools, structured(result)


def dev_client_token(stack: DevStack) -> str:
    """The dev client's client_credentials token (no enterprise IdP involved)."""
    client = stack.dev_client
    answer = httpx.post(
        client["token_endpoint"],
        data={"grant_type": "client_credentials", "resource": client["resource"]},
        headers={"Authorization": basic(client["client_id"], client["client_secret"])},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def grant_types(stack: DevStack) -> list[str]:
    metadata = httpx.get(stack.base_url + "/.well-known/oauth-authorization-server", timeout=30)
    assert metadata.status_code == 200, metadata.text
    return list(metadata.json()["grant_types_supported"])


def oauth_function(stack: DevStack) -> ProcessFunction:
    """The function the gateway sends POST /oauth/token to."""
    assert stack.server is not None
    gateway = stack.server.gateway
    [name] = {
        r.function for r in gateway.spec.routes if r.path == "/oauth/token" and r.method == "POST"
    }
    function = gateway.instances[name]
    assert isinstance(function, ProcessFunction)
    return function


def retire_every_instance(function: ProcessFunction) -> list[Any]:
    """Kill every instance of ``function`` (all idle: nothing is in flight), so that the
    next invocation goes to a brand-new process, as after Lambda recycles them all."""
    with function._changed:
        instances = list(function._all)
        assert len(function._idle) == len(instances), "an instance is busy"
        function._all.clear()
        function._idle.clear()
    for instance in instances:
        instance.kill()
    return instances


# -- the tests ---------------------------------------------------------------------------------


def test_gistgate_token_dev_enterprise_gives_a_token_the_sdk_client_uses_as_alice(ema, tmp_path):
    stack, enterprise = ema.stack, ema.enterprise
    assert enterprise["subject"] == ENTERPRISE_DEV_USER == "alice@example.com"
    assert enterprise["idp_issuer"] == stack.enterprise_idp.issuer

    done = run_cli(
        ema.workdir,
        tmp_path / "cache.json",
        "--dev",
        "--enterprise",
        "--port",
        str(stack.port),
        "--no-cache",
    )

    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n"
    assert not (tmp_path / "cache.json").exists()  # --no-cache: nothing written
    tools, who = anyio.run(sdk_tools_and_whoami, stack.base_url + "/mcp", token)
    assert "whoami" in tools
    assert "create_gist" in tools
    assert re.fullmatch(r"ema\|[0-9a-f]{16}\|alice@example\.com", who["sub"]), who
    assert who["sub"] == f"ema|{issuer_id(stack.enterprise_idp.issuer)}|alice@example.com"
    assert who["client_id"] == enterprise["client_id"]  # the enterprise client, not the dev one
    assert who["client_id"] != stack.dev_client["client_id"]
    assert sorted(who["scopes"]) == ["read:gists", "write:gists"]


def test_an_id_jag_on_stdin_is_traded_once_and_refused_the_second_time(ema, tmp_path):
    stack = ema.stack
    assertion = id_jag_over_http(stack, ema.enterprise)
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["sub"] == ENTERPRISE_DEV_USER
    assert claims["client_id"] == ema.enterprise["client_id"]
    cache = tmp_path / "cache.json"
    port = str(stack.port)

    first = run_cli(ema.workdir, cache, "--dev", "--id-jag", "-", "--port", port, stdin=assertion)

    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    token = first.stdout.strip()
    _, who = anyio.run(sdk_tools_and_whoami, stack.base_url + "/mcp", token)
    assert who["sub"] == f"ema|{issuer_id(stack.enterprise_idp.issuer)}|{ENTERPRISE_DEV_USER}"
    assert assertion not in cache.read_text()  # the cache holds the token, never the ID-JAG

    # The same ID-JAG again: from the cache, the token it earned (no second redemption) …
    cached = run_cli(ema.workdir, cache, "--dev", "--id-jag", "-", "--port", port, stdin=assertion)
    assert (cached.returncode, cached.stdout, cached.stderr) == (0, first.stdout, "")

    # … and past the cache, the server refuses it: the assertion was spent.
    again = run_cli(
        ema.workdir,
        cache,
        "--dev",
        "--id-jag",
        "-",
        "--port",
        port,
        "--no-cache",
        stdin=assertion + "\n",
    )

    assert (again.returncode, again.stdout) == (1, "")
    assert "invalid_grant" in again.stderr
    assert "used already" in again.stderr
    assert "HTTP 400" in again.stderr
    assert assertion not in again.stderr
    assert ema.enterprise["client_secret"] not in again.stderr


def test_a_replay_is_refused_by_a_brand_new_oauth_process(ema):
    """The spent jti is in DynamoDB: a process that never saw the assertion refuses it."""
    stack, enterprise = ema.stack, ema.enterprise
    function = oauth_function(stack)
    assertion = id_jag_over_http(stack, enterprise)

    redeemed = trade(stack, enterprise, assertion)

    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["token_type"] == "Bearer"
    old = retire_every_instance(function)
    assert old, "the OAuth function ran no instance"
    old_pids = {instance.process.pid for instance in old}
    assert not any(instance.process.is_alive() for instance in old)
    cold_starts = function.cold_starts

    replay = trade(stack, enterprise, assertion)

    assert_replay_refused(replay)
    new_pids = {instance.process.pid for instance in function._all}
    assert function.cold_starts == cold_starts + 1  # the replay started a new process …
    assert new_pids, new_pids
    assert new_pids.isdisjoint(old_pids)  # … which is not the one that redeemed it
    # The record the new process found: the (issuer, jti) pair, in the table on moto.
    assert stack.moto is not None
    host, port = stack.moto.get_host_and_port()
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=f"http://{host}:{port}", region_name=REGION, **LOCAL_CREDENTIALS
    )
    claims = jwt.decode(assertion, options={"verify_signature": False})
    key = {k: {"S": v} for k, v in spent_key(claims["iss"], claims["jti"]).items()}
    item = dynamodb.get_item(TableName=stack.resources["Table"], Key=key, ConsistentRead=True)
    assert item["Item"]["issuer"] == {"S": stack.enterprise_idp.issuer}
    assert int(item["Item"]["expires_at"]["N"]) >= claims["exp"]
    # A fresh ID-JAG still works in the new process: the refusal was the replay's alone.
    fresh = trade(stack, enterprise, id_jag_over_http(stack, enterprise))
    assert fresh.status_code == 200, fresh.text
    # And only the table remembers: with the record gone, nothing else refuses the replay.
    dynamodb.delete_item(TableName=stack.resources["Table"], Key=key)
    assert trade(stack, enterprise, assertion).status_code == 200


def test_discover_and_metadata_advertise_enterprise_authorization(ema):
    stack = ema.stack

    capabilities = discover(stack.base_url, dev_client_token(stack))

    assert capabilities["extensions"][EMA] == {}
    assert JWT_BEARER in grant_types(stack)


def test_the_default_dev_stack_advertises_neither(dev_stack):
    assert dev_stack.enterprise_idp is None
    assert "enterprise" not in dev_stack.dev_client

    capabilities = discover(dev_stack.base_url, dev_client_token(dev_stack))

    assert EMA not in capabilities.get("extensions", {})
    assert "tools" in capabilities  # a real discover answer, only without the extension
    grants = grant_types(dev_stack)
    assert JWT_BEARER not in grants
    assert "client_credentials" in grants
