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
