"""OAuth errors, one class per RFC 6749 / 7591 / 8707 error code.

Each class carries its HTTP status and its registered ``error`` code, so the
handler maps any of them to a response in one place. Messages are shown to
clients: they are fixed text that may name the parameter at fault, and never
echo what the request sent (nor a secret).
"""

from __future__ import annotations

import re

from gistgate.storage.errors import StorageRejected, StorageUnavailable

__all__ = [
    "InvalidClient",
    "InvalidClientMetadata",
    "InvalidGrant",
    "InvalidRedirectUri",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "NotServed",
    "OAuthError",
    "ServerError",
    "TooManyRequests",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedResponseType",
    "UpstreamLoginFailed",
    "from_storage",
]

# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
_OUTSIDE_CHARSET = re.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")


def safe_description(text: str) -> str:
    """``text`` with every character outside RFC 6749 §5.2's set replaced by ``?``."""
    return _OUTSIDE_CHARSET.sub("?", text)


class OAuthError(Exception):
    """Base: an error answered with ``{"error": code, "error_description": message}``."""

    status = 400
    error = "invalid_request"

    def __init__(self, description: str, *, retry_after: int | None = None) -> None:
        # A safety net: messages are fixed text, but one that slipped through with a
        # quote, a backslash or non-ASCII must still not break the charset.
        description = safe_description(str(description))
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2: 401 with a Basic challenge)."""

    status = 401
    error = "invalid_client"


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707: the ``resource`` is not this server's MCP endpoint."""

    error = "invalid_target"


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2."""

    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2."""

    error = "invalid_client_metadata"


class TooManyRequests(OAuthError):
    """A rate limit; answered 429 with Retry-After."""

    status = 429
    error = "temporarily_unavailable"


class ServerError(OAuthError):
    """Our storage or KMS failed: retryable, and nothing was issued."""

    status = 503
    error = "temporarily_unavailable"


class UpstreamLoginFailed(OAuthError):
    """The upstream identity provider refused or failed the login."""

    status = 502
    error = "server_error"


class NotServed(OAuthError):
    """This deployment's tokens come from an external issuer (AUTH_MODE=jwt/introspection)."""

    status = 404
    error = "invalid_request"


def from_storage(exc: StorageUnavailable | StorageRejected) -> OAuthError:
    """The OAuth answer to a storage failure: retry later, or the request is at fault."""
    if isinstance(exc, StorageRejected):
        return InvalidRequest("a value in this request cannot be stored")
    return ServerError("storage is not answering; try again")
