"""gistgate/oauth/signing.py without KMS: the DER-to-raw signature conversion and the
signer's argument checks. Signing with moto's KMS, and the authorizer verifying the
result, is tests/component/oauth/test_signing.py."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gistgate.oauth.signing import KmsSigner, der_to_raw


def test_der_to_raw_left_pads_short_integers() -> None:
    raw = der_to_raw(encode_dss_signature(1, 2**255 + 7))
    assert raw == (1).to_bytes(32, "big") + (2**255 + 7).to_bytes(32, "big")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        KmsSigner("alias/one")  # type: ignore[arg-type]
    for ids in [(), ("a", "b", "c"), ("",)]:
        with pytest.raises(ValueError, match="one or two non-empty KMS key ids"):
            KmsSigner(ids)
