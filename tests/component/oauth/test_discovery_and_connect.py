"""Discovery in the orders MCP clients use (2025-11-25), for a stage-path issuer (the
default execute-api URL) and a root issuer (a custom domain); the GitHub connect
flow; and no secret in any log line of the whole OAuth flow."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest
from gistgate_dev.local.gateway import GatewayServer, LocalGateway
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
)

from gistgate.storage import keys
from tests.fixtures.oauth_stack import (
    ALICE_GITHUB_ID,
    ALICE_GITHUB_TOKEN,
    GITHUB_CLIENT_SECRET,
    Browser,
    Flow,
)


def _first_working(urls: list[str]) -> tuple[str, dict, list[int]]:
    """Try ``urls`` in order as a client does; the first 200, its document, the statuses."""
    statuses = []
    for url in urls:
        response = httpx.get(url)
        statuses.append(response.status_code)
        if response.status_code == 200:
            return url, response.json(), statuses
    raise AssertionError(f"no discovery URL answered: {list(zip(urls, statuses, strict=False))}")


def _discover(mcp_url: str) -> tuple[dict, list[int], dict, list[int]]:
    challenge = httpx.post(mcp_url, json={})
    assert challenge.status_code == 401
    header = challenge.headers["www-authenticate"]
    prm_hint = header.split('resource_metadata="')[1].split('"')[0]
    _, prm, prm_statuses = _first_working(
        build_protected_resource_metadata_discovery_urls(prm_hint, mcp_url)
    )
    issuer = prm["authorization_servers"][0]
    _, metadata, as_statuses = _first_working(
        build_oauth_authorization_server_metadata_discovery_urls(issuer, mcp_url)
    )
    return prm, prm_statuses, metadata, as_statuses


def test_stage_path_issuer_is_discovered_through_the_oidc_path_appended_form(oauth_stack):
    prm, prm_statuses, metadata, as_statuses = _discover(oauth_stack.mcp_url)
    assert prm["resource"] == oauth_stack.mcp_url
    assert prm["authorization_servers"] == [oauth_stack.base]
    assert prm_statuses == [200]  # the challenge's resource_metadata works first time
    # RFC 8414 path-inserted and OIDC path-inserted sit at the host root: API Gateway's
    # default domain answers them 403; the OIDC path-appended form is ours and works.
    assert urlsplit(oauth_stack.base).path == "/prod"
    assert as_statuses == [403, 403, 200]
    assert metadata["issuer"] == oauth_stack.base
    assert metadata["registration_endpoint"] == oauth_stack.base + "/oauth/register"


def test_root_issuer_is_discovered_at_the_rfc8414_location(oauth_stack, monkeypatch):
    """A custom domain maps the API at the root: the issuer has no path."""
    gateway = oauth_stack.gateway
    root = GatewayServer(LocalGateway(gateway.spec, stage_in_path=False)).start()
    try:
        monkeypatch.setenv("PUBLIC_BASE_URL", root.origin)
        from gistgate.core.config import get_settings
        from gistgate.tokens.trust import resolve_trust

        get_settings.cache_clear()
        resolve_trust.cache_clear()
        prm, _, metadata, as_statuses = _discover(root.origin + "/mcp")
    finally:
        root.stop()
    assert prm["authorization_servers"] == [root.origin]
    assert as_statuses == [200]
    assert metadata["issuer"] == root.origin


def test_github_connect_flow_stores_the_token_for_the_ticket_subject(oauth_stack):
    from gistgate.mcp.connect import issue_ticket
    from gistgate.storage.vault import TokenVault

    alice = f"github|{ALICE_GITHUB_ID}"  # connect links work only for their own subject
    ticket = issue_ticket(oauth_stack.aws.table, alice, "some-client")
    browser = Browser()
    page = browser.follow(f"{oauth_stack.base}/oauth/github/connect?ticket={ticket}", until="never")
    assert page.status_code == 200, page.text
    assert "alice" in page.text
    vault = TokenVault(oauth_stack.aws.table, oauth_stack.aws.token_key)
    grant = vault.get(alice)
    assert grant is not None
    assert grant.login == "alice"
    assert grant.access_token != ALICE_GITHUB_TOKEN  # a new token, issued to our app
    # The ticket was single use.
    again = Browser().follow(
        f"{oauth_stack.base}/oauth/github/connect?ticket={ticket}", until="never"
    )
    assert again.status_code == 400


def test_connect_with_an_unknown_ticket_is_refused(oauth_stack):
    response = httpx.get(f"{oauth_stack.base}/oauth/github/connect?ticket=forged")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_the_login_stores_the_github_token_encrypted(oauth_stack):
    flow = Flow(oauth_stack)
    client = flow.register()
    flow.tokens(client["client_id"])
    items = oauth_stack.aws.client("dynamodb").scan(TableName=oauth_stack.aws.table)["Items"]
    grant = next(i for i in items if i["sk"]["S"] == "GITHUB")
    assert "ct" in grant
    issued = [t for t in oauth_stack.github.issued]
    assert issued
    for token in issued:
        assert token not in json.dumps(items, default=str)


def test_no_code_token_ticket_or_secret_appears_in_any_log_line(oauth_stack, log_output):
    from gistgate.mcp.connect import issue_ticket

    flow = Flow(oauth_stack)
    client = flow.register(token_endpoint_auth_method="client_secret_post")
    query = flow.code(client["client_id"])
    tokens = flow.redeem(
        client["client_id"], query["code"], client_secret=client["client_secret"]
    ).json()
    refreshed = flow.api.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    ).json()
    replay = flow.redeem(client["client_id"], query["code"], client_secret=client["client_secret"])
    assert replay.status_code == 400
    flow.api.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": "wrong",
        },
    )
    flow.mcp(tokens["access_token"])
    ticket = issue_ticket(oauth_stack.aws.table, "user-x", client["client_id"])
    Browser().follow(f"{oauth_stack.base}/oauth/github/connect?ticket={ticket}", until="never")
    logs = log_output.getvalue()
    assert '"oauth error"' in logs  # the failures were logged
    secrets = [
        query["code"],
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
        client["client_secret"],
        ticket,
        GITHUB_CLIENT_SECRET,
        ALICE_GITHUB_TOKEN,
        *oauth_stack.github.issued,
    ]
    for secret in secrets:
        assert secret not in logs
        assert keys.digest(secret) not in logs


@pytest.mark.parametrize("path", ["/oauth/authorize", "/oauth/token", "/oauth/register"])
def test_oauth_routes_are_not_behind_the_authorizer(oauth_stack, path):
    routes = {r.path: r for r in oauth_stack.gateway.spec.routes}
    assert routes[path].protected is False
    assert routes["/mcp"].protected is True
