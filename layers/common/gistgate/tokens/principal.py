"""Who a validated token speaks for: the one shape both validators return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["jwt", "introspection"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as the authorizer passes it on (all values become strings in the context)."""

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
