"""Credential modes, GitHub error mapping, secret rotation, vault binding, and the
no-secrets-in-logs rule, each through the real MCP protocol."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from gistgate.storage import keys
from tests.fixtures.mcp_stack import ALICE_TOKEN, BOB_TOKEN, SERVICE_TOKEN

ROTATED = "ghp_rotated_" + "r" * 28


def test_delegated_without_a_grant_tells_the_user_to_connect(make_stack):
    stack = make_stack(GITHUB_CREDENTIALS="delegated")
    message = stack.caller("user-alice").error("list_gists")
    assert "connect_github" in message
    assert stack.github.requests == []
    assert stack.caller("user-alice").ok("whoami")["credential"] == "delegated"


def test_hybrid_uses_the_grant_when_connected_and_the_service_token_otherwise(stack):
    stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
    stack.caller("user-alice").ok("get_my_profile")
    stack.caller("user-bob").ok("get_my_profile")
    assert [t for m, p, t in stack.github.requests if p == "/user"] == [ALICE_TOKEN, SERVICE_TOKEN]


def test_service_mode_ignores_a_users_grant(make_stack):
    stack = make_stack(GITHUB_CREDENTIALS="service")
    stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
    me = stack.caller("user-alice").ok("whoami")
    assert (me["github_connected"], me["credential"]) == (True, "service")
    assert stack.caller("user-alice").ok("get_my_profile")["login"] == "gistgate-bot"


def test_delegated_401_deletes_the_grant_and_asks_to_reconnect(make_stack):
    stack = make_stack(GITHUB_CREDENTIALS="delegated")
    stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
    stack.github.revoke_token(ALICE_TOKEN)
    message = stack.caller("user-alice").error("get_my_profile")
    assert "connect_github" in message
    assert "removed" in message
    assert stack.services.vault.get("user-alice") is None
    assert stack.caller("user-alice").ok("whoami")["github_connected"] is False


def test_service_401_rereads_the_rotated_secret_and_retries(stack):
    stack.caller("user-alice").ok("get_my_profile")  # the old value is now cached
    stack.github.add_user(ROTATED, "gistgate-bot", 9000)
    stack.github.revoke_token(SERVICE_TOKEN)
    stack.aws.client("secretsmanager").put_secret_value(
        SecretId=stack.aws.service_secret_arn, SecretString=json.dumps({"token": ROTATED})
    )
    assert stack.caller("user-alice").ok("get_my_profile")["login"] == "gistgate-bot"
    tokens = [t for _, p, t in stack.github.requests if p == "/user"]
    assert tokens == [SERVICE_TOKEN, SERVICE_TOKEN, ROTATED]


def test_service_401_with_an_unchanged_secret_names_the_secret_not_the_token(stack):
    stack.github.revoke_token(SERVICE_TOKEN)
    message = stack.caller("user-alice").error("get_my_profile")
    assert stack.aws.service_secret_arn in message
    assert SERVICE_TOKEN not in message
    assert "administrator" in message


@pytest.mark.parametrize(
    "secret", [SERVICE_TOKEN, json.dumps({"token": SERVICE_TOKEN}), f"  {SERVICE_TOKEN}\n"]
)
def test_service_secret_is_a_plain_string_or_json_token(stack, secret):
    stack.aws.client("secretsmanager").put_secret_value(
        SecretId=stack.aws.service_secret_arn, SecretString=secret
    )
    assert stack.caller().ok("get_my_profile")["login"] == "gistgate-bot"


def test_malformed_json_secret_is_a_clear_error(stack):
    stack.aws.client("secretsmanager").put_secret_value(
        SecretId=stack.aws.service_secret_arn, SecretString='{"pat": "x"}'
    )
    assert '"token"' in stack.caller().error("get_my_profile")


def test_local_service_token_variable_works_without_secrets_manager(make_stack):
    stack = make_stack(GITHUB_SERVICE_SECRET_ARN="", GITHUB_SERVICE_TOKEN=SERVICE_TOKEN)
    assert stack.caller().ok("get_my_profile")["login"] == "gistgate-bot"


def test_no_service_credential_configured_is_a_clear_error(make_stack):
    stack = make_stack(GITHUB_SERVICE_SECRET_ARN="")
    assert "GITHUB_SERVICE_SECRET_ARN" in stack.caller().error("get_my_profile")


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "{reset}"},
            {"message": "API rate limit exceeded"},
            "GitHub rate limit, retry after",
        ),
        (
            429,
            {"retry-after": "42"},
            {"message": "slow down"},
            "GitHub rate limit, retry after 42 s",
        ),
        (
            403,
            {"retry-after": "7"},
            {"message": "You have exceeded a secondary rate limit"},
            "retry after 7 s",
        ),
        (404, {}, {"message": "Not Found"}, "Not found"),
        (
            422,
            {},
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Gist", "code": "missing_field", "field": "files"}],
            },
            "Validation Failed: Gist files missing_field",
        ),
        (403, {}, {"message": "Resource not accessible by integration"}, "not accessible"),
    ],
)
def test_github_errors_become_clear_tool_errors(stack, status, headers, body, expected):
    import time

    headers = {k: v.format(reset=int(time.time()) + 30) for k, v in headers.items()}
    stack.github.fail_next(status, headers, body)
    message = stack.caller().error("get_my_profile")
    assert expected in message


def test_github_5xx_on_a_read_is_retried(stack):
    stack.github.fail_next(502)
    assert stack.caller().ok("get_my_profile")["login"] == "gistgate-bot"
    assert stack.github.count("GET", "/user") == 2


def test_github_5xx_on_create_is_not_retried_and_nothing_is_recorded(stack):
    for _ in range(3):
        stack.github.fail_next(502)
    message = stack.caller().error("create_gist", {"files": {"a": "a"}})
    assert "not answering" in message
    assert stack.github.count("POST", "/gists") == 1
    items = stack.aws.client("dynamodb").scan(TableName=stack.aws.table)["Items"]
    assert not [i for i in items if i["pk"]["S"].startswith("GIST#")]


def test_a_ciphertext_moved_to_another_user_does_not_decrypt(make_stack):
    stack = make_stack(GITHUB_CREDENTIALS="delegated")
    stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
    db = stack.aws.client("dynamodb")
    item = db.get_item(
        TableName=stack.aws.table,
        Key={k: {"S": v} for k, v in keys.github_grant("user-alice").items()},
    )["Item"]
    item.update({k: {"S": v} for k, v in keys.github_grant("user-mallory").items()})
    db.put_item(TableName=stack.aws.table, Item=item)
    message = stack.caller("user-mallory").error("get_my_profile")
    assert "cannot be decrypted" in message
    assert stack.github.requests == []  # alice's token was never used


def test_an_unexpected_failure_shows_only_a_correlation_id(stack, monkeypatch, log_output):
    def boom(*args, **kwargs):
        raise RuntimeError("internal detail that must stay inside")

    monkeypatch.setattr(stack.services.gists, "profile", boom)
    message = stack.caller().error("get_my_profile")
    correlation = re.search(r"correlation id ([0-9a-f]{16})", message)
    assert correlation
    assert "internal detail" not in message
    assert correlation.group(1) in log_output.getvalue()


def test_each_tool_call_writes_one_audit_line_with_emf_metrics(stack, log_output):
    alice = stack.caller("user-alice")
    made = alice.ok("create_gist", {"files": {"a": "a"}})
    alice.error("get_gist", {"gist_id": "ffff0000"})
    lines = [json.loads(x) for x in log_output.getvalue().splitlines() if '"tool call"' in x]
    assert [(x["tool"], x["outcome"]) for x in lines] == [
        ("create_gist", "ok"),
        ("get_gist", "not_owner"),
    ]
    ok, failed = lines
    assert ok["sub"] == "user-alice"
    assert ok["client_id"] == "client-abc"
    assert ok["credential"] == "service"
    assert ok["duration_ms"] >= 0
    assert failed["gist_id"] == "ffff0000"
    assert ok["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["tool"]]
    assert ok["ToolCalls"] == [1.0]
    assert "ToolErrors" not in ok
    assert failed["ToolErrors"] == [1.0]
    assert made["id"] not in json.dumps(failed)


def test_audit_lines_are_not_repeated_through_root_handlers(stack, log_output):
    """The SDK installs a root handler (basicConfig) and so does the Lambda runtime: our
    JSON line must reach stdout once, not again as bare text through the root logger."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        stack.caller().ok("whoami")
    finally:
        root.removeHandler(handler)
    assert '"message":"tool call"' in log_output.getvalue()
    assert "tool call" not in buffer.getvalue()


