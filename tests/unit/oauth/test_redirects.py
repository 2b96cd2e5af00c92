"""The one redirect-URI rule: what a browser would read differently from us is refused."""

from __future__ import annotations

import pytest

from gistgate.oauth.cimd import is_cimd_client_id
from gistgate.oauth.redirects import (
    infer_application_type,
    redirect_uri_problem,
    redirect_warning,
)


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example\\.good.example/cb",  # browsers read "\" as "/"
        "https://good.example/cb?x=<script>",
        'https://good.example/"cb"',
        "https://good.example/c b",
        "https://good.example/{cb}",
        "https://good.example/cb|x",
        "https://good.example/cb^",
        "https://good.example/`cb`",
    ],
)
def test_characters_no_uri_may_hold_are_refused(uri):
    assert redirect_uri_problem(uri)
    assert not is_cimd_client_id(uri)


@pytest.mark.parametrize(
    "uri", ["https://good.example/cb", "https://good.example/cb?a=1&b=%20", "http://[::1]:8/cb"]
)
def test_ordinary_redirect_uris_pass(uri):
    assert redirect_uri_problem(uri) is None


def test_loopback_redirects_carry_a_warning_and_https_ones_none():
    assert "your own computer" in redirect_warning("http://127.0.0.1:33418/callback")
    assert redirect_warning("https://app.example/cb") is None


CURSOR = "cursor://anysphere.cursor-retrieval/oauth/user-gistgate/callback"


@pytest.mark.parametrize(
    "uri",
    [
        CURSOR,  # the domain as the authority, as Cursor registers
        "com.example.app:/oauth2redirect",  # RFC 8252 §7.1's own form
        "com.example.app://callback",
        "http://127.0.0.1:51004/callback",  # loopback, any port (§7.3)
        "http://[::1]:8/cb",
        "https://vscode.dev/redirect",  # claimed https URLs (§7.2)
    ],
)
def test_a_native_client_may_use_loopback_and_private_use_schemes(uri):
    assert redirect_uri_problem(uri, "native") is None


@pytest.mark.parametrize(
    "uri",
    [
        "javascript://example.com/%0Aalert(1)",
        "data://text.plain/x",
        "file://host.example/etc/passwd",
        "myapp://callback",  # not reverse-domain: any app could claim it
        "myapp://10.0.0.1/cb",
        "ws://socket.example/cb",
        "http://app.example/cb",  # plain http off loopback
        "com.example.app:/cb#frag",
        "com.example.app://user@host.example/cb",
    ],
)
def test_a_native_client_may_not_use_other_schemes(uri):
    assert redirect_uri_problem(uri, "native")


@pytest.mark.parametrize(
    "uri", [CURSOR, "com.example.app:/cb", "http://127.0.0.1:8000/cb", "http://localhost/cb"]
)
def test_a_web_client_uses_https_only(uri):
    assert redirect_uri_problem(uri, "web")
    assert redirect_uri_problem("https://claude.ai/api/mcp/auth_callback", "web") is None


def test_without_a_type_custom_schemes_stay_refused():
    assert redirect_uri_problem(CURSOR)
    assert redirect_uri_problem("http://127.0.0.1:8000/cb") is None


@pytest.mark.parametrize(
    ("uris", "expected"),
    [
        (["https://claude.ai/api/mcp/auth_callback"], "web"),
        (["http://127.0.0.1:33418/cb", "https://vscode.dev/redirect"], "native"),
        ([CURSOR], "native"),
        ([], "web"),
    ],
)
def test_the_type_a_client_does_not_name_is_inferred_from_its_redirects(uris, expected):
    assert infer_application_type(uris) == expected


def test_custom_scheme_returns_carry_a_warning():
    assert "opens an app on your device (cursor:)" in redirect_warning(CURSOR)
