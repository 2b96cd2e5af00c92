"""gistgate/oauth/cimd.py against a real HTTP server on 127.0.0.1: the document
rules, the size/time budget, caching, and the SSRF fence (refused before connecting)
where a server is there to be (not) reached. The client_id URL rules and the refusals
that need no server are in tests/unit/oauth/test_cimd.py."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gistgate.oauth.cimd import (
    CimdError,
    CimdFetcher,
    ClientMetadataDocument,
)
from tests.fixtures.cimd import fake_dns, reason_of, record_connects
from tests.fixtures.clock import T0, FakeClock
from tests.fixtures.counting_server import CountingServer, reply


class DocServer(CountingServer):
    """Where client metadata documents are served."""

    def __init__(self) -> None:
        super().__init__(not_found=b"no such document")


def document(client_id: str, **overrides: Any) -> dict[str, Any]:
    doc = {
        "client_id": client_id,
        "client_name": "Example MCP Client",
        "redirect_uris": ["http://127.0.0.1:53682/callback", "https://app.example.com/cb"],
        "token_endpoint_auth_method": "none",
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.fixture
def server() -> Iterator[DocServer]:
    srv = DocServer()
    yield srv
    srv.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fetcher(clock: FakeClock) -> CimdFetcher:
    """Dev-mode fetcher: the test server is plain http on loopback."""
    return CimdFetcher(allow_loopback=True, timeout=2.0, clock=clock)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    return record_connects(monkeypatch)


def serve(server: DocServer, path: str = "/client.json", **overrides: Any) -> str:
    """Serve a valid document at ``path`` (with ``overrides``) and return its client_id."""
    client_id = server.url(path)
    server.routes[path] = reply(document(client_id, **overrides))
    return client_id


# --- a good document and the cache ---------------------------------------------------


def test_a_good_document_is_fetched_and_validated(server, fetcher, clock):
    client_id = serve(
        server,
        scope="gists:read",
        grant_types=["authorization_code", "refresh_token"],
        client_uri="https://app.example.com",
        logo_uri="javascript:alert(1)",
    )

    doc = fetcher.get(client_id)

    assert isinstance(doc, ClientMetadataDocument)
    assert doc.client_id == client_id
    assert doc.client_name == "Example MCP Client"
    assert doc.redirect_uris == ("http://127.0.0.1:53682/callback", "https://app.example.com/cb")
    assert doc.token_endpoint_auth_method == "none"
    assert doc.grant_types == ("authorization_code", "refresh_token")
    assert doc.response_types == ("code",)
    assert doc.scope == "gists:read"
    assert doc.client_uri == "https://app.example.com"
    assert doc.logo_uri is None  # not https: dropped, never shown
    assert doc.fetched_at == T0
    assert server.hits("/client.json") == 1


def test_defaults_when_optional_fields_are_absent(server, fetcher):
    client_id = serve(server, client_name=None, token_endpoint_auth_method=None)

    doc = fetcher.get(client_id)

    assert doc.client_name == "127.0.0.1"  # the URL's host
    assert doc.token_endpoint_auth_method == "none"
    assert doc.grant_types == ("authorization_code",)
    assert doc.scope is None


def test_the_document_is_cached_for_the_ttl(server, fetcher, clock):
    client_id = serve(server)

    first = fetcher.get(client_id)
    clock.advance(299)
    assert fetcher.get(client_id) is first
    assert server.hits("/client.json") == 1

    clock.advance(2)
    fetcher.get(client_id)
    assert server.hits("/client.json") == 2


@pytest.mark.parametrize(
    ("cache_control", "still_cached", "refetched"),
    [
        ("public, max-age=10", 9, 11),  # smaller than the ttl: honoured
        ("max-age=3600", 3599, 3601),  # larger: honoured too
        ("max-age=999999999", 86399, 86401),  # capped at 24 h
        ("no-store", None, 0),
        ("no-cache", None, 0),
    ],
)
def test_cache_control_max_age(server, fetcher, clock, cache_control, still_cached, refetched):
    client_id = server.url("/client.json")
    server.routes["/client.json"] = reply(
        document(client_id), headers={"Cache-Control": cache_control}
    )
    fetcher.get(client_id)

    if still_cached is not None:
        clock.advance(still_cached)
        fetcher.get(client_id)
        assert server.hits("/client.json") == 1
        clock.advance(refetched - still_cached)
    fetcher.get(client_id)
    assert server.hits("/client.json") == 2


def test_failures_are_cached_briefly(server, fetcher, clock):
    client_id = server.url("/client.json")  # nothing served yet: 404

    with pytest.raises(CimdError) as first:
        fetcher.get(client_id)
    serve(server)
    clock.advance(29)
    with pytest.raises(CimdError) as second:
        fetcher.get(client_id)

    assert first.value.reason == second.value.reason == "http_status"
    assert server.hits("/client.json") == 1

    clock.advance(2)
    assert fetcher.get(client_id).client_id == client_id
    assert server.hits("/client.json") == 2


# --- document rules -----------------------------------------------------------------


@pytest.mark.parametrize(
    "named",
    [
        lambda url: url + "/",
        lambda url: url.replace("127.0.0.1", "localhost"),
        lambda url: url.upper(),
        lambda url: "https://app.example.com/client.json",
        lambda url: None,
    ],
)
def test_the_document_must_name_its_own_url(server, fetcher, named):
    client_id = server.url("/client.json")
    server.routes["/client.json"] = reply(document(client_id) | {"client_id": named(client_id)})

    assert reason_of(fetcher, client_id) == "client_id_mismatch"


@pytest.mark.parametrize(
    "redirect_uris",
    [
        [],
        "https://app.example.com/cb",
        [123],
        ["https://app.example.com/cb", "http://app.example.com/cb"],
        ["javascript:alert(1)"],
        ["com.example.app:/callback"],
        ["https://app.example.com/cb#fragment"],
        ["https://user:pw@app.example.com/cb"],
        ["http://127.0.0.1.evil.example/cb"],
        ["http://10.0.0.1/cb"],
        ["https:///cb"],
    ],
)
def test_bad_redirect_uris_are_refused(server, fetcher, redirect_uris):
    client_id = serve(server, redirect_uris=redirect_uris)

    assert reason_of(fetcher, client_id) == "bad_redirect_uris"


def test_loopback_http_redirect_uris_are_allowed_on_any_port(server, fetcher):
    uris = ["http://127.0.0.1/cb", "http://[::1]:8765/cb", "http://localhost:49152/cb"]

    assert fetcher.get(serve(server, redirect_uris=uris)).redirect_uris == tuple(uris)


@pytest.mark.parametrize(
    "method", ["client_secret_post", "client_secret_basic", "client_secret_jwt", "tls_client_auth"]
)
def test_shared_secret_auth_methods_are_refused(server, fetcher, method):
    client_id = serve(server, token_endpoint_auth_method=method)

    assert reason_of(fetcher, client_id) == "bad_auth_method"


def test_a_client_secret_in_the_document_is_refused(server, fetcher):
    client_id = serve(server, client_secret="s3cret")

    assert reason_of(fetcher, client_id) == "bad_auth_method"


def test_private_key_jwt_is_allowed_with_a_jwks_uri(server, fetcher):
    jwks_uri = server.url("/jwks.json")
    doc = fetcher.get(
        serve(
            server,
            token_endpoint_auth_method="private_key_jwt",
            token_endpoint_auth_signing_alg="RS256",
            jwks_uri=jwks_uri,
        )
    )

    assert doc.token_endpoint_auth_method == "private_key_jwt"
    assert doc.keys.jwks_uri == jwks_uri
    assert doc.keys.signing_alg == "RS256"


@pytest.mark.parametrize(
    "keys",
    [
        {},  # no keys at all
        {"jwks_uri": "https://a.example/jwks", "jwks": {"keys": []}},  # both
        {"jwks_uri": "https://10.0.0.1/jwks"},  # a private address
        {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},  # a shared secret as a key
        {"jwks_uri": "https://a.example/jwks", "token_endpoint_auth_signing_alg": "HS256"},
    ],
)
def test_private_key_jwt_needs_usable_public_keys(server, fetcher, keys):
    client_id = serve(server, token_endpoint_auth_method="private_key_jwt", **keys)
    assert reason_of(fetcher, client_id) == "bad_keys"


@pytest.mark.parametrize("name", ["x" * 201, 42, ""])
def test_client_name_must_be_a_short_string(server, fetcher, name):
    assert reason_of(fetcher, serve(server, client_name=name)) == "bad_metadata"


def test_client_name_of_200_characters_is_fine(server, fetcher):
    assert fetcher.get(serve(server, client_name="x" * 200)).client_name == "x" * 200


# --- the fetch: status, body, size, time ---------------------------------------------


def test_non_json_is_refused_without_echoing_the_body(server, fetcher):
    client_id = server.url("/client.json")
    server.routes["/client.json"] = reply(b"<html>SECRET-MARKER</html>")

    with pytest.raises(CimdError) as info:
        fetcher.get(client_id)

    assert info.value.reason == "not_json"
    assert "SECRET-MARKER" not in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        b'{"client_id": "a", "client_id": "b"}',  # which one would we have trusted?
        b'{"client_name": NaN}',
        b'{"client_name": "\\ud800"}',
        b"[" * 2400 + b"]" * 2400,
        b"\xff\xfe{}",
    ],
    ids=["repeated-member", "nan", "lone-surrogate", "deep", "not-utf8"],
)
def test_json_that_is_ambiguous_or_malformed_is_not_a_document(server, fetcher, body):
    client_id = server.url("/client.json")
    server.routes["/client.json"] = reply(body)

    with pytest.raises(CimdError) as info:
        fetcher.get(client_id)

    assert info.value.reason == "not_json"


def test_a_json_array_is_not_a_document(server, fetcher):
    client_id = server.url("/client.json")
    server.routes["/client.json"] = reply([client_id])

    assert reason_of(fetcher, client_id) == "bad_metadata"


def test_404_is_an_http_status_error(server, fetcher):
    with pytest.raises(CimdError) as info:
        fetcher.get(server.url("/missing.json"))

    assert info.value.reason == "http_status"
    assert "404" in str(info.value)
    assert "no such document" not in str(info.value)


def test_redirects_are_not_followed(server, fetcher):
    serve(server, "/elsewhere.json")
    client_id = server.url("/client.json")
    server.routes["/client.json"] = reply(
        b"", status=302, headers={"Location": server.url("/elsewhere.json")}
    )

    assert reason_of(fetcher, client_id) == "http_status"
    assert server.hits("/elsewhere.json") == 0


def test_a_declared_oversize_body_is_refused(server, fetcher):
    client_id = server.url("/client.json")
    padded = document(client_id, client_uri="https://app.example.com/" + "a" * 6000)
    server.routes["/client.json"] = reply(padded)

    assert reason_of(fetcher, client_id) == "too_large"


def test_an_undeclared_oversize_body_is_cut_while_streaming(server, fetcher):
    def endless(handler, release):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")  # body runs to EOF, no length
        handler.end_headers()
        handler.close_connection = True
        for _ in range(200):  # 200 KB unless the client hangs up first
            handler.wfile.write(b" " * 1024)
            handler.wfile.flush()

    server.routes["/client.json"] = endless

    assert reason_of(fetcher, server.url("/client.json")) == "too_large"


def test_a_body_of_exactly_the_limit_is_fine(server, clock):
    fetcher = CimdFetcher(allow_loopback=True, timeout=2.0, clock=clock)
    client_id = server.url("/client.json")
    body = json.dumps(document(client_id)).encode()
    server.routes["/client.json"] = reply(body + b" " * (5 * 1024 - len(body)))

    assert fetcher.get(client_id).client_id == client_id


def trickle_body(handler, release):
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    while not release.wait(0.05):
        handler.wfile.write(b" ")
        handler.wfile.flush()


def trickle_headers(handler, release):
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    while not release.wait(0.05):
        handler.wfile.write(b"X: y\r\n")
        handler.wfile.flush()


@pytest.mark.parametrize("respond", [trickle_body, trickle_headers])
def test_a_trickling_server_is_cut_at_the_deadline(server, clock, respond):
    fetcher = CimdFetcher(allow_loopback=True, timeout=0.5, clock=clock)
    server.routes["/client.json"] = respond

    started = time.monotonic()
    reason = reason_of(fetcher, server.url("/client.json"))
    elapsed = time.monotonic() - started

    assert reason == "timeout"
    assert 0.4 < elapsed < 2.0


def test_a_closed_port_is_a_transport_error(fetcher):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    assert reason_of(fetcher, f"http://127.0.0.1:{port}/client.json") == "transport"


# --- SSRF: refused before any connection ---------------------------------------------


def test_plain_http_is_refused_in_production(server, clock, connects):
    fetcher = CimdFetcher(clock=clock)
    client_id = serve(server)

    assert reason_of(fetcher, client_id) == "unsafe_url"
    assert connects == []
    assert server.connections == 0


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("http://127.0.0.1:{port}/client.json", "unsafe_url"),
        ("https://127.0.0.1:{port}/client.json", "private_address"),
        ("https://localhost:{port}/client.json", "private_address"),  # resolves to loopback
        ("https://2130706433:{port}/client.json", "private_address"),  # 127.0.0.1, as a number
        ("https://[::ffff:127.0.0.1]:{port}/client.json", "private_address"),
        ("https://[::1]/x", "private_address"),
        ("https://10.0.0.1/x", "private_address"),
        ("https://169.254.169.254/latest", "private_address"),
        ("https://100.64.0.1/x", "private_address"),
        ("https://0.0.0.0/x", "private_address"),
    ],
)
def test_non_public_hosts_are_refused_before_connecting(server, clock, connects, template, reason):
    fetcher = CimdFetcher(clock=clock)

    assert reason_of(fetcher, template.format(port=server.port)) == reason
    assert connects == []
    assert server.connections == 0


def test_the_connection_goes_to_the_vetted_address(monkeypatch, server, fetcher, connects):
    """DNS rebinding: a second lookup would answer differently, so there must not be one."""
    answers = iter([["127.0.0.1"]])
    calls = fake_dns(monkeypatch, {"localhost": lambda: next(answers, ["10.66.66.66"])})
    client_id = serve(server).replace("127.0.0.1", "localhost")
    server.routes["/client.json"] = reply(document(client_id))

    doc = fetcher.get(client_id)

    assert doc.client_id == client_id
    assert calls == ["localhost"]
    assert connects == [("127.0.0.1", server.port)]
    assert server.hosts == [f"localhost:{server.port}"]  # Host keeps the name


# --- dev mode opens loopback, and nothing else ---------------------------------------


def test_dev_mode_fetches_a_document_on_loopback(monkeypatch, server, fetcher, connects):
    """Loopback, literal or by name, is what dev mode is for (the fixtures above rely on it)."""
    fake_dns(monkeypatch, {"localhost": lambda: ["127.0.0.1"]})
    by_address = serve(server)
    by_name = server.url("/named.json", host="localhost")
    server.routes["/named.json"] = reply(document(by_name))

    assert fetcher.get(by_address).client_id == by_address
    assert fetcher.get(by_name).client_id == by_name
    assert connects == [("127.0.0.1", server.port)] * 2
