"""The GitHub "connect your account" flow, bound to the user who asked for the link.

``connect_github`` hands its caller a link holding a one-time ticket issued to
the caller's subject. Whoever opens the link must prove, before GitHub is
contacted, that they are that subject (the MCP elicitation rule: the user who
starts a URL flow is the one who completes it):

* a live gistgate browser session (sessions.py) whose subject is the ticket's;
* or, with no session, a sign-in at our sign-in provider first (signin.py), whose
  subject must be the ticket's. When that provider is GitHub itself (builtin mode
  with ``UPSTREAM_IDP=github``) the sign-in *is* the connection, checked before
  anything is stored.

On a mismatch, or when no proof is possible (no sign-in provider configured),
the browser gets a page saying why, nothing is stored, the ticket stays with
its owner, and an audit line records ``outcome=identity_mismatch``. The GitHub
round trip is bound to the session that passed the check and to the browser
(flow cookie), so a GitHub callback replayed into another browser finds nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping

from gistgate.core.observability import logger
from gistgate.oauth import pkce
from gistgate.oauth.errors import OAuthError
from gistgate.oauth.pages import Page, message_page
from gistgate.oauth.sessions import Session, Sessions
from gistgate.oauth.signin import (
    TXN_TTL,
    SignIn,
    TransactionRecord,
    flow_cookie,
    take_transaction,
)
from gistgate.oauth.upstream import Upstream, UpstreamIdentity
from gistgate.oauth.web import Cookie, PageError, PageOut, Redirect
from gistgate.storage import keys
from gistgate.storage.table import Table
from gistgate.storage.tickets import TicketRecord
from gistgate.storage.vault import GrantWriter

__all__ = ["ConnectFlow"]

GITHUB_CALLBACK = "/oauth/github/callback"
MAX_TICKET = 128
EXPIRED = "This link has expired or was already used. Ask your MCP client for a new one."


class ConnectFlow:
    """/oauth/github/connect, its sign-in continuation, and /oauth/github/callback."""

    def __init__(
        self,
        store: Table,
        sessions: Sessions,
        signin: SignIn | None,
        github: Callable[[], Upstream],
        vault: GrantWriter,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._signin = signin  # None: nobody can prove who they are here
        self._github = github
        self._vault = vault

    def start(
        self, params: Mapping[str, str], cookies: Mapping[str, str], base: str
    ) -> Redirect | PageOut:
        ticket = params.get("ticket") or ""
        digest = keys.digest(ticket)
        item = self._ticket(digest) if 0 < len(ticket) <= MAX_TICKET else None
        if item is None:
            raise PageError(400, EXPIRED)
        session = self._sessions.current(cookies, base)
        flow, flow_set = flow_cookie(cookies, base)
        if session is not None:
            return self._to_github(digest, item, session, flow, (flow_set,), base)
        if self._signin is None:
            return _refused(item.sub, None, "no_sign_in", ())
        location = self._signin.begin(keys.digest(flow), base, ticket=digest)
        return Redirect(location, (flow_set,))

    def after_signin(
        self,
        txn: TransactionRecord,
        params: Mapping[str, str],
        cookies: Mapping[str, str],
        base: str,
    ) -> Redirect | PageOut:
        """The browser signed in to prove who it is: check it against the ticket."""
        if params.get("error") or self._signin is None:
            raise PageError(400, "The sign-in was not completed, so nothing was connected.")
        try:
            who: UpstreamIdentity = self._signin.identify(txn, params, base)
        except OAuthError as exc:
            raise PageError(502, f"The sign-in did not complete: {exc.description}") from None
        session, session_set = self._sessions.open(
            who.sub, who.name, base, replaces=self._sessions.current(cookies, base)
        )
        digest = txn.ticket or ""
        item = self._ticket(digest) if digest else None
        if item is None:
            return PageOut(message_page(400, "Link expired", EXPIRED), (session_set,))
        if item.sub != who.sub:
            return _refused(item.sub, who.sub, "signed_in_as_another", (session_set,))
        if who.github is None:
            return self._to_github(
                digest, item, session, _flow_of(cookies, base), (session_set,), base
            )
        # Signed in at GitHub as the ticket's own subject: that login is the connection.
        if self._store.take(keys.connect_ticket_by_digest(digest), TicketRecord) is None:
            return PageOut(message_page(400, "Link expired", EXPIRED), (session_set,))
        self._vault.put(item.sub, who.github)
        return PageOut(_connected(who.name), (session_set,))

    def _to_github(
        self,
        digest: str,
        item: TicketRecord,
        session: Session,
        flow: str,
        cookies: tuple[Cookie, ...],
        base: str,
    ) -> Redirect | PageOut:
        if session.sub != item.sub:
            return _refused(item.sub, session.sub, "session_of_another", cookies)
        if self._store.take(keys.connect_ticket_by_digest(digest), TicketRecord) is None:
            raise PageError(400, EXPIRED)
        state = secrets.token_urlsafe(32)
        verifier, challenge = pkce.new_pair()
        self._store.put(
            keys.auth_transaction(state),
            TransactionRecord(
                "connect", verifier, keys.digest(flow), sub=item.sub, session=session.digest
            ),
            ttl=TXN_TTL,
        )
        location = self._github().authorize_url(state, challenge, base + GITHUB_CALLBACK)
        return Redirect(location, cookies)

    def callback(self, params: Mapping[str, str], cookies: Mapping[str, str], base: str) -> PageOut:
        txn = take_transaction(self._store, params, cookies, base, ("connect",))
        owner = txn.sub
        if owner is None:  # every connect transaction names its subject
            raise PageError(400, EXPIRED)
        session = self._sessions.current(cookies, base)
        if session is None or session.digest != txn.session or session.sub != owner:
            return _refused(owner, session.sub if session else None, "session_changed", ())
        if params.get("error"):
            raise PageError(400, "GitHub access was not granted; nothing was connected.")
        try:
            who = self._github().identify(
                params.get("code") or "", txn.verifier, base + GITHUB_CALLBACK
            )
        except OAuthError as exc:
            raise PageError(
                502, f"GitHub did not complete the connection: {exc.description}"
            ) from None
        if who.github is None:
            raise PageError(502, "GitHub did not return an authorization; nothing was connected.")
        self._vault.put(owner, who.github)
        return PageOut(_connected(who.name))

    def _ticket(self, digest: str) -> TicketRecord | None:
        """The live ticket, read but not spent: a refused visitor leaves it to its owner."""
        return self._store.get(keys.connect_ticket_by_digest(digest), TicketRecord)


def _flow_of(cookies: Mapping[str, str], base: str) -> str:
    flow, _ = flow_cookie(cookies, base)
    return flow


def _connected(login: str) -> Page:
    return message_page(
        200,
        "GitHub connected",
        f"Your GitHub account {login} is connected. You can close this window.",
    )


def _refused(
    ticket_sub: str, signed_in: str | None, reason: str, cookies: tuple[Cookie, ...]
) -> PageOut:
    """The visitor is not (or cannot be shown to be) the user the link was made for."""
    logger.warning(
        "connect refused",
        extra={
            "outcome": "identity_mismatch",
            "reason": reason,
            "ticket_sub": ticket_sub,
            "signed_in_sub": signed_in,
        },
    )
    if signed_in is None and reason == "no_sign_in":
        text = (
            "This server cannot confirm who you are in the browser (no sign-in is "
            "configured for it), so it does not follow connect links. Nothing was "
            "connected. Ask the operator to configure the sign-in (see the docs)."
        )
    else:
        text = (
            "This link was made for a different account than the one signed in here, "
            "so nothing was connected. Connect links work only for the person who asked "
            "for them: ask your own MCP client for a new link and open it in the browser "
            "where you signed in."
        )
    return PageOut(message_page(403, "This link is not for this account", text), cookies)
