"""The one redirect-URI rule: what a browser would read differently from us is refused."""

from __future__ import annotations

import pytest

from gistgate.oauth.cimd import is_cimd_client_id
from gistgate.oauth.redirects import redirect_uri_problem, redirect_warning


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
