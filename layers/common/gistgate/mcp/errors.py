"""Every failure a tool can meet, mapped once to an outcome code and a user message.

The outcome code goes to the audit line and the error metric; the message
goes to the caller as an MCP tool result with ``isError: true``. Messages tell
the user what to do; none of them carries a token (the exceptions mapped here
never hold one).
"""

from __future__ import annotations

from typing import NamedTuple

from gistgate.mcp.credentials import (
    CredentialError,
    NotConnected,
    ReconnectRequired,
    ServiceCredentialUnavailable,
)
from gistgate.mcp.gists import GistNotFound, InvalidArgument, NotOwner
from gistgate.mcp.github import (
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnauthorized,
    GitHubUnavailable,
    GitHubValidation,
)
from gistgate.mcp.ownership import BadCursor
from gistgate.storage.errors import StorageRejected, StorageUnavailable
from gistgate.storage.ratelimit import RateLimited
from gistgate.storage.vault import GrantUndecryptable

__all__ = ["Failure", "MissingScope", "NotConfigured", "describe"]


class ToolRefusal(Exception):
    """A refusal decided by the tools layer itself (scope, configuration)."""

    outcome = "refused"


class MissingScope(ToolRefusal):
    """The token lacks the tool's scope."""

    outcome = "insufficient_scope"


class NotConfigured(ToolRefusal):
    """The deployment does not offer this feature."""

    outcome = "not_configured"


class Failure(NamedTuple):
    """How one exception is reported."""

    outcome: str
    message: str
    github_status: int | None = None


def describe(exc: BaseException) -> Failure | None:
    """The report for an expected failure, or None for an unexpected one."""
    status = exc.status if isinstance(exc, GitHubError) else None
    match exc:
        case ToolRefusal():
            return Failure(exc.outcome, str(exc))
        case InvalidArgument() | BadCursor():
            return Failure("invalid_argument", f"Invalid argument: {exc}")
        case RateLimited():
            return Failure(
                "rate_limited",
                f"Rate limit reached for your account; retry after {exc.retry_after} s.",
            )
        case NotOwner():
            return Failure("not_owner", f"Not allowed: {exc}.")
        case GistNotFound() | GitHubNotFound():
            return Failure("not_found", f"Not found: {exc}.", status)
        case NotConnected():
            return Failure("not_connected", f"GitHub not connected: {exc}.")
        case ReconnectRequired():
            return Failure("reconnect_required", f"GitHub authorization lost: {exc}.", 401)
        case ServiceCredentialUnavailable():
            return Failure("service_credential", f"Service credential problem: {exc}.")
        case CredentialError():
            return Failure("credential", str(exc))
        case GitHubRateLimited():
            return Failure(
                "github_rate_limited",
                f"GitHub rate limit, retry after {exc.retry_after} s.",
                status,
            )
        case GitHubValidation():
            return Failure("github_validation", f"GitHub rejected the request: {exc}.", status)
        case GitHubForbidden():
            return Failure(
                "github_forbidden",
                f"GitHub refused the request (403): {exc}. The GitHub token in use may lack "
                "the gist permission.",
                status,
            )
        case GitHubUnauthorized():
            return Failure("github_unauthorized", "GitHub rejected the credential.", status)
        case GitHubUnavailable():
            return Failure(
                "github_unavailable", f"GitHub is not answering ({exc}); try again shortly.", status
            )
        case GitHubError():
            return Failure("github_error", f"GitHub error: {exc}.", status)
        case StorageRejected():
            return Failure("invalid_argument", "Invalid argument: a value cannot be stored.")
        case StorageUnavailable() | GrantUndecryptable():
            return Failure(
                "storage_unavailable",
                "The server's storage is not answering; try again shortly.",
            )
    return None
