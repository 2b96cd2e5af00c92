"""Scope strings (RFC 6749 §3.3): space-separated, order-free, from our configured set."""

from __future__ import annotations

from gistgate.core.config import Settings
from gistgate.oauth.errors import InvalidScope

__all__ = ["join", "parse", "supported", "within"]


def parse(raw: str | None) -> tuple[str, ...]:
    """Distinct scope tokens in their given order."""
    return tuple(dict.fromkeys((raw or "").split()))


def supported(settings: Settings) -> tuple[str, ...]:
    return (settings.scope_read, settings.scope_write, settings.scope_admin)


def within(
    requested: tuple[str, ...], allowed: tuple[str, ...], *, what: str = "this client"
) -> tuple[str, ...]:
    """``requested`` if every scope is in ``allowed``, else :class:`InvalidScope`.

    The message does not name the scopes: they are the request's words (or, for a
    metadata document, its author's), and descriptions never echo input.
    """
    if any(s not in allowed for s in requested):
        raise InvalidScope(f"scope asks for a scope that is not available to {what}")
    return requested


def join(values: tuple[str, ...]) -> str:
    return " ".join(values)
