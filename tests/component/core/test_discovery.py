"""gistgate/core/discovery.py against the IdP fixture over HTTP: exact issuer match, jwks_uri
check, caching. The candidate URLs are tests/unit/core/test_discovery.py."""

from __future__ import annotations

import pytest

from gistgate.core.discovery import (
    METADATA_MAX_BYTES,
    METADATA_STALE_FOR,
    METADATA_TTL,
    Discovery,
    fetch_metadata,
)
from gistgate.core.fetch import FetchError
from tests.fixtures.clock import T0, FakeClock

AS_PATH = "/.well-known/oauth-authorization-server"
OIDC_PATH = "/.well-known/openid-configuration"


def not_found(idp, path):
    idp.server.expect_request(path).respond_with_data("not found", status=404)


def document(issuer, **extra):
    return {"issuer": issuer, "jwks_uri": f"{issuer}/jwks.json", **extra}


def test_fetch_metadata_takes_the_first_document_whose_issuer_matches(idp):
    issuer = f"{idp.issuer}/tenant"
    not_found(idp, f"{AS_PATH}/tenant")
    idp.serve_metadata(f"{OIDC_PATH}/tenant", document(issuer, source="second"))
    idp.serve_metadata(f"/tenant{OIDC_PATH}", document(issuer, source="third"))

    assert fetch_metadata(issuer)["source"] == "second"
    assert [request.path for request, _ in idp.server.log] == [
        f"{AS_PATH}/tenant",
        f"{OIDC_PATH}/tenant",
    ]


def test_fetch_metadata_at_the_root_prefers_rfc8414(idp):
    idp.serve_metadata(AS_PATH, document(idp.issuer, source="rfc8414"))
    idp.serve_metadata(OIDC_PATH, document(idp.issuer, source="oidc"))

    assert fetch_metadata(idp.issuer)["source"] == "rfc8414"
    assert idp.hits(OIDC_PATH) == 0


def test_a_mismatched_document_is_skipped_for_a_matching_one(idp):
    idp.serve_metadata(AS_PATH, document(idp.issuer + "/"))
    idp.serve_metadata(OIDC_PATH, document(idp.issuer, source="oidc"))

    assert fetch_metadata(idp.issuer)["source"] == "oidc"


@pytest.mark.parametrize(
    "served",
    [
        pytest.param("{issuer}/", id="trailing-slash"),
        pytest.param("{upper}", id="case"),
        pytest.param("{https}", id="scheme"),
        pytest.param("{issuer}/other", id="path"),
    ],
)
def test_issuer_mismatch_is_rejected(idp, served):
    issuer = idp.issuer
    wrong = served.format(
        issuer=issuer, upper=issuer.upper(), https=issuer.replace("http://", "https://")
    )
    assert wrong != issuer
    idp.serve_metadata(AS_PATH, document(wrong))
    idp.serve_metadata(OIDC_PATH, document(wrong))

    with pytest.raises(FetchError) as caught:
        fetch_metadata(issuer)

    assert caught.value.reason == "issuer_mismatch"


@pytest.mark.parametrize("body", [[], "issuer", {"keys": []}])
def test_a_document_that_is_not_metadata_is_rejected(idp, body):
    idp.server.expect_request(AS_PATH).respond_with_json(body)
    idp.server.expect_request(OIDC_PATH).respond_with_json(body)

    with pytest.raises(FetchError, match="issuer_mismatch"):
        fetch_metadata(idp.issuer)


def test_no_metadata_anywhere_raises_the_last_error(idp):
    not_found(idp, AS_PATH)
    not_found(idp, OIDC_PATH)

    with pytest.raises(FetchError) as caught:
        fetch_metadata(idp.issuer)

    assert caught.value.reason == "http_status"


def test_oversized_metadata_is_rejected(idp):
    not_found(idp, AS_PATH)
    idp.serve_metadata(OIDC_PATH, document(idp.issuer, pad="x" * METADATA_MAX_BYTES))

    with pytest.raises(FetchError, match="too_large"):
        fetch_metadata(idp.issuer)


def test_jwks_uri_is_returned_when_safe(idp):
    idp.serve_metadata(AS_PATH, document(idp.issuer))

    assert Discovery().jwks_uri(idp.issuer) == idp.jwks_uri


def test_jwks_uri_over_https_is_accepted(idp):
    idp.serve_metadata(AS_PATH, {"issuer": idp.issuer, "jwks_uri": "https://keys.example.com/k"})

    assert Discovery().jwks_uri(idp.issuer) == "https://keys.example.com/k"


@pytest.mark.parametrize(
    "jwks_uri",
    ["http://keys.example.com/jwks.json", "http://169.254.169.254/", "file:///etc/passwd"],
)
def test_jwks_uri_that_is_http_off_loopback_is_rejected(idp, jwks_uri):
    idp.serve_metadata(AS_PATH, {"issuer": idp.issuer, "jwks_uri": jwks_uri})

    with pytest.raises(FetchError) as caught:
        Discovery().jwks_uri(idp.issuer)

    assert caught.value.reason == "unsafe_url"


@pytest.mark.parametrize("jwks_uri", [None, 42, ["https://keys.example.com/k"]])
def test_missing_or_non_string_jwks_uri_is_rejected(idp, jwks_uri):
    idp.serve_metadata(AS_PATH, {"issuer": idp.issuer, "jwks_uri": jwks_uri})

    with pytest.raises(FetchError) as caught:
        Discovery().jwks_uri(idp.issuer)

    assert caught.value.reason == "no_jwks_uri"


def test_metadata_is_fetched_once_for_many_calls(idp):
    idp.serve_metadata(AS_PATH, document(idp.issuer))
    discovery = Discovery(clock=FakeClock())

    for _ in range(10):
        assert discovery.metadata(idp.issuer)["issuer"] == idp.issuer
        assert discovery.jwks_uri(idp.issuer) == idp.jwks_uri

    assert idp.hits(AS_PATH) == 1


def test_metadata_is_refreshed_after_the_ttl(idp):
    idp.serve_metadata(AS_PATH, document(idp.issuer))
    clock = FakeClock()
    discovery = Discovery(clock=clock)
    discovery.metadata(idp.issuer)

    clock.advance(METADATA_TTL - 1)
    discovery.metadata(idp.issuer)
    assert idp.hits(AS_PATH) == 1

    clock.advance(1)
    discovery.metadata(idp.issuer)
    assert idp.hits(AS_PATH) == 2


def test_stale_metadata_is_served_while_the_issuer_is_down(idp):
    idp.serve_metadata(AS_PATH, document(idp.issuer))
    clock = FakeClock()
    discovery = Discovery(clock=clock)
    discovery.metadata(idp.issuer)
    idp.server.clear_all_handlers()
    not_found(idp, AS_PATH)
    not_found(idp, OIDC_PATH)

    clock.advance(METADATA_TTL)
    assert discovery.jwks_uri(idp.issuer) == idp.jwks_uri

    clock.now = T0 + METADATA_STALE_FOR
    with pytest.raises(FetchError):
        discovery.metadata(idp.issuer)


def test_clear_forgets_documents(idp):
    idp.serve_metadata(AS_PATH, document(idp.issuer))
    discovery = Discovery(clock=FakeClock())
    discovery.metadata(idp.issuer)

    discovery.clear()
    discovery.metadata(idp.issuer)

    assert idp.hits(AS_PATH) == 2
