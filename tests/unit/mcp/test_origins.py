"""gistgate/mcp/http.py's Origin rule, and MCP_ALLOWED_ORIGINS' ``loopback`` keyword."""

from __future__ import annotations

import pytest

from gistgate.core.config import SettingsError, load_settings
from gistgate.mcp.http import origin_allowed


def allowed(value: str) -> tuple[str, ...]:
    return load_settings({"MCP_ALLOWED_ORIGINS": value}).mcp_allowed_origins


def test_a_request_without_origin_is_not_a_browser_and_is_allowed() -> None:
    assert origin_allowed(None, ())


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:6274", "http://127.0.0.1:3000", "http://[::1]:8080", "http://localhost"],
)
def test_loopback_admits_local_browser_clients_on_any_port(origin: str) -> None:
    assert origin_allowed(origin, allowed("loopback"))
    assert not origin_allowed(origin, ())  # a deployed stack's default refuses them


@pytest.mark.parametrize(
    "origin",
    [
        "https://localhost:6274",  # loopback means plain http on this machine only
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io:3000",
        "http://evil.example",
        "http://localhost:6274/path",
        "http://user@localhost:6274",
        "http://localhost:99999",
        "null",
    ],
)
def test_loopback_admits_nothing_else(origin: str) -> None:
    assert not origin_allowed(origin, allowed("loopback"))


def test_listed_origins_and_the_keyword_combine() -> None:
    both = allowed("https://app.example,loopback")
    assert origin_allowed("https://app.example", both)
    assert origin_allowed("http://localhost:6274", both)
    assert not origin_allowed("https://other.example", both)


def test_anything_else_in_the_setting_is_refused() -> None:
    with pytest.raises(SettingsError):
        load_settings({"MCP_ALLOWED_ORIGINS": "localhost"})
