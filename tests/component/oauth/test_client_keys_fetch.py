"""A client's jwks_uri served over HTTP on 127.0.0.1 (gistgate/oauth/client_keys.py with
the fenced fetch of gistgate/oauth/untrusted_fetch.py): caching and max-age, the
unknown-kid refetch and its cooldown, the size and time budget, no redirects, the SSRF
fence outside dev mode, and a whole private_key_jwt assertion verified against it. The
key rules and the cache logic with a fake fetch are tests/unit/oauth/test_client_keys.py."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWS
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gistgate.oauth.client_assertion import (
    CLIENT_ASSERTION_TYPE,
    AssertionRejected,
    ClientAssertionVerifier,
)
from gistgate.oauth.client_keys import ClientKeyResolver, ClientKeysError, JwksUnavailable
from tests.fixtures.cimd import record_connects
from tests.fixtures.clock import FakeClock
from tests.fixtures.counting_server import CountingServer, reply


class JwksServer(CountingServer):
    """A client's jwks_uri host; its 404 carries a marker no error message may echo."""

    def __init__(self) -> None:
        super().__init__(
            default_path="/jwks.json", not_found=b'{"error": "SECRET-MARKER no such set"}'
        )


class Key:
    def __init__(self, private: Any, kid: str) -> None:
        self.private = private
        self.kid = kid
        public = private.public_key()
        to_jwk = RSAAlgorithm.to_jwk if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm.to_jwk
        self.jwk: dict[str, Any] = {**to_jwk(public, as_dict=True), "kid": kid}


@pytest.fixture(scope="module")
def rsa_key() -> Key:
    return Key(rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> Key:
    return Key(ec.generate_private_key(ec.SECP256R1()), "ec-1")


@pytest.fixture
def server() -> Iterator[JwksServer]:
    srv = JwksServer()
    yield srv
    srv.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def resolver(clock: FakeClock) -> ClientKeyResolver:
    """Dev mode: the test server is plain http on loopback."""
    return ClientKeyResolver(allow_loopback=True, timeout=2.0, clock=clock)


def failure(
    resolver: ClientKeyResolver, url: str, kid: str | None = "rsa-1", alg: str = "RS256"
) -> ClientKeysError:
    with pytest.raises(ClientKeysError) as info:
        resolver.key_for(kid=kid, alg=alg, jwks_uri=url)
    assert "SECRET-MARKER" not in str(info.value)
    return info.value


# --- fetching and caching ---------------------------------------------------------------


def test_the_set_is_fetched_and_cached_for_five_minutes(server, resolver, clock, rsa_key, ec_key):
    server.routes["/jwks.json"] = reply({"keys": [rsa_key.jwk, ec_key.jwk]})

    assert resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=server.url()).kid == "rsa-1"
    clock.advance(299)
    assert resolver.key_for(kid="ec-1", alg="ES256", jwks_uri=server.url()).kid == "ec-1"
    assert server.hits() == 1

    clock.advance(2)
    resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=server.url())
    assert server.hits() == 2


@pytest.mark.parametrize(
    ("cache_control", "still_cached", "refetched"),
    [
        ("public, max-age=3600", 3599, 3601),
        ("max-age=999999999", 86399, 86401),  # capped at 24 h
        ("no-store", 29, 31),  # at least 30 s: one fetch per window
    ],
)
def test_cache_control_max_age_is_respected(
    server, resolver, clock, rsa_key, cache_control, still_cached, refetched
):
    server.routes["/jwks.json"] = reply(
        {"keys": [rsa_key.jwk]}, headers={"Cache-Control": cache_control}
    )

    resolver.key_set(server.url())
    clock.advance(still_cached)
    resolver.key_set(server.url())
    assert server.hits() == 1
    clock.advance(refetched - still_cached)
    resolver.key_set(server.url())
    assert server.hits() == 2


def test_failures_are_cached_briefly(server, resolver, clock, rsa_key):
    assert failure(resolver, server.url()).reason == "http_status"  # nothing served yet
    server.routes["/jwks.json"] = reply({"keys": [rsa_key.jwk]})
    clock.advance(29)
    assert failure(resolver, server.url()).reason == "http_status"
    assert server.hits() == 1

    clock.advance(2)
    assert resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=server.url()).kid == "rsa-1"
    assert server.hits() == 2


