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


# -- the builtin authorization server (issue #4) ------------------------------


def oauth_client(client_id: str) -> dict[str, str]:
    """A dynamically registered client (its secret, if any, only as a hash)."""
    return {PK: f"CLIENT#{client_id}", SK: "CLIENT"}


def auth_transaction(state: str) -> dict[str, str]:
    """An authorization request waiting for the upstream login, keyed by our state's hash."""
    return {PK: f"TXN#{digest(state)}", SK: "TXN"}


def consent_request(form_token: str) -> dict[str, str]:
    """A logged-in user's pending consent, keyed by the consent form token's hash."""
    return {PK: f"CONSENT#{digest(form_token)}", SK: "REQUEST"}


def consent_grant(browser: str, client_id: str, sub: str) -> dict[str, str]:
    """This browser's remembered approval of a client for a user."""
    return {PK: f"BROWSER#{digest(browser)}", SK: f"APPROVED#{client_id}#{sub}"}


def auth_code(code: str) -> dict[str, str]:
    """An authorization code, keyed by its hash."""
    return {PK: f"CODE#{digest(code)}", SK: "CODE"}


def refresh_family(family_id: str) -> dict[str, str]:
    """A refresh-token family: the current and previous token hashes of one grant."""
    return {PK: f"FAMILY#{family_id}", SK: "FAMILY"}
