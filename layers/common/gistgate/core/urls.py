"""The public URLs of this deployment, from PUBLIC_BASE_URL or the request.

On the default execute-api URL the functions cannot be told their own URL
(an environment variable referencing the API is a circular dependency), so
the base URL is rebuilt from ``requestContext.domainName`` and ``stage``,
values API Gateway sets, not the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gistgate.core.config import MCP_PATH, Settings
from gistgate.core.netguard import is_loopback_host

__all__ = ["PRM_PATH", "BaseUrlUnknown", "base_url", "prm_url", "resource_url"]

PRM_PATH = "/.well-known/oauth-protected-resource"


class BaseUrlUnknown(ValueError):
    """The event has no ``requestContext.domainName`` and no PUBLIC_BASE_URL is set.

    The client's Host header is deliberately not a fallback: it is the one
    part of the request the caller controls.
    """


def base_url(settings: Settings, event: Mapping[str, Any]) -> str:
    """Public origin plus stage prefix, without a trailing slash."""
    if settings.public_base_url:
        return settings.public_base_url
    context = event.get("requestContext") or {}
    domain = context.get("domainName")
    if not isinstance(domain, str) or not domain or "/" in domain:
        raise BaseUrlUnknown("cannot tell the public URL from this request")
    host = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain.split("]")[0] + "]"
    scheme = "http" if is_loopback_host(host) else "https"
    stage = context.get("stage")
    prefix = f"/{stage}" if isinstance(stage, str) and stage and stage != "$default" else ""
    return f"{scheme}://{domain}{prefix}"


def resource_url(base: str) -> str:
    """The MCP endpoint, which is also the OAuth resource identifier (RFC 8707)."""
    return base + MCP_PATH


def prm_url(base: str) -> str:
    """The MCP endpoint's PRM: RFC 9728's path-inserted form, below the stage prefix."""
    return base + PRM_PATH + MCP_PATH
