"""gistgate/tokens/jwks.py without a network: a JWKS URL the fence refuses is never fetched.
Fetching, caching and key selection against the IdP fixture over HTTP are
tests/component/tokens/test_jwks.py."""

from __future__ import annotations

import pytest

from gistgate.tokens.errors import VerifierUnavailable
from gistgate.tokens.jwks import JwksCache
from tests.fixtures.clock import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def cache(clock):
    return JwksCache(clock=clock)


def test_plain_http_jwks_uri_off_loopback_is_never_fetched(cache, keyring):
    with pytest.raises(VerifierUnavailable, match="unsafe_url"):
        cache.key_for("http://192.0.2.1/jwks.json", keyring.rsa.kid, "RS256")


def test_a_failed_prefetch_is_not_held_against_the_first_request(clock, keyring):
    # At a stack's first start the issuer may be too slow for the cold-start prefetch; the
    # first request must fetch again at once, not sit out a backoff window refusing tokens.
    from gistgate.core.fetch import FetchError
    from gistgate.tokens.keys import KeySet

    calls: list[str] = []

    def fetch(uri: str) -> KeySet:
        calls.append(uri)
        if len(calls) == 1:
            raise FetchError("timeout", "the issuer was still starting")
        return KeySet.from_document(keyring.jwks())

    cache = JwksCache(fetch, clock=clock)
    assert cache.prefetch("https://as.example/jwks.json") is False

    key = cache.key_for("https://as.example/jwks.json", keyring.rsa.kid, "RS256")

    assert key is not None
    assert len(calls) == 2


def test_a_failure_on_use_still_backs_off(clock):
    from gistgate.core.fetch import FetchError

    calls: list[str] = []

    def fetch(uri: str):
        calls.append(uri)
        raise FetchError("timeout", "down")

    cache = JwksCache(fetch, clock=clock)
    for _ in range(3):
        with pytest.raises(VerifierUnavailable):
            cache.key_for("https://as.example/jwks.json", "k", "RS256")
    assert len(calls) == 1  # one timeout per backoff window, not one per request
