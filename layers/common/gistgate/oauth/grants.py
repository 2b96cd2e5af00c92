"""Authorization codes, refresh-token families and the access tokens they yield.

- A code is stored as its hash, lives 5 minutes and is redeemed by one
  conditional update. Redeeming it again revokes the family it started
  (RFC 6749 §4.1.2: tokens issued from a replayed code are revoked).
- A refresh token is ``<family id>.<secret>``; the family item keeps the hashes
  of the current token, of the previous one, and of any spare successors. Each
  use rotates. The previous token stays valid until its successor is first used,
  so a client that lost a response (network, a killed process) and retries with
  the token it had is answered again, and two concurrent refreshes with one token
  both succeed (each answer is a successor, all valid until one is used). Once a
  successor is used, the previous token dies, and presenting it (or any unknown
  token of the family) revokes the whole family (OAuth 2.0 Security BCP §4.14.2).
- Families slide: each rotation renews the idle lifetime (``REFRESH_TOKEN_TTL``),
  never past the absolute one from the first grant (``REFRESH_TOKEN_MAX_LIFETIME``).
- Access tokens are RFC 9068 JWTs signed in KMS. They are not looked up on
  use, so revoking a family stops refreshes at once and the access tokens
  already issued within their TTL (1 hour by default).
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from gistgate.core.config import Settings
from gistgate.core.urls import resource_url
from gistgate.oauth import pkce, scopes
from gistgate.oauth.clients import Client
from gistgate.oauth.errors import (
    InvalidGrant,
    InvalidScope,
    InvalidTarget,
    ServerError,
    UnauthorizedClient,
)
from gistgate.storage import keys
from gistgate.storage.records import Record
from gistgate.storage.table import Conflict, Lost, Table

__all__ = [
    "MAX_SPARE_SUCCESSORS",
    "CodeRecord",
    "FamilyRecord",
    "Grant",
    "Grants",
    "Issued",
    "Signer",
]

CODE_TTL = 300
# Successors a previous refresh token may be answered with before one of them is used:
# retries and concurrent refreshes, not an unbounded stream from a stolen token.
MAX_SPARE_SUCCESSORS = 8
RETRIES = 3


@dataclass(frozen=True)
class Grant(Record):
    """What a token says: who, through which client, for what (stored flat in the code
    and in the family that carry it)."""

    sub: str
    client_id: str
    scope: str
    resource: str


@dataclass(frozen=True)
class CodeRecord(Record):
    """``CODE#<sha256(code)>``: the grant a code stands for and the request it answers.
    ``used_at`` and ``family`` are set by its one redemption."""

    grant: Grant
    redirect_uri: str
    challenge: str  # the client's PKCE S256 challenge
    used_at: int | None = None
    family: str | None = None


@dataclass(frozen=True)
class FamilyRecord(Record):
    """``FAMILY#<family id>``: one grant's refresh tokens, as hashes: the current one, the
    spare successors issued when the previous one was presented again, and the previous
    one (rotated at ``rotated_at``); ``started_at`` bounds the family's whole life."""

    grant: Grant
    cur_hash: str
    prev_hash: str | None = None
    rotated_at: int | None = None
    revoked: bool = False
    spare_hashes: tuple[str, ...] = ()
    started_at: int | None = None


class Issued(NamedTuple):
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None

    def __repr__(self) -> str:
        return f"Issued(scope={self.scope!r}, expires_in={self.expires_in}, tokens=***)"

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token:
            answer["refresh_token"] = self.refresh_token
        return answer


