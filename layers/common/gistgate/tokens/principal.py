"""Who a validated token speaks for: the one shape both validators return."""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["Principal"]

TokenKind = Literal["jwt", "introspection"]


class Principal(NamedTuple):
    """The caller as the authorizer passes it on (all values become strings in the context).

    A NamedTuple rather than a frozen dataclass: it is built on every request, and
    a frozen dataclass's ``__init__`` costs four times as much.
    """

    sub: str
    client_id: str
    scopes: tuple[str, ...]
    issuer: str
    expires_at: int
    token_kind: TokenKind

    @property
    def scope(self) -> str:
        """Space-separated, as OAuth writes scopes."""
        return " ".join(self.scopes)
