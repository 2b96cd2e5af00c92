"""RFC 6750 ``WWW-Authenticate: Bearer`` challenges, built in one place.

The gateway responses, the MCP function's defence-in-depth 401 and the tests
all format challenges here, so the parameter order and quoting never drift.
"""

from __future__ import annotations

import re

__all__ = ["bearer_challenge"]

# quoted-string content we emit: visible ASCII without '"' and '\' (RFC 7230 qdtext subset)
_QDTEXT = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")


def _quoted(name: str, value: str) -> str:
    if not _QDTEXT.match(value):
        raise ValueError(f"challenge parameter {name} has characters that cannot be quoted")
    return f'{name}="{value}"'


def bearer_challenge(
    resource_metadata: str,
    *,
    error: str | None = None,
    scope: str | None = None,
    error_description: str | None = None,
) -> str:
    """``Bearer [error=…, ][scope=…, ][error_description=…, ]resource_metadata=…``.

    With no ``error`` this is the RFC 6750 §3 challenge for a request that sent
    no credentials: it names where to discover the authorization server.
    """
    params = []
    if error:
        params.append(_quoted("error", error))
    if scope:
        params.append(_quoted("scope", scope))
    if error_description:
        params.append(_quoted("error_description", error_description))
    params.append(_quoted("resource_metadata", resource_metadata))
    return "Bearer " + ", ".join(params)
