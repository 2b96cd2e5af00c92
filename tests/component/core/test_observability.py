"""gistgate/core/observability.py through the real authorizer (its JWKS from the IdP
fixture over HTTP): whatever the decision, its log line carries the token's fingerprint
and never the token. The formatter and the EMF record are
tests/unit/core/test_observability.py."""

from __future__ import annotations

import contextlib
import json

import pytest

from gistgate.core.observability import fingerprint
from tests.fixtures.events import authorizer_event
from tests.fixtures.tokens import claims


def lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    ("env", "mutate"),
    [
        ({}, lambda token: token),  # allow
        ({"OAUTH_REQUIRED_SCOPES": "admin:server"}, lambda token: token),  # deny
        ({}, lambda token: token[:-4] + "AAAA"),  # bad signature
        ({}, lambda token: token + "." + token),  # malformed
    ],
)
def test_no_decision_line_contains_the_token(
    env, mutate, keyring, idp, make_authorizer, log_output
) -> None:
    authorizer = make_authorizer(**env)
    token = mutate(keyring.rsa.sign(claims(idp.issuer)))
    with contextlib.suppress(Exception):
        authorizer.handle(authorizer_event(f"Bearer {token}"))
    out = log_output.getvalue()
    (entry,) = [e for e in lines(out) if e["message"] == "authorizer decision"]
    assert entry["token_fp"] == fingerprint(token)
    for part in {token, *token.split(".")}:
        if len(part) >= 16:
            assert part not in out
