"""Round trips to the sign-in identity provider, each bound to the browser that began it.

Both browser flows sign people in the same way: the authorization flow after
the user approved a client, and the GitHub connect flow when the browser has
no gistgate session to prove who it is. The sign-in provider is the builtin
server's upstream (GitHub or an OIDC provider) or, in ``jwt``/``introspection``
mode, the operator's OIDC client at the trusted issuer. Our state and PKCE
verifier live in a 10-minute transaction keyed by the state's hash, together
with the hash of the browser's flow cookie; the callback takes it once and
only from that browser.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from gistgate.oauth import pkce
from gistgate.oauth.upstream import Upstream, UpstreamIdentity
from gistgate.oauth.web import Cookie, PageError, cookie, cookie_name, same_browser
from gistgate.storage import keys
from gistgate.storage.records import Record
from gistgate.storage.table import Table

__all__ = [
    "EXPIRED",
    "TXN_TTL",
    "ClientRequest",
    "SignIn",
    "TransactionRecord",
    "flow_cookie",
    "take_transaction",
]

TXN_TTL = 600
CALLBACK = "/oauth/callback"
MAX_STATE = 128
EXPIRED = "This sign-in link has expired or was already used. Start again."


@dataclass(frozen=True)
class ClientRequest(Record):
    """What a client asked for at /oauth/authorize, carried (stored flat) by the pending
    consent and then by the ``login`` transaction until the code is issued."""

    client_id: str
    redirect_uri: str
    client_state: str | None  # the client's own state, echoed back (it may send none)
    challenge: str  # the client's PKCE S256 challenge
    scope: str
    resource: str


@dataclass(frozen=True)
class TransactionRecord(Record):
    """``TXN#<sha256(state)>``: one round trip to a sign-in provider. Always our PKCE
    ``verifier`` and the hash of the browser's ``flow`` cookie; then by ``kind``:
    ``login`` the client's ``request``, ``signin`` the connect ``ticket``'s hash,
    ``connect`` the ticket's ``sub`` and the hash of the ``session`` that proved it."""

    kind: str
    verifier: str
    flow: str
    request: ClientRequest | None = None
    ticket: str | None = None
    sub: str | None = None
    session: str | None = None


def flow_cookie(cookies: Mapping[str, str], base: str) -> tuple[str, Cookie]:
    """This browser's flow id (kept if it has one) and the cookie that carries it."""
    flow = cookies.get(cookie_name(base, "flow")) or ""
    if not 32 <= len(flow) <= MAX_STATE:
        flow = secrets.token_urlsafe(32)
    return flow, cookie(base, "flow", flow, TXN_TTL)


def take_transaction(
    store: Table,
    params: Mapping[str, str],
    cookies: Mapping[str, str],
    base: str,
    kinds: Collection[str],
) -> TransactionRecord:
    """The transaction ``state`` names, once, and only in the browser that began it."""
    state = params.get("state") or ""
    key = keys.auth_transaction(state)
    txn = store.take(key, TransactionRecord) if 0 < len(state) <= MAX_STATE else None
    if txn is None or txn.kind not in kinds:
        raise PageError(400, EXPIRED)
    if not same_browser(cookies, base, txn.flow):
        raise PageError(403, "This sign-in was started in another browser. Start again.")
    return txn


class SignIn:
    """Send a browser to the sign-in provider, and learn who came back."""

    def __init__(self, store: Table, provider: Callable[[], Upstream]) -> None:
        self._store = store
        self._provider = provider  # built on first use: it may read a secret

    def begin(
        self,
        flow_digest: str,
        base: str,
        *,
        request: ClientRequest | None = None,
        ticket: str | None = None,
        select_account: bool = False,
    ) -> str:
        """Store the transaction and return the provider's authorization URL: a ``login``
        for a client's ``request``, or a ``signin`` for a connect ``ticket`` (its hash)."""
        if (request is None) == (ticket is None):
            raise ValueError("a sign-in is for a client's request or for a ticket")
        state = secrets.token_urlsafe(32)
        verifier, challenge = pkce.new_pair()
        kind = "login" if request is not None else "signin"
        self._store.put(
            keys.auth_transaction(state),
            TransactionRecord(kind, verifier, flow_digest, request=request, ticket=ticket),
            ttl=TXN_TTL,
        )
        return self._provider().authorize_url(
            state, challenge, base + CALLBACK, select_account=select_account
        )

    def identify(
        self, txn: TransactionRecord, params: Mapping[str, str], base: str
    ) -> UpstreamIdentity:
        """Redeem the provider's code (OAuthError when it refuses)."""
        return self._provider().identify(params.get("code") or "", txn.verifier, base + CALLBACK)
