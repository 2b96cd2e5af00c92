"""Expired state is absent before DynamoDB's TTL removes it (moto never does), and the
facade with an OpenID Connect provider as the upstream login."""

from __future__ import annotations

import base64
import json
import time

from gistgate.storage import keys
from tests.fixtures.oauth_stack import Flow


def _set_expiry(stack, key: dict[str, str], when: int) -> None:
    stack.aws.client("dynamodb").update_item(
        TableName=stack.aws.table,
        Key={k: {"S": v} for k, v in key.items()},
        UpdateExpression="SET expires_at = :t",
        ExpressionAttributeValues={":t": {"N": str(when)}},
    )


def test_an_expired_code_is_refused_though_still_in_the_table(oauth_stack):
    flow = Flow(oauth_stack)
    client = flow.register()
    code = flow.code(client["client_id"])["code"]
    _set_expiry(oauth_stack, keys.auth_code(code), int(time.time()) - 1)
    response = flow.redeem(client["client_id"], code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_an_expired_registration_is_an_unknown_client(oauth_stack):
    flow = Flow(oauth_stack)
    client = flow.register()
    _set_expiry(oauth_stack, keys.oauth_client(client["client_id"]), int(time.time()) - 1)
    response = flow.browser.http.get(flow.authorize_url(client["client_id"]))
    assert response.status_code == 400
    assert "expired" in response.text


def test_a_registration_in_use_is_renewed(oauth_stack):
    flow = Flow(oauth_stack)
    client = flow.register()
    key = keys.oauth_client(client["client_id"])
    soon = int(time.time()) + 3600
    _set_expiry(oauth_stack, key, soon)
    oauth_stack.aws.client("dynamodb").update_item(
        TableName=oauth_stack.aws.table,
        Key={k: {"S": v} for k, v in key.items()},
        UpdateExpression="SET renewed_at = :t",
        ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 2 * 86400)}},
    )
    flow.code(client["client_id"])
    item = oauth_stack.aws.client("dynamodb").get_item(
        TableName=oauth_stack.aws.table, Key={k: {"S": v} for k, v in key.items()}
    )["Item"]
    assert int(item["expires_at"]["N"]) > time.time() + 89 * 86400


def test_an_expired_refresh_family_is_refused(oauth_stack):
    flow = Flow(oauth_stack)
    client = flow.register()
    refresh = flow.tokens(client["client_id"])["refresh_token"]
    _set_expiry(oauth_stack, keys.refresh_family(refresh.split(".")[0]), int(time.time()) - 1)
    assert flow.refresh(client["client_id"], refresh).json()["error"] == "invalid_grant"


def test_oidc_upstream_login_issues_tokens_for_the_userinfo_subject(make_oauth_stack, oidc):
    stack = make_oauth_stack(
        UPSTREAM_IDP="oidc",
        UPSTREAM_OIDC_ISSUER=oidc.issuer,
        UPSTREAM_OIDC_CLIENT_ID=oidc.CLIENT_ID,
        UPSTREAM_OIDC_CLIENT_SECRET=oidc.CLIENT_SECRET,
    )
    flow = Flow(stack)
    client = flow.register()
    tokens = flow.tokens(client["client_id"])
    payload = tokens["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "00u-dana"
    # The consent page came first and named the provider the sign-in goes to next.
    assert "your account at 127.0.0.1" in flow.browser.pages[0]
    assert oidc.token_requests[0]["redirect_uri"] == stack.base + "/oauth/callback"
    # No GitHub login happened, so the MCP tools run on the service credential.
    response = flow.mcp(tokens["access_token"])
    assert response.json()["result"]["structuredContent"]["credential"] == "service"


def test_a_vault_that_cannot_store_the_github_token_stops_the_login_with_a_page(
    make_oauth_stack,
):
    """KMS refuses the data key after Approve: no code, a clear page (not a 500)."""
    flow = Flow(make_oauth_stack(GISTGATE_KMS_KEY_ID="alias/no-such-key"))
    client = flow.register()
    callback = flow.to_callback(client["client_id"])
    response = flow.browser.http.get(callback.headers["location"])
    assert response.status_code == 503
    assert "could not be stored" in response.text
    assert "location" not in response.headers


def test_kms_down_at_the_token_endpoint_is_retryable_and_spends_nothing(oauth_stack, monkeypatch):
    """KMS Sign fails once: a 503, and the same code (then refresh token) still works."""
    from gistgate.oauth import signing
    from gistgate.storage.aws import AwsCallFailed

    real = signing.call
    failures = {"sign": 0}

    def flaky(service, operation, **params):
        if operation == "sign" and failures["sign"] < 1:
            failures["sign"] += 1
            raise AwsCallFailed("kms", "sign", "KMSInternalException", {})
        return real(service, operation, **params)

    flow = Flow(oauth_stack)
    client = flow.register()
    code = flow.code(client["client_id"])["code"]
    monkeypatch.setattr(signing, "call", flaky)
    down = flow.redeem(client["client_id"], code)
    assert down.status_code == 503
    assert down.json()["error"] == "temporarily_unavailable"
    again = flow.redeem(client["client_id"], code)
    assert again.status_code == 200
    refresh = again.json()["refresh_token"]
    failures["sign"] = 0
    assert flow.refresh(client["client_id"], refresh).status_code == 503
    assert flow.refresh(client["client_id"], refresh).status_code == 200
