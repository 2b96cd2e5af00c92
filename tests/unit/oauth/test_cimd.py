"""gistgate/oauth/cimd.py without a network: which strings are client_id URLs, and the
SSRF fence that refuses a URL before any connection (DNS answered by hand). Fetching a
document from a server on 127.0.0.1 is tests/component/oauth/test_cimd.py."""

from __future__ import annotations

import pytest

from gistgate.oauth.cimd import CimdFetcher, is_cimd_client_id
from tests.fixtures.cimd import fake_dns, reason_of, record_connects
from tests.fixtures.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fetcher(clock: FakeClock) -> CimdFetcher:
    """Dev-mode fetcher (loopback allowed), as in the component tests."""
    return CimdFetcher(allow_loopback=True, timeout=2.0, clock=clock)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    return record_connects(monkeypatch)


# --- the client_id URL --------------------------------------------------------------


@pytest.mark.parametrize(
    "client_id",
    [
        "https://app.example.com/client.json",
        "https://app.example.com:8443/oauth/client?v=2",
        "https://app.example.com/.well-known/client",
    ],
)
def test_https_urls_with_a_path_are_client_id_urls(client_id):
    assert is_cimd_client_id(client_id)


@pytest.mark.parametrize(
    "client_id",
    [
        "https://app.example.com",
        "https://app.example.com/",
        "http://app.example.com/client.json",
        "http://127.0.0.1:8080/client.json",  # loopback http only with allow_http_loopback
        "ftp://app.example.com/client.json",
        "https://app.example.com/client.json#frag",
        "https://app.example.com/client.json#",
        "https://user:pw@app.example.com/client.json",
        "https://user@app.example.com/client.json",
        "https://app.example.com/a/../client.json",
        "https://app.example.com/./client.json",
        "https://app.example.com/a/%2E%2E/client.json",
        "https://app.example.com/client.json\n",
        "https://app.example.com/cli\tent.json",
        "https://app.example.com/client json",
        "https:///client.json",
        "https://app.example.com:99999/client.json",
        "my-client",
        "",
    ],
)
def test_other_strings_are_not_client_id_urls(client_id):
    assert not is_cimd_client_id(client_id)


def test_http_loopback_is_a_client_id_url_only_when_allowed():
    assert is_cimd_client_id("http://127.0.0.1:8080/c.json", allow_http_loopback=True)
    assert is_cimd_client_id("http://localhost/c.json", allow_http_loopback=True)
    assert not is_cimd_client_id("http://app.example.com/c.json", allow_http_loopback=True)


# --- SSRF: refused before any connection ---------------------------------------------


def test_plain_http_to_a_non_loopback_host_is_refused_even_in_dev_mode(fetcher, connects):
    assert reason_of(fetcher, "http://app.example.com/client.json") == "unsafe_url"
    assert connects == []


@pytest.mark.parametrize(
    "addresses",
    [
        ["93.184.215.14", "10.1.2.3"],
        ["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "fd12::1"],
        ["93.184.215.14", "169.254.169.254"],
        ["100.64.1.1"],
    ],
)
def test_a_name_resolving_to_any_private_address_is_refused(
    monkeypatch, clock, connects, addresses
):
    calls = fake_dns(monkeypatch, {"client.example.com": lambda: addresses})
    fetcher = CimdFetcher(clock=clock)

    assert reason_of(fetcher, "https://client.example.com/client.json") == "private_address"
    assert calls == ["client.example.com"]
    assert connects == []


@pytest.mark.parametrize(
    "client_id",
    [
        "https://10.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.1/client.json",
        "https://100.64.0.1/client.json",
        "https://0.0.0.0/client.json",  # reaches the local host on Linux, but is not loopback
        "https://[::ffff:10.0.0.1]/client.json",
        "https://[::ffff:127.0.0.1]/client.json",  # loopback only as a plain 127/8 or ::1
        "https://[fd00::1]/client.json",
        "https://[fe80::1]/client.json",
    ],
)
def test_dev_mode_still_refuses_non_loopback_private_literals(fetcher, connects, client_id):
    assert fetcher.allow_loopback
    assert reason_of(fetcher, client_id) == "private_address"
    assert connects == []


@pytest.mark.parametrize(
    "client_id", ["http://10.0.0.1/client.json", "http://169.254.169.254/latest/meta-data"]
)
def test_dev_mode_allows_plain_http_only_to_loopback(fetcher, connects, client_id):
    assert reason_of(fetcher, client_id) == "unsafe_url"
    assert connects == []


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.1"], ["169.254.169.254"], ["127.0.0.1", "10.0.0.1"], ["::1", "fd00::1"]],
)
def test_dev_mode_refuses_a_name_resolving_to_a_private_address(
    monkeypatch, fetcher, connects, addresses
):
    calls = fake_dns(monkeypatch, {"client.example.com": lambda: addresses})

    assert reason_of(fetcher, "https://client.example.com/client.json") == "private_address"
    assert calls == ["client.example.com"]
    assert connects == []


@pytest.mark.parametrize(
    "client_id", ["https://[fe80::1%25eth0]/client.json", "https://exa%6dple.com/client.json"]
)
def test_a_percent_in_the_host_is_refused(fetcher, connects, client_id):
    assert reason_of(fetcher, client_id) == "unsafe_url"
    assert connects == []


def test_a_failed_ssrf_check_is_cached_too(monkeypatch, clock):
    calls = fake_dns(monkeypatch, {"client.example.com": lambda: ["10.0.0.1"]})
    fetcher = CimdFetcher(clock=clock)

    for _ in range(3):
        assert reason_of(fetcher, "https://client.example.com/client.json") == "private_address"

    assert calls == ["client.example.com"]
