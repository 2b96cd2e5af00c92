"""The authorizer's answer: a whole-API IAM policy plus string-only context.

API Gateway caches the policy by identity source (the token) for the whole
API, so it must cover every route and method: a policy for ``methodArn`` alone
would be reused, and deny, on every other route (aws-pitfalls.md).
"""

from __future__ import annotations

import re
from typing import Any

from gistgate.tokens.principal import Principal

__all__ = ["CHALLENGE_KEY", "BadMethodArn", "api_wide_resource", "policy_response"]

MAX_RESOURCE_ARN = 512
_API_ID = re.compile(r"[A-Za-z0-9]+")
_STAGE = re.compile(r"[A-Za-z0-9_\-$]+")


class BadMethodArn(ValueError):
    """The event's methodArn is not an execute-api method ARN."""


_resources: dict[str, str] = {}


def api_wide_resource(method_arn: Any) -> str:
    """``arn:…:execute-api:region:account:apiId/stage/*/*`` from a method ARN (memoised:
    an API has a handful of routes)."""
    known = _resources.get(method_arn) if isinstance(method_arn, str) else None
    if known is not None:
        return known
    resource = _api_wide_resource(method_arn)
    if len(_resources) < 256:
        _resources[method_arn] = resource
    return resource


def _api_wide_resource(method_arn: Any) -> str:
    if not isinstance(method_arn, str):
        raise BadMethodArn("methodArn missing")
    parts = method_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
        raise BadMethodArn("not an execute-api ARN")
    path = parts[5].split("/")
    if len(path) < 2 or not _API_ID.fullmatch(path[0]) or not _STAGE.fullmatch(path[1]):
        raise BadMethodArn("no api id and stage")
    resource = ":".join(parts[:5]) + f":{path[0]}/{path[1]}/*/*"
    if len(resource) > MAX_RESOURCE_ARN:
        raise BadMethodArn("resource ARN too long")
    return resource


# The Deny context key the ACCESS_DENIED gateway response maps, whole, onto
# WWW-Authenticate (gistgate.cfn.responses; docs/step-up.md).
CHALLENGE_KEY = "www_authenticate"


def context_of(principal: Principal) -> dict[str, str]:
    """What the MCP function receives in ``requestContext.authorizer`` (strings only)."""
    return {
        "sub": principal.sub,
        "client_id": principal.client_id,
        "scope": principal.scope,
        "iss": principal.issuer,
        "exp": str(principal.expires_at),
        "token_kind": principal.token_kind,
    }


def policy_response(
    principal: Principal, effect: str, resource: str, *, challenge: str | None = None
) -> dict[str, Any]:
    """The authorizer output for ``effect`` (Allow or Deny) over ``resource``.

    A Deny carries its ``challenge`` in the context, where the gateway response reads it.
    """
    context = context_of(principal)
    if challenge is not None:
        context[CHALLENGE_KEY] = challenge
    return {
        "principalId": principal.sub,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }
