"""What the JSON endpoints (register, token, revoke) share: the mode check and bounded
form fields."""

from __future__ import annotations

from collections.abc import Mapping

from gistgate.core.config import Settings
from gistgate.oauth.errors import InvalidRequest, NotServed

__all__ = ["field", "require_builtin"]

MAX_FORM_FIELD = 4096


def require_builtin(settings: Settings) -> None:
    """Only AUTH_MODE=builtin runs an authorization server; elsewhere its endpoints are off
    (the connect flow stays: it proves identity at the external issuer)."""
    if settings.auth_mode != "builtin":
        raise NotServed("this server takes tokens from its external issuer, not from here")


def field(form: Mapping[str, str], name: str, *, required: bool = False) -> str | None:
    """A form value, bounded; ``name`` is always one of our parameter names, never input."""
    value = form.get(name)
    if value is not None and len(value) > MAX_FORM_FIELD:
        raise InvalidRequest(f"{name} is too long")
    if required and not value:
        raise InvalidRequest(f"{name} is required")
    return value
