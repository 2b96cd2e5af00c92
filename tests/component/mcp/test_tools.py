"""Every gist tool through the real MCP protocol: the SDK client, Mangum events, the
MCP handler stack, moto (DynamoDB, KMS, Secrets Manager) and the fake GitHub over HTTP."""

from __future__ import annotations

import pytest

from gistgate.core.tool_scopes import TOOL_SCOPES, tool_scope
from gistgate.storage import keys
from tests.fixtures.mcp_client import GISTGATE_TOOLS
from tests.fixtures.mcp_stack import ALICE_TOKEN, SERVICE_TOKEN

ADMIN = "read:gists write:gists admin:server"


def owner_items(stack, gist_id):
    table = stack.aws.client("dynamodb")
    return table.get_item(
        TableName=stack.aws.table,
        Key={k: {"S": v} for k, v in keys.gist_owner(gist_id).items()},
    ).get("Item")


def test_tools_list_has_the_exact_names_scopes_and_argument_names(stack):
    tools = {t.name: t for t in stack.caller().list_tools()}
    assert set(tools) == GISTGATE_TOOLS
    assert (tools["create_gist"].meta or {}).get("gistgate/requiredScope") == "write:gists"
    assert (tools["list_gists"].meta or {}).get("gistgate/requiredScope") == "read:gists"
    assert "gistgate/requiredScope" not in (tools["whoami"].meta or {})
    for name in ("get_gist", "update_gist", "delete_gist"):
        assert "gist_id" in tools[name].input_schema["properties"]
        assert "gist_id" in tools[name].input_schema["required"]
    create = tools["create_gist"].input_schema
    assert create["required"] == ["files"]
    assert create["properties"]["public"]["default"] is False
    assert set(tools["list_gists"].input_schema["properties"]) == {"limit", "since", "cursor"}
    # The update schema lets a file's content be null (delete that file).
    files = tools["update_gist"].input_schema["properties"]["files"]
    assert "null" in str(files)
    for tool in tools.values():
        assert "scope" in tool.description.lower()


def test_every_served_tool_declares_the_scope_the_authorizer_enforces(stack):
    # One table (gistgate/core/tool_scopes.py) for the gateway's step-up and the tools:
    # a tool added without an entry, or meta that drifts from it, fails here.
    settings = stack.settings
    tools = {t.name: t for t in stack.caller().list_tools()}
    assert set(tools) == set(TOOL_SCOPES)
    for name, tool in tools.items():
        assert (tool.meta or {}).get("gistgate/requiredScope") == tool_scope(settings, name), name


def test_renamed_scopes_reach_the_tools_through_the_table(make_stack):
    stack = make_stack(SCOPE_READ="gists.view", SCOPE_WRITE="gists.edit")
    tools = {t.name: t for t in stack.caller(scope="gists.view").list_tools()}
    assert tools["create_gist"].meta["gistgate/requiredScope"] == "gists.edit"
    assert tools["get_gist"].meta["gistgate/requiredScope"] == "gists.view"
    assert "gists.edit" in tools["delete_gist"].description


def test_whoami_describes_the_caller_and_the_credential(stack):
    alice = stack.caller("user-alice", "read:gists", client_id="cli-1", iss="https://idp.test")
    me = alice.ok("whoami")
    assert me["sub"] == "user-alice"
    assert me["client_id"] == "cli-1"
    assert me["scopes"] == ["read:gists"]
    assert me["issuer"] == "https://idp.test"
    assert me["expires_at"] > 0
    assert me["github_connected"] is False
    assert me["credential"] == "service"
    stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
    me = alice.ok("whoami")
    assert (me["github_connected"], me["github_login"], me["credential"]) == (
        True,
        "alice",
        "delegated",
    )


def test_create_gist_in_service_mode_attributes_and_records_the_owner(stack):
    made = stack.caller("user-alice").ok(
        "create_gist", {"description": "notes", "files": {"a.md": "# hi"}}
    )
    assert made["credential"] == "service"
    assert made["requested_by"] == "user-alice"
    assert made["public"] is False
    gist = stack.github.gists[made["id"]]
    assert gist["description"] == "notes (created by user-alice)"
    assert gist["public"] is False
    item = owner_items(stack, made["id"])
    assert item["owner"]["S"] == "user-alice"
    # the service token, not the caller's MCP token, went to GitHub
    assert stack.github.requests[-1] == ("POST", "/gists", SERVICE_TOKEN)