def test_an_unknown_kid_refetches_once_per_cooldown(server, resolver, clock, rsa_key, ec_key):
    server.routes["/jwks.json"] = reply({"keys": [rsa_key.jwk]})
    resolver.key_set(server.url())
    clock.advance(10)

    assert failure(resolver, server.url(), kid="ec-1", alg="ES256").reason == "unknown_kid"
    assert server.hits() == 2  # refetched at once
    for kid in ("ec-1", "junk-1", "junk-2", "junk-3"):
        clock.advance(1)
        assert failure(resolver, server.url(), kid=kid, alg="ES256").reason == "unknown_kid"
    assert server.hits() == 2  # a storm of kids costs nothing within the cooldown

    server.routes["/jwks.json"] = reply({"keys": [rsa_key.jwk, ec_key.jwk]})  # rotated in
    clock.advance(56)
    assert resolver.key_for(kid="ec-1", alg="ES256", jwks_uri=server.url()).kid == "ec-1"
    assert server.hits() == 3


# --- the budget and the response --------------------------------------------------------


def test_a_server_that_does_not_answer_times_out(server, clock, rsa_key):
    def stall(handler: BaseHTTPRequestHandler, release: threading.Event) -> None:
        release.wait(10)

    server.routes["/jwks.json"] = stall
    resolver = ClientKeyResolver(allow_loopback=True, timeout=0.5, clock=clock)

    started = time.monotonic()
    error = failure(resolver, server.url())
    elapsed = time.monotonic() - started

    assert isinstance(error, JwksUnavailable)
    assert error.reason == "timeout"
    assert 0.4 < elapsed < 2.0


def test_a_trickling_body_is_cut_at_the_deadline(server, clock):
    def trickle(handler: BaseHTTPRequestHandler, release: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "4000")
        handler.end_headers()
        while not release.wait(0.05):
            handler.wfile.write(b" ")
            handler.wfile.flush()

    server.routes["/jwks.json"] = trickle
    resolver = ClientKeyResolver(allow_loopback=True, timeout=0.5, clock=clock)

    started = time.monotonic()
    assert failure(resolver, server.url()).reason == "timeout"
    assert time.monotonic() - started < 2.0


def test_a_declared_oversize_set_is_refused(server, resolver, rsa_key):
    server.routes["/jwks.json"] = reply({"keys": [rsa_key.jwk], "padding": "a" * 16 * 1024})

    error = failure(resolver, server.url())
    assert error.reason == "too_large"
    assert error.message == "The client's JWK Set is larger than 16 KB."


def test_an_undeclared_oversize_set_is_cut_while_streaming(server, resolver):
    def endless(handler: BaseHTTPRequestHandler, release: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")  # body runs to EOF, no length
        handler.end_headers()
        handler.close_connection = True
        for _ in range(200):  # 200 KB unless the client hangs up first
            handler.wfile.write(b" " * 1024)
            handler.wfile.flush()

    server.routes["/jwks.json"] = endless

    assert failure(resolver, server.url()).reason == "too_large"


def test_a_set_of_exactly_16_kb_is_fine(server, resolver, rsa_key):
    body = json.dumps({"keys": [rsa_key.jwk]}).encode()
    server.routes["/jwks.json"] = reply(body + b" " * (16 * 1024 - len(body)))

    assert resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=server.url()).kid == "rsa-1"


def test_a_redirect_is_not_followed(server, resolver, rsa_key):
    server.routes["/elsewhere.json"] = reply({"keys": [rsa_key.jwk]})
    server.routes["/jwks.json"] = reply(
        b"", status=302, headers={"Location": server.url("/elsewhere.json")}
    )

    error = failure(resolver, server.url())

    assert error.reason == "http_status"
    assert (
        error.message == "Fetching the client's JWK Set gave HTTP 302 (redirects are not followed)."
    )
    assert server.hits("/elsewhere.json") == 0


