"""gistgate/tokens/keys.py: a KeySet from a JWKS document, and what it leaves out. The
same rules applied to a JWKS fetched over HTTP are tests/component/tokens/test_jwks.py."""

from __future__ import annotations

import pytest

from gistgate.tokens.keys import KeySet


@pytest.mark.parametrize(
    "document",
    [None, [], "keys", 42, {}, {"keys": None}, {"keys": {}}, {"keys": "abc"}, {"jwks": []}],
)
def test_keyset_from_a_non_jwks_document_raises_value_error(document):
    with pytest.raises(ValueError, match="not a JWKS document"):
        KeySet.from_document(document)


def test_keyset_skips_malformed_members(keyring):
    document = {
        "keys": [
            "not-an-object",
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            {**keyring.rsa.jwk, "kid": 7},
            {**keyring.rsa.jwk, "kid": "hs", "alg": "HS256"},
            keyring.ec.jwk,
        ]
    }

    assert [key.kid for key in KeySet.from_document(document).keys] == [keyring.ec.kid]
