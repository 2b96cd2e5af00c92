"""gistgate/cfn/responses.py and challenge.py: the challenges clients discover us by."""

from __future__ import annotations

import json

import pytest

from gistgate.cfn.responses import build_gateway_responses
from gistgate.core.challenge import bearer_challenge

PRM = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/.well-known/oauth-protected-resource/mcp"


def by_type(required: str = "read:gists") -> dict:
    return {r.response_type: r for r in build_gateway_responses(PRM, required)}


def test_unauthorized_names_the_metadata_and_no_error() -> None:
    # Catalogue case 1: a request without a token gets no error code (RFC 6750 §3.1).
    response = by_type()["UNAUTHORIZED"]
    assert response.status_code == "401"
    assert response.headers["WWW-Authenticate"] == f'Bearer resource_metadata="{PRM}"'


def test_access_denied_is_insufficient_scope_with_the_scopes() -> None:
    # Catalogue case 34: 403 with error="insufficient_scope" and scope=.
    response = by_type("read:gists write:gists")["ACCESS_DENIED"]
    assert response.status_code == "403"
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:gists write:gists", '
        f'resource_metadata="{PRM}"'
    )
    assert json.loads(response.body)["error"] == "insufficient_scope"


def test_authorizer_failure_fails_closed_with_a_retryable_5xx_and_the_challenge() -> None:
    response = by_type()["AUTHORIZER_FAILURE"]
    assert response.status_code == "503"
    assert f'resource_metadata="{PRM}"' in response.headers["WWW-Authenticate"]
    assert json.loads(response.body)["error"] == "temporarily_unavailable"


def test_browser_clients_can_read_the_challenge() -> None:
    for response in build_gateway_responses(PRM):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "WWW-Authenticate" in response.headers["Access-Control-Expose-Headers"]
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_put_kwargs_quote_every_header_as_a_static_value() -> None:
    kwargs = by_type()["UNAUTHORIZED"].as_put_kwargs("api123")
    assert kwargs["restApiId"] == "api123"
    assert all(v.startswith("'") and v.endswith("'") for v in kwargs["responseParameters"].values())


@pytest.mark.parametrize("bad", ['https://x/"y', "https://x/\\y", "https://x/\ny"])
def test_challenge_refuses_values_it_cannot_quote(bad: str) -> None:
    with pytest.raises(ValueError, match="resource_metadata"):
        bearer_challenge(bad)


def test_no_quote_can_break_out_of_the_static_header_value() -> None:
    with pytest.raises(ValueError, match="quote"):
        build_gateway_responses(PRM, allow_origin="https://a.example'")
