"""Who a validated token speaks for: the one shape both validators return, and the
protocol they share (:class:`Verifier`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    from gistgate.tokens.trust import Trust

__all__ = ["Principal", "Verifier"]

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


class Verifier(Protocol):
    """Turns a bearer token into its :class:`Principal`, or raises: a ``TokenError`` for a
    token that is not valid (401), ``VerifierUnavailable`` when keys or the endpoint cannot
    be reached. Implemented by ``JwtValidator`` (JWTs) and ``Introspector`` (opaque tokens).
    """

    def validate(self, token: str, trust: Trust, digest: bytes | None = None) -> Principal:
        """``digest``: the token's SHA-256 when the caller already has it (a cache key)."""
        ...