class Signer(Protocol):
    """Signs access tokens: :class:`gistgate.oauth.signing.KmsSigner`."""

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims``; ``SigningUnavailable`` when the key cannot sign now."""
        ...


class Grants:
    """Issue and redeem codes and tokens."""

    def __init__(
        self,
        store: Table,
        signer: Signer,
        *,
        access_ttl: int,
        refresh_ttl: int,
        refresh_max_lifetime: int | None = None,
    ) -> None:
        self._store = store
        self._signer = signer
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._refresh_max = max(refresh_max_lifetime or refresh_ttl, refresh_ttl)

    # -- codes ---------------------------------------------------------------

    def new_code(self, grant: Grant, redirect_uri: str, challenge: str) -> str:
        code = secrets.token_urlsafe(32)
        self._store.put(
            keys.auth_code(code), CodeRecord(grant, redirect_uri, challenge), ttl=CODE_TTL
        )
        return code

    def redeem_code(
        self,
        code: str,
        client_id: str,
        redirect_uri: str | None,
        verifier: str,
        resource: str | None,
        issuer: str,
        with_refresh: bool,
    ) -> Issued:
        key = keys.auth_code(code)
        stored = self._store.get(key, CodeRecord)
        if stored is None:
            raise InvalidGrant("the authorization code is invalid or expired")
        if stored.used_at is not None:
            self._revoke(stored.family)
            raise InvalidGrant("the authorization code was already used; its tokens are revoked")
        grant = stored.grant
        if grant.client_id != client_id:
            raise InvalidGrant("the authorization code was issued to another client")
        if redirect_uri != stored.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        if not pkce.verify(verifier or "", stored.challenge):
            raise InvalidGrant("code_verifier does not match the code_challenge")
        if resource is not None and resource != grant.resource:
            raise InvalidTarget("resource does not match the authorization request")
        # Signed before the code is spent: a KMS failure leaves the code redeemable.
        access = self._access_token(grant, issuer)
        family = uuid.uuid4().hex
        try:
            self._store.update(
                key,
                CodeRecord,
                {"used_at": int(self._store.clock()), "family": family},
                condition="attribute_exists(pk) AND attribute_not_exists(used_at)",
            )
        except Lost as lost:
            # Redeemed meanwhile: revoke what that redemption started.
            self._revoke(lost.record.family if isinstance(lost.record, CodeRecord) else None)
            raise InvalidGrant(
                "the authorization code was already used; its tokens are revoked"
            ) from None
        refresh = self._start_family(family, grant) if with_refresh else None
        return Issued(access, self._access_ttl, grant.scope, refresh)

    # -- refresh tokens --------------------------------------------------------

    def _start_family(self, family: str, grant: Grant) -> str:
        token = f"{family}.{secrets.token_urlsafe(32)}"
        self._store.put(
            keys.refresh_family(family),
            FamilyRecord(
                grant,
                cur_hash=keys.digest(token),
                revoked=False,
                started_at=int(self._store.clock()),
            ),
            ttl=self._refresh_ttl,
        )
        return token

    def refresh(
        self,
        token: str,
        client_id: str,
        scope: tuple[str, ...] | None,
        resource: str | None,
        issuer: str,
    ) -> Issued:
        family, _, _ = token.partition(".")
        if not family or len(token) > 200:
            raise InvalidGrant("the refresh token is invalid")
        key = keys.refresh_family(family)
        presented = keys.digest(token)
        for _ in range(RETRIES):
            stored = self._store.get(key, FamilyRecord)
            if stored is None or stored.revoked:
                raise InvalidGrant("the refresh token is invalid, expired or revoked")
            grant = stored.grant
            if grant.client_id != client_id:
                raise InvalidGrant("the refresh token was issued to another client")
            if resource is not None and resource != grant.resource:
                raise InvalidTarget("resource does not match the refresh token's resource")
            if scope:
                if any(s not in grant.scope.split() for s in scope):
                    raise InvalidScope("scope asks for more than the refresh token was granted")
                grant = dataclasses.replace(grant, scope=" ".join(scope))
            ttl = self._family_ttl(stored)
            fresh = f"{family}.{secrets.token_urlsafe(32)}"
            changes, condition, values = self._rotation(family, stored, presented, fresh)
            access = self._access_token(grant, issuer)  # before rotating, as for codes
            try:
                self._store.update(
                    key, FamilyRecord, changes, condition=condition, values=values, ttl=ttl
                )
            except Lost:
                continue  # another refresh of this family won: judge the token again
            return Issued(access, self._access_ttl, grant.scope, fresh)
        raise ServerError("the refresh token is in use by concurrent requests; try again")

    def _family_ttl(self, stored: FamilyRecord) -> int:
        """The idle lifetime again, never past the family's absolute end."""
        now = int(self._store.clock())
        started = stored.started_at if stored.started_at is not None else now
        left = started + self._refresh_max - now
        if left <= 0:
            raise InvalidGrant("the refresh token is invalid, expired or revoked")
        return min(self._refresh_ttl, left)

    def _rotation(
        self, family: str, stored: FamilyRecord, presented: str, fresh: str
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """The update that answers ``presented`` with ``fresh``, and its condition."""
        now = int(self._store.clock())
        if presented == stored.cur_hash or presented in stored.spare_hashes:
            # A successor's first use: the previous token and the other successors die.
            changes: dict[str, Any] = {
                "cur_hash": keys.digest(fresh),
                "spare_hashes": (),
                "prev_hash": presented,
                "rotated_at": now,
            }
            condition = "cur_hash = :cur AND revoked = :no"
            return changes, condition, {":cur": stored.cur_hash, ":no": False}
        if presented == stored.prev_hash and len(stored.spare_hashes) < MAX_SPARE_SUCCESSORS:
            # Its successor was never used (a lost response, a concurrent refresh): one more.
            changes = {
                "cur_hash": keys.digest(fresh),
                "spare_hashes": (*stored.spare_hashes, stored.cur_hash),
            }
            condition = "cur_hash = :cur AND prev_hash = :prev AND revoked = :no"
            return changes, condition, {":cur": stored.cur_hash, ":prev": presented, ":no": False}
        self._revoke(family)
        raise InvalidGrant("the refresh token was already used; the grant is revoked")

    def revoke_refresh(self, token: str, client_id: str) -> None:
        """RFC 7009 for a refresh token: the family ends (unknown tokens are ignored)."""
        family, _, _ = token.partition(".")
        if not family or len(token) > 200:
            return
        stored = self._store.get(keys.refresh_family(family), FamilyRecord)
        if stored is None or stored.grant.client_id != client_id:
            return
        if keys.digest(token) in (stored.cur_hash, stored.prev_hash, *stored.spare_hashes):
            self._revoke(family)

    def _revoke(self, family: str | None) -> None:
        if not family:
            return
        try:
            self._store.update(keys.refresh_family(family), FamilyRecord, {"revoked": True})
        except Conflict:
            return

    # -- access tokens -----------------------------------------------------------

    def client_credentials(
        self, client: Client, requested: tuple[str, ...], settings: Settings, issuer: str
    ) -> Issued:
        """client_credentials: an access token for ``client|<id>``, no refresh token.

        Scopes are limited to the registered ones; the admin scope only for the
        configured admin subjects.
        """
        if client.public:
            # Not reachable through registration (a public client cannot register this
            # grant). Its authentication, by its registered method, succeeded: the grant
            # is what it may not use (RFC 6749 §4.4, §5.2), so unauthorized_client.
            raise UnauthorizedClient("client_credentials needs a confidential client")
        granted = scopes.within(requested or client.scope, client.scope)
        sub = f"client|{client.client_id}"
        if settings.scope_admin in granted and sub not in settings.admin_subjects:
            granted = tuple(s for s in granted if s != settings.scope_admin)
        grant = Grant(sub, client.client_id, scopes.join(granted), resource_url(issuer))
        return Issued(self._access_token(grant, issuer), self._access_ttl, grant.scope, None)

    def asserted(
        self, grant: Grant, issuer: str, spend: Callable[[], None], *, with_refresh: bool
    ) -> Issued:
        """A token for a verified assertion grant (the ID-JAG): signed first, then
        ``spend`` marks the assertion used (it raises if it was), so a KMS failure
        leaves the assertion redeemable and a replay gets nothing."""
        access = self._access_token(grant, issuer)
        spend()
        refresh = self._start_family(uuid.uuid4().hex, grant) if with_refresh else None
        return Issued(access, self._access_ttl, grant.scope, refresh)

    def _access_token(self, grant: Grant, issuer: str) -> str:
        """An RFC 9068 JWT for ``grant``, signed in KMS (KMS down: retryable, nothing spent)."""
        from gistgate.oauth.signing import SigningUnavailable

        now = int(self._store.clock())
        claims = {
            "iss": issuer,
            "aud": grant.resource,
            "sub": grant.sub,
            "client_id": grant.client_id,
            "scope": grant.scope,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + self._access_ttl,
        }
        try:
            return self._signer.sign(claims)
        except SigningUnavailable:
            raise ServerError("token signing is not available; try again") from None
