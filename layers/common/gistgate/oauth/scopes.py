"""Scope strings (RFC 6749 §3.3): space-separated, order-free, from our configured set."""

from __future__ import annotations

from gistgate.config import Settings
from gistgate.oauth.errors import InvalidScope


def parse(raw: str | None) -> tuple[str, ...]:
    """Distinct scope tokens in their given order."""
    return tuple(dict.fromkeys((raw or "").split()))


def supported(settings: Settings) -> tuple[str, ...]:
    return (settings.scope_read, settings.scope_write, settings.scope_admin)


def within(
    requested: tuple[str, ...], allowed: tuple[str, ...], *, what: str = "this client"
) -> tuple[str, ...]:
    """``requested`` if every scope is in ``allowed``, else :class:`InvalidScope` naming them."""
    extra = [s for s in requested if s not in allowed]
    if extra:
        raise InvalidScope(
            f"scope {' '.join(extra)} is not available to {what} (allowed: {' '.join(allowed)})"
        )
    return requested


def join(values: tuple[str, ...]) -> str:
    return " ".join(values)
