"""gistgate/netguard.py: https everywhere, plain http only on loopback."""

from __future__ import annotations

import pytest

from gistgate.netguard import UnsafeUrlError, check_outbound_url, is_loopback_host

SAFE_URLS = [
    "https://idp.example.com",
    "https://idp.example.com:8443/oauth2/v1/keys?x=1",
    "HTTPS://IDP.EXAMPLE.COM/keys",
    "https://10.0.0.5/jwks.json",
    "http://127.0.0.1:8080/jwks.json",
    "http://127.10.20.30/",
    "http://localhost:9000/realms/dev",
    "http://LocalHost/keys",
    "http://[::1]:8443/keys",
]

UNSAFE_URLS = [
    pytest.param("http://idp.example.com/jwks.json", "must use https", id="http-public"),
    pytest.param("http://10.0.0.5/jwks.json", "must use https", id="http-private-ip"),
    pytest.param("http://169.254.169.254/latest/", "must use https", id="http-metadata-ip"),
    pytest.param("http://0.0.0.0:8080/", "must use https", id="http-unspecified"),
    pytest.param("http://[::]/", "must use https", id="http-ipv6-unspecified"),
    pytest.param("http://localhost.evil.example/", "must use https", id="http-localhost-prefix"),
    pytest.param("http://127.0.0.1.nip.io/", "must use https", id="http-loopback-lookalike"),
    pytest.param("ftp://idp.example.com/keys", "must use https", id="ftp"),
    pytest.param("file:///etc/passwd", "has no host", id="file"),
    pytest.param("https:///keys", "has no host", id="no-host"),
    pytest.param("idp.example.com/keys", "has no host", id="no-scheme"),
    pytest.param("", "has no host", id="empty"),
    pytest.param("https://user:pw@idp.example.com/", "credentials", id="userinfo"),
    pytest.param("https://user@idp.example.com/", "credentials", id="username-only"),
    pytest.param("http://user:pw@127.0.0.1/", "credentials", id="userinfo-loopback"),
    pytest.param("https://idp.example.com:99999/", "not a valid URL", id="port-out-of-range"),
    pytest.param("https://idp.example.com:abc/", "not a valid URL", id="port-not-numeric"),
    pytest.param("http://[::1/", "not a valid URL", id="broken-ipv6"),
]


@pytest.mark.parametrize("url", SAFE_URLS)
def test_safe_url_is_returned_unchanged(url):
    assert check_outbound_url(url) == url


@pytest.mark.parametrize(("url", "why"), UNSAFE_URLS)
def test_unsafe_url_is_rejected_with_the_reason(url, why):
    with pytest.raises(UnsafeUrlError, match=why):
        check_outbound_url(url)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("0:0:0:0:0:0:0:1", True),
        ("example.com", False),
        ("localhost.example.com", False),
        ("127.0.0.1.example.com", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
    ],
)
def test_is_loopback_host(host, loopback):
    assert is_loopback_host(host) is loopback