def test_no_token_appears_in_any_log_line(make_stack, log_output):
    """Run every flow (success, 401 recovery, errors) and scan every log record at INFO,
    the deployed LOG_LEVEL, from every logger (ours, the SDK's, Mangum's, botocore's)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        stack = make_stack(
            GITHUB_OAUTH_CLIENT_ID="Iv1.abc", GITHUB_OAUTH_CLIENT_SECRET="app-secret-value"
        )
        stack.github.apps["Iv1.abc"] = "app-secret-value"
        alice, bob = stack.caller("user-alice"), stack.caller("user-bob")
        made = bob.ok("create_gist", {"files": {"a": "secret content"}})
        bob.ok("update_gist", {"gist_id": made["id"], "files": {"a": "more"}})
        bob.ok("get_gist", {"gist_id": made["id"]})
        bob.ok("list_gists")
        bob.ok("delete_gist", {"gist_id": made["id"]})
        stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
        alice.ok("create_gist", {"files": {"b": "b"}})
        alice.ok("get_my_profile")
        alice.ok("connect_github")
        alice.ok("disconnect_github")
        stack.connect("user-alice", BOB_TOKEN, "bob", 1002)
        stack.github.revoke_token(BOB_TOKEN)
        alice.error("get_my_profile")
        stack.github.revoke_token(SERVICE_TOKEN)
        bob.error("get_my_profile")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    everything = buffer.getvalue() + log_output.getvalue()
    assert "tool call" in everything
    for secret in (SERVICE_TOKEN, ALICE_TOKEN, BOB_TOKEN, "app-secret-value", "secret content"):
        assert secret not in everything


def test_a_gist_whose_owner_cannot_be_recorded_is_undone(stack, monkeypatch):
    """Without its ownership record nobody could manage the gist, so it is deleted again."""
    from gistgate.mcp.ownership import Ownership
    from gistgate.storage.errors import StorageUnavailable

    def unavailable(self, sub, row):
        raise StorageUnavailable("dynamodb transact_write_items failed: InternalServerError")

    monkeypatch.setattr(Ownership, "record", unavailable)
    message = stack.caller().error("create_gist", {"files": {"a": "a"}})
    assert "storage is not answering" in message
    assert stack.github.count("POST", "/gists") == 1
    assert stack.github.count("DELETE", "/gists/") == 1
    assert stack.github.gists == {}