def test_create_gist_delegated_uses_the_users_token_and_no_attribution(make_stack):
    stack = make_stack(GITHUB_CREDENTIALS="delegated")
    stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
    made = stack.caller("user-alice").ok(
        "create_gist", {"description": "mine", "files": {"x.txt": "x"}, "public": True}
    )
    assert made["credential"] == "delegated"
    gist = stack.github.gists[made["id"]]
    assert gist["owner"]["login"] == "alice"
    assert gist["description"] == "mine"
    assert gist["public"] is True
    assert owner_items(stack, made["id"]) is None
    assert stack.github.requests[-1][2] == ALICE_TOKEN


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "at least one file"),
        ({"a.txt": "   "}, "empty"),
        ({"a.txt": "x" * 1_000_001}, "1,000,000 bytes per file"),
        ({f"f{i}.txt": "x" * 900_000 for i in range(5)}, "4,000,000 bytes per call"),
        ({"dir/a.txt": "x"}, "must not contain"),
        ({f"f{i}": "x" for i in range(51)}, "at most 50 files"),
    ],
)
def test_create_gist_rejects_bad_files_with_a_clear_error(stack, files, expected):
    message = stack.caller().error("create_gist", {"files": files})
    assert expected in message
    assert stack.github.count("POST", "/gists") == 0


def test_list_gists_in_service_mode_shows_only_the_callers_own(stack):
    alice, bob = stack.caller("user-alice"), stack.caller("user-bob")
    mine = {alice.ok("create_gist", {"files": {f"a{i}": "a"}})["id"] for i in range(3)}
    theirs = bob.ok("create_gist", {"files": {"b": "b"}})["id"]
    listed = alice.ok("list_gists")
    assert {g["id"] for g in listed["gists"]} == mine
    assert listed["credential"] == "service"
    assert theirs not in {g["id"] for g in listed["gists"]}
    everything = stack.caller("root", ADMIN).ok("list_gists", {"limit": 100})
    assert {g["id"] for g in everything["gists"]} == mine | {theirs}