@pytest.mark.parametrize(
    "body",
    [
        b"<html>SECRET-MARKER</html>",
        b'{"keys": [], "keys": []}',
        b"\xff\xfe{}",
        b"[" * 100 + b"]" * 100,
    ],
)
def test_a_body_that_is_not_strict_json_is_refused_without_echoing_it(server, resolver, body):
    server.routes["/jwks.json"] = reply(body)

    error = failure(resolver, server.url())
    assert error.reason == "not_json"
    assert error.message == "The client's JWK Set is not JSON."


def test_a_set_with_a_private_key_is_refused(server, resolver, rsa_key):
    leaked = RSAAlgorithm.to_jwk(rsa_key.private, as_dict=True)
    server.routes["/jwks.json"] = reply({"keys": [leaked]})

    assert failure(resolver, server.url()).reason == "private_key"


# --- the SSRF fence outside dev mode ----------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "host", "reason"),
    [
        ("http", "127.0.0.1", "unsafe_url"),  # plain http: dev mode only
        ("https", "127.0.0.1", "private_address"),
        ("https", "localhost", "private_address"),  # resolves to loopback
        ("https", "[::ffff:127.0.0.1]", "private_address"),
        ("https", "2130706433", "private_address"),  # 127.0.0.1 as a number
    ],
)
def test_private_addresses_are_refused_before_connecting(
    monkeypatch, server, clock, rsa_key, scheme, host, reason
):
    server.routes["/jwks.json"] = reply({"keys": [rsa_key.jwk]})
    connects = record_connects(monkeypatch)
    resolver = ClientKeyResolver(clock=clock)

    error = failure(resolver, server.url(host=host, scheme=scheme))

    assert isinstance(error, JwksUnavailable)
    assert error.reason == reason
    assert connects == []
    assert server.connections == 0


def test_a_closed_port_is_a_transport_error(resolver):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    assert failure(resolver, f"http://127.0.0.1:{port}/jwks.json").reason == "transport"


# --- a whole assertion against a jwks_uri -----------------------------------------------


class MemoryJtiStore:
    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def use_once(self, client_id: str, jti: str, *, until: float) -> bool:
        if (client_id, jti) in self.seen:
            return False
        self.seen.add((client_id, jti))
        return True


def test_an_assertion_verifies_with_a_key_from_the_jwks_uri(server, rsa_key, ec_key):
    client_id = server.url("/client.json")
    server.routes["/jwks.json"] = reply({"keys": [rsa_key.jwk]})
    verifier = ClientAssertionVerifier(ClientKeyResolver(allow_loopback=True), MemoryJtiStore())
    token_endpoint = "https://as.example.com/oauth/token"

    def assertion(key: Key, alg: str) -> str:
        now = int(time.time())
        body = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_endpoint,
            "iat": now,
            "exp": now + 60,
        }
        payload = json.dumps({**body, "jti": uuid.uuid4().hex}).encode()
        return PyJWS().encode(payload, key.private, algorithm=alg, headers={"kid": key.kid})

    def verify(token: str) -> Any:
        return verifier.verify(
            CLIENT_ASSERTION_TYPE,
            token,
            client_id=client_id,
            audiences=[token_endpoint],
            jwks_uri=server.url(),
            signing_alg=None,
        )

    assert verify(assertion(rsa_key, "PS256")).kid == "rsa-1"

    # the client rotates in an EC key: the first assertion signed with it refetches
    server.routes["/jwks.json"] = reply({"keys": [rsa_key.jwk, ec_key.jwk]})
    assert verify(assertion(ec_key, "ES256")).kid == "ec-1"
    assert server.hits() == 2

    server.routes["/jwks.json"] = reply(b"", status=500)
    verifier_elsewhere = ClientAssertionVerifier(
        ClientKeyResolver(allow_loopback=True), MemoryJtiStore()
    )
    with pytest.raises(AssertionRejected) as info:
        verifier_elsewhere.verify(
            CLIENT_ASSERTION_TYPE,
            assertion(rsa_key, "RS256"),
            client_id=client_id,
            audiences=[token_endpoint],
            jwks_uri=server.url(),
        )
    assert info.value.reason == "keys_unavailable"
