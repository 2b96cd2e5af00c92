"""Key builders for every item in the table; STORAGE.md documents the same shapes.

Change this module and STORAGE.md together.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "EXPIRES_AT",
    "PK",
    "SK",
    "auth_code",
    "auth_transaction",
    "browser_session",
    "connect_ticket",
    "connect_ticket_by_digest",
    "consent_request",
    "digest",
    "gist_owner",
    "github_grant",
    "oauth_client",
    "rate_bucket",
    "refresh_family",
    "user_consent",
    "user_gist",
    "user_gists_prefix",
]

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
    return connect_ticket_by_digest(digest(ticket))


def connect_ticket_by_digest(ticket_digest: str) -> dict[str, str]:
    """The same ticket, found from its hash alone (a sign-in in between keeps only that)."""
    return {PK: f"TICKET#{ticket_digest}", SK: "TICKET"}


# -- the builtin authorization server ------------------------------


def oauth_client(client_id: str) -> dict[str, str]:
    """A dynamically registered client (its secret, if any, only as a hash)."""
    return {PK: f"CLIENT#{client_id}", SK: "CLIENT"}


def auth_transaction(state: str) -> dict[str, str]:
    """An authorization request waiting for the upstream login, keyed by our state's hash."""
    return {PK: f"TXN#{digest(state)}", SK: "TXN"}


def consent_request(form_token: str) -> dict[str, str]:
    """A logged-in user's pending consent, keyed by the consent form token's hash."""
    return {PK: f"CONSENT#{digest(form_token)}", SK: "REQUEST"}


def user_consent(sub: str, client_id: str) -> dict[str, str]:
    """A user's remembered approval of one client: the per-user registry of approved clients."""
    return {PK: f"USER#{sub}", SK: f"CONSENT#{client_id}"}


def browser_session(session_id: str) -> dict[str, str]:
    """A gistgate browser session (who signed in here), keyed by the cookie's hash."""
    return {PK: f"SESSION#{digest(session_id)}", SK: "SESSION"}


def auth_code(code: str) -> dict[str, str]:
    """An authorization code, keyed by its hash."""
    return {PK: f"CODE#{digest(code)}", SK: "CODE"}


def refresh_family(family_id: str) -> dict[str, str]:
    """A refresh-token family: the current and previous token hashes of one grant."""
    return {PK: f"FAMILY#{family_id}", SK: "FAMILY"}