def test_list_gists_pages_with_a_cursor_in_service_mode(stack):
    alice = stack.caller("user-alice")
    made = [alice.ok("create_gist", {"files": {f"n{i}": "x"}})["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        args = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = alice.ok("list_gists", args)
        assert len(page["gists"]) <= 2
        seen += [g["id"] for g in page["gists"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made)
    assert len(seen) == 5


def test_list_gists_cursor_of_another_user_is_refused(stack):
    alice, bob = stack.caller("user-alice"), stack.caller("user-bob")
    for i in range(3):
        alice.ok("create_gist", {"files": {f"n{i}": "x"}})
    cursor = alice.ok("list_gists", {"limit": 1})["next_cursor"]
    assert "cursor" in bob.error("list_gists", {"limit": 1, "cursor": cursor})


def test_list_gists_delegated_follows_githubs_link_pagination_and_since(make_stack):
    stack = make_stack(GITHUB_CREDENTIALS="delegated")
    stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
    alice = stack.caller("user-alice")
    for i in range(3):
        alice.ok("create_gist", {"files": {f"n{i}": "x"}})
    first = alice.ok("list_gists", {"limit": 2})
    assert len(first["gists"]) == 2
    assert first["next_cursor"] == "2"
    second = alice.ok("list_gists", {"limit": 2, "cursor": first["next_cursor"]})
    assert len(second["gists"]) == 1
    assert second["next_cursor"] is None
    assert alice.ok("list_gists", {"since": "2999-01-01T00:00:00Z"})["gists"] == []
    assert "ISO 8601" in alice.error("list_gists", {"since": "yesterday"})
    assert "between 1 and 100" in alice.error("list_gists", {"limit": 101})


def test_get_gist_returns_contents_and_flags_truncated_files(stack):
    alice = stack.caller("user-alice")
    made = alice.ok("create_gist", {"files": {"small.py": "print(1)", "big.txt": "x"}})
    stack.github.gists[made["id"]]["files"]["big.txt"] = "y" * 1_200_000  # edited on github.com
    got = alice.ok("get_gist", {"gist_id": made["id"]})
    assert got["files"]["small.py"]["content"] == "print(1)"
    assert got["files"]["small.py"]["truncated"] is False
    assert got["files"]["big.txt"]["truncated"] is True
    assert got["files"]["big.txt"]["raw_url"].startswith("https://")
    assert got["truncated_files"] == ["big.txt"]


@pytest.mark.parametrize("tool", ["get_gist", "update_gist", "delete_gist"])
def test_service_mode_ownership_user_b_cannot_touch_user_as_gist(stack, tool):
    made = stack.caller("user-alice").ok("create_gist", {"files": {"a": "a"}})
    args = {"gist_id": made["id"]}
    if tool == "update_gist":
        args["description"] = "hijacked"
    before = len(stack.github.requests)
    message = stack.caller("user-bob").error(tool, args)
    assert "not created by you" in message
    assert len(stack.github.requests) == before  # refused before GitHub was asked
    assert made["id"] in stack.github.gists
    assert owner_items(stack, made["id"])["owner"]["S"] == "user-alice"


def test_admin_scope_may_read_and_delete_any_gist_in_service_mode(stack):
    made = stack.caller("user-alice").ok("create_gist", {"files": {"a": "a"}})
    admin = stack.caller("root", ADMIN)
    assert admin.ok("get_gist", {"gist_id": made["id"]})["id"] == made["id"]
    assert admin.ok("delete_gist", {"gist_id": made["id"]})["deleted"] is True
    assert owner_items(stack, made["id"]) is None


def test_update_gist_edits_adds_and_deletes_files_and_keeps_attribution(stack):
    alice = stack.caller("user-alice")
    made = alice.ok("create_gist", {"description": "v1", "files": {"a": "1", "b": "2"}})
    updated = alice.ok(
        "update_gist",
        {"gist_id": made["id"], "description": "v2", "files": {"a": "one", "b": None, "c": "3"}},
    )
    assert sorted(updated["files"]) == ["a", "c"]
    gist = stack.github.gists[made["id"]]
    assert gist["files"] == {"a": "one", "c": "3"}
    assert gist["description"] == "v2 (created by user-alice)"
    listed = alice.ok("list_gists")["gists"][0]
    assert listed["description"] == "v2 (created by user-alice)"
    assert listed["files"] == ["a", "c"]
    assert "nothing to change" in alice.error("update_gist", {"gist_id": made["id"]})


def test_delete_gist_removes_the_gist_and_its_ownership_records(stack):
    alice = stack.caller("user-alice")
    made = alice.ok("create_gist", {"files": {"a": "a"}})
    assert alice.ok("delete_gist", {"gist_id": made["id"]}) == {
        "id": made["id"],
        "deleted": True,
        "credential": "service",
    }
    assert made["id"] not in stack.github.gists
    assert owner_items(stack, made["id"]) is None
    assert alice.ok("list_gists")["gists"] == []
    assert "not created by you" in alice.error("get_gist", {"gist_id": made["id"]})


def test_gist_id_must_look_like_a_gist_id(stack):
    assert "gist_id" in stack.caller().error("get_gist", {"gist_id": "../user"})
    assert stack.github.count("GET", "/") == 0


def test_get_my_profile_reports_the_account_in_use(stack):
    alice = stack.caller("user-alice")
    assert alice.ok("get_my_profile")["login"] == "gistgate-bot"
    stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
    profile = alice.ok("get_my_profile")
    assert profile["login"] == "alice"
    assert profile["bio"] == "hello"
    assert profile["credential"] == "delegated"
    assert set(profile) >= {"login", "name", "bio", "public_gists", "followers"}


def test_connect_github_is_not_configured_without_a_github_app(stack):
    message = stack.caller().error("connect_github")
    assert "Not configured" in message


def test_connect_github_issues_a_one_time_url_with_a_hashed_ticket(make_stack):
    stack = make_stack(GITHUB_OAUTH_CLIENT_ID="Iv1.abc", PUBLIC_BASE_URL="https://mcp.example.com")
    result = stack.caller("user-alice").ok("connect_github")
    assert result["url"].startswith("https://mcp.example.com/oauth/github/connect?ticket=")
    ticket = result["url"].split("ticket=", 1)[1]
    items = stack.aws.client("dynamodb").scan(TableName=stack.aws.table)["Items"]
    tickets = [i for i in items if i["pk"]["S"].startswith("TICKET#")]
    assert len(tickets) == 1
    assert tickets[0]["pk"]["S"] == f"TICKET#{keys.digest(ticket)}"
    assert tickets[0]["sub"]["S"] == "user-alice"
    assert ticket not in str(items)
    # The user is told the link is theirs alone and that a sign-in may come first.
    assert "only for your account" in result["instructions"]
    assert "sign in" in result["instructions"]


def test_disconnect_github_revokes_at_github_and_deletes_the_grant(make_stack):
    stack = make_stack(GITHUB_OAUTH_CLIENT_ID="Iv1.abc", GITHUB_OAUTH_CLIENT_SECRET="app-secret")
    stack.github.apps["Iv1.abc"] = "app-secret"
    stack.connect("user-alice", ALICE_TOKEN, "alice", 1001)
    alice = stack.caller("user-alice")
    result = alice.ok("disconnect_github")
    assert result == {"disconnected": True, "github_login": "alice", "revoked_at_github": True}
    assert stack.github.revoked == [("Iv1.abc", ALICE_TOKEN)]
    assert stack.services.vault.get("user-alice") is None
    assert alice.ok("whoami")["github_connected"] is False
    assert alice.ok("disconnect_github")["disconnected"] is False


def test_missing_scope_is_a_tool_error_naming_needed_and_held_scopes(stack):
    reader = stack.caller("user-alice", "read:gists")
    message = reader.error("create_gist", {"files": {"a": "a"}})
    assert "write:gists" in message
    assert "Your token has: read:gists" in message
    assert 'scope "read:gists write:gists"' in message
    assert stack.github.count("POST", "/gists") == 0
    nobody = stack.caller("user-alice", "")
    assert "Your token has: (none)" in nobody.error("list_gists")


def test_rate_limit_refuses_with_retry_after_and_spares_github(make_stack):
    stack = make_stack(RATE_LIMIT_PER_MINUTE="3")
    alice = stack.caller("user-alice")
    for _ in range(3):
        alice.ok("get_my_profile")
    message = alice.error("get_my_profile")
    assert "Rate limit" in message
    assert "retry after 20 s" in message or "retry after 19 s" in message
    assert stack.github.count("GET", "/user") == 3
    stack.caller("user-bob").ok("get_my_profile")  # per user
