"""gistgate/oauth/cimd.py's parse_document: what a fetched client metadata document may say,
here its application_type and the redirect URIs that type allows (RFC 8252, OIDC Registration)."""

from __future__ import annotations

from typing import Any

import pytest

from gistgate.oauth.cimd import CimdError, parse_document

CLIENT_ID = "https://app.example.com/client.json"
CURSOR = "cursor://anysphere.cursor-retrieval/oauth/user-gistgate/callback"


def document(**fields: Any) -> dict[str, Any]:
    return {"client_id": CLIENT_ID, "client_name": "App", **fields}


def test_a_native_document_may_use_an_apps_reverse_domain_scheme() -> None:
    doc = parse_document(
        CLIENT_ID, document(application_type="native", redirect_uris=[CURSOR]), fetched_at=0
    )
    assert doc.application_type == "native"
    assert doc.redirect_uris == (CURSOR,)


def test_a_document_that_does_not_say_native_may_not() -> None:
    with pytest.raises(CimdError) as raised:
        parse_document(CLIENT_ID, document(redirect_uris=[CURSOR]), fetched_at=0)
    assert raised.value.reason == "bad_redirect_uris"


def test_a_web_document_uses_https_only() -> None:
    with pytest.raises(CimdError):
        parse_document(
            CLIENT_ID,
            document(application_type="web", redirect_uris=["http://127.0.0.1:9/cb"]),
            fetched_at=0,
        )


@pytest.mark.parametrize(
    ("uris", "inferred"),
    [(["https://chatgpt.com/connector/oauth/cb"], "web"), (["http://127.0.0.1:9/cb"], "native")],
)
def test_an_unnamed_type_is_inferred_and_kept(uris: list[str], inferred: str) -> None:
    assert parse_document(
        CLIENT_ID, document(redirect_uris=uris), fetched_at=0
    ).application_type == (inferred)


@pytest.mark.parametrize("bad", ["browser", "", 1, ["native"]])
def test_an_unknown_type_is_refused(bad: Any) -> None:
    with pytest.raises(CimdError) as raised:
        parse_document(
            CLIENT_ID,
            document(application_type=bad, redirect_uris=["https://a.example/cb"]),
            fetched_at=0,
        )
    assert raised.value.reason == "bad_metadata"
