"""API Gateway REQUEST authorizer: validates the bearer token, fails closed.

Built once per cold start (settings, key caches warmed); each invocation is
one call. See gistgate.authorizer.service for the outcomes.
"""

from __future__ import annotations

from typing import Any

from gistgate.authorizer.service import build_authorizer

AUTHORIZER = build_authorizer()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Allow/Deny policy, or raise ``Exception("Unauthorized")``."""
    return AUTHORIZER.handle(event)
