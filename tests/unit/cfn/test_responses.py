"""gistgate/cfn/responses.py and challenge.py: the challenges clients discover us by."""

from __future__ import annotations

import json

import pytest

from gistgate.cfn.responses import DENY_CHALLENGE_SOURCE, build_gateway_responses
from gistgate.core.challenge import bearer_challenge

PRM = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/.well-known/oauth-protected-resource/mcp"


def by_type(required: str = "", default: str = "") -> dict:
    return {r.response_type: r for r in build_gateway_responses(PRM, required, "*", default)}


def test_unauthorized_names_the_metadata_and_no_error() -> None:
    # Catalogue case 1: a request without a token gets no error code (RFC 6750 §3.1).
    response = by_type()["UNAUTHORIZED"]
    assert response.status_code == "401"
    assert response.headers["WWW-Authenticate"] == f'Bearer resource_metadata="{PRM}"'


def test_unauthorized_suggests_the_default_scopes_and_the_required_ones_first() -> None:
    # MCP authorization: the 401 SHOULD carry the scopes a client should ask for.
    response = by_type("admin:server", "read:gists write:gists admin:server")["UNAUTHORIZED"]
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer scope="admin:server read:gists write:gists", resource_metadata="{PRM}"'
    )


def test_access_denied_takes_its_whole_challenge_from_the_authorizer_context() -> None:
    # Catalogue case 34: the 403's scopes depend on the tool called, so the authorizer
    # writes the header value and the response maps it (not a static value).
    response = by_type("read:gists write:gists")["ACCESS_DENIED"]
    assert response.status_code == "403"
    assert "WWW-Authenticate" not in response.headers
    assert response.mapped == {"WWW-Authenticate": "context.authorizer.www_authenticate"}
    put = response.as_put_kwargs("api123")["responseParameters"]
    assert put["gatewayresponse.header.WWW-Authenticate"] == DENY_CHALLENGE_SOURCE
    assert json.loads(response.body)["error"] == "insufficient_scope"


@pytest.mark.parametrize("kind", ["AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"])
def test_an_authorizer_that_did_not_decide_fails_closed_with_a_retryable_503(kind) -> None:
    # An authorizer that raises (keys or introspection unreachable) is answered by API
    # Gateway as AUTHORIZER_CONFIGURATION_ERROR: the retryable 503, never a bare 500.
    response = by_type()[kind]
    assert response.status_code == "503"
    assert f'resource_metadata="{PRM}"' in response.headers["WWW-Authenticate"]
    assert json.loads(response.body)["error"] == "temporarily_unavailable"


def test_browser_clients_can_read_the_challenge() -> None:
    for response in build_gateway_responses(PRM):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "WWW-Authenticate" in response.headers["Access-Control-Expose-Headers"]
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_put_kwargs_quote_every_static_header_value() -> None:
    kwargs = by_type()["UNAUTHORIZED"].as_put_kwargs("api123")
    assert kwargs["restApiId"] == "api123"
    assert all(v.startswith("'") and v.endswith("'") for v in kwargs["responseParameters"].values())


def test_browsers_may_send_the_2026_request_headers() -> None:
    allowed = by_type()["UNAUTHORIZED"].headers["Access-Control-Allow-Headers"].split(",")
    assert {"Mcp-Method", "Mcp-Name", "Mcp-Protocol-Version", "Authorization"} <= set(allowed)


@pytest.mark.parametrize("bad", ['https://x/"y', "https://x/\\y", "https://x/\ny"])
def test_challenge_refuses_values_it_cannot_quote(bad: str) -> None:
    with pytest.raises(ValueError, match="resource_metadata"):
        bearer_challenge(bad)


def test_no_quote_can_break_out_of_the_static_header_value() -> None:
    with pytest.raises(ValueError, match="quote"):
        build_gateway_responses(PRM, allow_origin="https://a.example'")
