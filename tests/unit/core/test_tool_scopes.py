"""gistgate/core/tool_scopes.py: the one tool → scope table."""

from __future__ import annotations

import pytest

from gistgate.core.config import load_settings
from gistgate.core.tool_scopes import TOOL_SCOPES, UnknownTool, challenge_scopes, tool_scope


def test_roles_map_to_the_configured_scope_names() -> None:
    settings = load_settings({"SCOPE_READ": "gists.view", "SCOPE_WRITE": "gists.edit"})
    assert tool_scope(settings, "create_gist") == "gists.edit"
    assert tool_scope(settings, "get_gist") == "gists.view"
    assert tool_scope(settings, "whoami") is None


def test_every_write_tool_needs_write_and_every_read_tool_read() -> None:
    settings = load_settings({})
    writes = {t for t in TOOL_SCOPES if tool_scope(settings, t) == "write:gists"}
    reads = {t for t in TOOL_SCOPES if tool_scope(settings, t) == "read:gists"}
    assert writes == {"create_gist", "update_gist", "delete_gist"}
    assert reads == {"list_gists", "get_gist", "get_my_profile"}


def test_an_unknown_tool_is_an_error_not_a_free_pass() -> None:
    with pytest.raises(UnknownTool):
        tool_scope(load_settings({}), "drop_tables")


def test_the_challenge_lists_the_baseline_and_the_tools_scope_once() -> None:
    settings = load_settings({"OAUTH_REQUIRED_SCOPES": "read:gists"})
    assert challenge_scopes(settings, "create_gist") == ("read:gists", "write:gists")
    assert challenge_scopes(settings, "get_gist") == ("read:gists",)
    assert challenge_scopes(settings, "whoami") == ("read:gists",)
    assert challenge_scopes(load_settings({}), "create_gist") == ("write:gists",)
