"""Everything the tools need, built once per execution environment from the settings."""

from __future__ import annotations

from typing import NamedTuple

from gistgate.core.config import Settings
from gistgate.mcp.credentials import Credentials
from gistgate.mcp.gists import Gists
from gistgate.mcp.github import GitHubClient
from gistgate.mcp.ownership import Ownership
from gistgate.storage.ratelimit import RateLimiter
from gistgate.storage.vault import TokenVault

__all__ = ["Services", "build_services"]


class Services(NamedTuple):
    """The MCP function's collaborators (one set per process, reused while warm)."""

    settings: Settings
    github: GitHubClient
    vault: TokenVault
    credentials: Credentials
    ownership: Ownership
    limiter: RateLimiter
    gists: Gists


def build_services(settings: Settings, *, github: GitHubClient | None = None) -> Services:
    """Wire the collaborators; nothing here touches the network."""
    github = github or GitHubClient(settings.github_api_url)
    vault = TokenVault(settings.table_name, settings.kms_key_id)
    credentials = Credentials(settings, vault)
    ownership = Ownership(settings.table_name)
    return Services(
        settings=settings,
        github=github,
        vault=vault,
        credentials=credentials,
        ownership=ownership,
        # A warm instance leases a tenth of the bucket (at most 10) per DynamoDB write.
        limiter=RateLimiter(
            settings.table_name,
            settings.rate_limit_per_minute,
            lease=min(10, settings.rate_limit_per_minute // 10),
        ),
        gists=Gists(github, credentials, ownership),
    )
