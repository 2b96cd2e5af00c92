"""A ``private_key_jwt`` client's key metadata, from a registration or a metadata document.

RFC 7591 §2 and OpenID Connect Registration: the client names its public keys by
``jwks_uri`` (fetched when an assertion needs them, through the fenced fetcher) or
by value in ``jwks``, never both, and may pin ``token_endpoint_auth_signing_alg``.
One check for DCR and CIMD, so the two paths accept the same clients. A client
that does not use ``private_key_jwt`` keeps no keys (anything it sent is dropped).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from gistgate.oauth.client_keys import ALGORITHMS, ClientKeysError, parse_jwks
from gistgate.oauth.errors import InvalidClientMetadata
from gistgate.oauth.untrusted_fetch import UntrustedFetchError, check_untrusted_url

__all__ = ["PRIVATE_KEY_JWT", "KeyMetadata", "key_metadata"]

PRIVATE_KEY_JWT = "private_key_jwt"


class KeyMetadata(NamedTuple):
    """What is kept of a client's keys: the URI, or the JWK Set as JSON text."""

    jwks_uri: str | None = None
    jwks: str | None = None
    signing_alg: str | None = None

    def jwks_document(self) -> dict[str, Any] | None:
        """The inline JWK Set as the key resolver takes it."""
        if self.jwks is None:
            return None
        document: dict[str, Any] = json.loads(self.jwks)
        return document


def key_metadata(
    data: Mapping[str, Any], method: str, *, allow_loopback: bool = False
) -> KeyMetadata:
    """The keys ``data`` names for ``method``; :class:`InvalidClientMetadata` (fixed text,
    never what was sent) when they are unusable."""
    if method != PRIVATE_KEY_JWT:
        return KeyMetadata()
    jwks_uri, jwks = data.get("jwks_uri"), data.get("jwks")
    if (jwks_uri is None) == (jwks is None):
        raise InvalidClientMetadata("private_key_jwt needs exactly one of jwks_uri and jwks")
    alg = data.get("token_endpoint_auth_signing_alg")
    if alg is not None and alg not in ALGORITHMS:
        raise InvalidClientMetadata(
            f"token_endpoint_auth_signing_alg must be one of {', '.join(ALGORITHMS)}"
        )
    if jwks_uri is not None:
        try:
            check_untrusted_url(jwks_uri, allow_loopback=allow_loopback, url_name="jwks_uri")
        except UntrustedFetchError:
            raise InvalidClientMetadata(
                "jwks_uri must be an https URL of a public host, with no credentials or fragment"
            ) from None
        return KeyMetadata(jwks_uri=jwks_uri, signing_alg=alg)
    try:
        parse_jwks(jwks)
    except ClientKeysError:
        raise InvalidClientMetadata(
            "jwks must be a JWK Set with an RSA (2048 bits or more) or EC P-256 public "
            "signing key, and no private or symmetric key"
        ) from None
    return KeyMetadata(jwks=json.dumps(jwks, separators=(",", ":")), signing_alg=alg)
