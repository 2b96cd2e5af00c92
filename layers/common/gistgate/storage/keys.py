"""Key builders for every item in the table; STORAGE.md documents the same shapes.

Change this module and STORAGE.md together.
"""

from __future__ import annotations

import hashlib

PK = "pk"
SK = "sk"
EXPIRES_AT = "expires_at"


def digest(secret: str) -> str:
    """SHA-256 hex of a secret (ticket, code, token): what the table stores instead of it."""
    return hashlib.sha256(secret.encode()).hexdigest()


def github_grant(sub: str) -> dict[str, str]:
    """The user's GitHub token (KMS envelope-encrypted)."""
    return {PK: f"USER#{sub}", SK: "GITHUB"}


def gist_owner(gist_id: str) -> dict[str, str]:
    """Which subject created a gist with the service credential."""
    return {PK: f"GIST#{gist_id}", SK: "OWNER"}


def user_gist(sub: str, created_at: int, gist_id: str) -> dict[str, str]:
    """The same ownership under the user, newest last (list_gists is one Query)."""
    return {PK: f"USER#{sub}", SK: f"GIST#{created_at:010d}#{gist_id}"}


def user_gists_prefix(sub: str) -> tuple[str, str]:
    """(pk, sk prefix) of a user's ownership items."""
    return f"USER#{sub}", "GIST#"


def rate_bucket(sub: str) -> dict[str, str]:
    """The per-user tool-call rate limiter."""
    return {PK: f"RATE#{sub}", SK: "MINUTE"}


def connect_ticket(ticket: str) -> dict[str, str]:
    """A one-time GitHub connect ticket, keyed by its hash."""
    return {PK: f"TICKET#{digest(ticket)}", SK: "TICKET"}
