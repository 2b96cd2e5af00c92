"""The browser half of the authorization server: authorize → consent → sign-in → code.

Consent comes first. Our GitHub OAuth App is one static client serving every
client registered here, so /oauth/authorize shows our consent page before
anything is sent upstream: Deny contacts no one and stores nothing, and the
upstream transaction (and the upstream token the sign-in yields) is stored
only after Approve. A browser whose gistgate session (sessions.py) already
approved this client for these scopes gets its code at once, with no upstream
round trip; the approval is per user and per client (consents.py).

Errors found before the user has seen one of our pages are shown as our page
for clients that are not operator-registered (DCR, CIMD): anyone can register
a redirect URI, so redirecting there without interaction would make us an
open redirector (RFC 9700 §4.11.2). Operator-registered clients get
RFC 6749 §4.1.2.1 error redirects. Once the user has acted on our page,
errors go back to the client with ``error``, ``state`` and ``iss``.

The browser that started a flow is the only one that can continue it: a random
flow cookie is bound, as a hash, to the consent request and to the sign-in
transaction, and the consent form carries its own single-use token.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gistgate.core.config import Settings
from gistgate.core.urls import resource_url
from gistgate.oauth import scopes
from gistgate.oauth.clients import Client, ClientRegistry
from gistgate.oauth.consents import Consents
from gistgate.oauth.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidTarget,
    OAuthError,
    UnsupportedResponseType,
)
from gistgate.oauth.grants import Grant, Grants
from gistgate.oauth.pages import ConsentView, consent_page
from gistgate.oauth.pkce import well_formed_challenge
from gistgate.oauth.redirects import redirect_warning
from gistgate.oauth.sessions import Sessions
from gistgate.oauth.signin import (
    EXPIRED,
    ClientRequest,
    SignIn,
    flow_cookie,
    take_transaction,
)
from gistgate.oauth.upstream import GITHUB_SCOPES, OIDC_SCOPES
from gistgate.oauth.web import (
    ClientRedirectError,
    PageError,
    PageOut,
    Redirect,
    client_redirect,
    error_redirect,
    same_browser,
)
from gistgate.storage import keys
from gistgate.storage.records import Record
from gistgate.storage.table import Table
from gistgate.storage.vault import GrantWriter

if TYPE_CHECKING:
    from gistgate.oauth.connect_flow import ConnectFlow

__all__ = ["BrowserFlow", "ConsentRequestRecord"]

CONSENT_TTL = 600
CONSENT_PATH = "/oauth/consent"
MAX_FORM_TOKEN = 128
# prompt values (OpenID Connect Core §3.1.2.1) that ask for the page or a new sign-in.
FORCING_PROMPTS = frozenset({"login", "consent", "select_account"})

SCOPE_MEANINGS = {
    "read": "read your gists",
    "write": "create, change and delete gists",
    "admin": "administer this server (see every gist it created)",
}
UPSTREAM_SCOPE_MEANINGS = {
    "gist": "create, read, change and delete your gists on GitHub",
    "read:user": "read your GitHub profile",
    "openid": "confirm who you are",
    "profile": "your name",
    "email": "your e-mail address",
}


@dataclass(frozen=True)
class ConsentRequestRecord(Record):
    """``CONSENT#<sha256(form token)>``: a consent page waiting for its answer. The client's
    request, the hash of the browser's ``flow`` cookie, the hash of the ``session`` the page
    was shown to (none: a sign-in follows Approve), and whether that sign-in must let the
    user pick another account (``prompt=select_account``)."""

    request: ClientRequest
    flow: str
    session: str | None = None
    select_account: bool = False


class BrowserFlow:
    """/oauth/authorize, /oauth/consent and /oauth/callback."""

    def __init__(
        self,
        settings: Settings,
        store: Table,
        clients: ClientRegistry,
        grants: Grants,
        signin: SignIn,
        sessions: Sessions,
        consents: Consents,
        vault: GrantWriter,
        connect: ConnectFlow,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clients = clients
        self._grants = grants
        self._signin = signin
        self._sessions = sessions
        self._consents = consents
        self._vault = vault
        self._connect = connect  # ConnectFlow: sign-ins it began come back to our callback

    # -- /oauth/authorize ----------------------------------------------------------

    def authorize(
        self, params: Mapping[str, str], cookies: Mapping[str, str], base: str
    ) -> Redirect | PageOut:
        self._serving()
        try:
            client = self._clients.get(params.get("client_id"))
        except InvalidClient as exc:
            raise PageError(400, f"This application is not registered here: {exc}") from None
        except OAuthError as exc:
            raise PageError(exc.status, str(exc)) from None
        redirect_uri = params.get("redirect_uri") or (
            client.redirect_uris[0] if len(client.redirect_uris) == 1 else ""
        )
        if redirect_uri not in client.redirect_uris:
            raise PageError(
                400, "The redirect_uri is not one this application registered, so we stop here."
            )
        state = params.get("state")
        try:
            request = self._validate(params, client, redirect_uri, base)
        except OAuthError as exc:
            if not client.operator_registered:
                raise PageError(
                    400,
                    f"The application's sign-in request is not valid ({exc.description}). "
                    "Nothing was sent back to it.",
                ) from None
            location = error_redirect(redirect_uri, state, base, exc.error, exc.description)
            raise ClientRedirectError(location) from None
        session = self._sessions.current(cookies, base)
        forced = FORCING_PROMPTS & set((params.get("prompt") or "").split())
        if session is not None and not forced:
            scope = self._entitled(request.scope, session.sub)
            if self._consents.covers(session.sub, client.client_id, scope):
                return Redirect(self._code_redirect(request, session.sub, scope, base))
        flow, flow_set = flow_cookie(cookies, base)
        form_token = secrets.token_urlsafe(32)
        # prompt=login/select_account: the page, then a new sign-in even if signed in.
        reauth = bool(forced - {"consent"})
        self._store.put(
            keys.consent_request(form_token),
            ConsentRequestRecord(
                request,
                keys.digest(flow),
                session=session.digest if session and not reauth else None,
                select_account="select_account" in forced,
            ),
            ttl=CONSENT_TTL,
        )
        account = session.name if session and not reauth else None
        view = self._consent_view(client, request, form_token, account, base)
        return PageOut(consent_page(view), (flow_set,))

    def _serving(self) -> None:
        if self._settings.auth_mode != "builtin":
            raise PageError(
                404,
                "This server does not sign people in for MCP clients: its tokens come from "
                "its identity provider.",
            )

    def _validate(
        self, params: Mapping[str, str], client: Client, redirect_uri: str, base: str
    ) -> ClientRequest:
        if params.get("response_type") != "code":
            raise UnsupportedResponseType("response_type must be code")
        if "authorization_code" not in client.grant_types:
            raise InvalidRequest("this client is not registered for the authorization_code grant")
        challenge = params.get("code_challenge")
        if not challenge:
            raise InvalidRequest("code_challenge is required (PKCE, S256)")
        if params.get("code_challenge_method") != "S256":
            raise InvalidRequest("code_challenge_method must be S256")
        if not well_formed_challenge(challenge):
            raise InvalidRequest("code_challenge is not a S256 challenge (43 base64url characters)")
        if len(params.get("state") or "") > 1024:
            raise InvalidRequest("state is longer than 1024 characters")
        ours = resource_url(base)
        resource = params.get("resource") or ours
        if resource != ours:
            raise InvalidTarget("resource must be this server's MCP endpoint")
        allowed = client.scope or scopes.supported(self._settings)
        requested = scopes.parse(params.get("scope")) or client.scope or self._settings.basic_scopes
        scopes.within(requested, allowed)
        return ClientRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            client_state=params.get("state"),
            challenge=challenge,
            scope=scopes.join(requested),
            resource=resource,
        )

    def _consent_view(
        self,
        client: Client,
        request: ClientRequest,
        form_token: str,
        account: str | None,
        base: str,
    ) -> ConsentView:
        if client.metadata_document:
            host = urlsplit(client.client_id).hostname or client.client_id
            note = (
                f"This name comes from the app's metadata document, published at {host} "
                f"(verified: {host} serves this app's client ID)."
            )
        elif client.operator_registered:
            note = "This app was registered by the operator of this server."
        else:
            note = "The app provided this name itself when it registered; it is not verified."
        if self._settings.upstream_idp == "github":
            upstream, upstream_scopes = "your GitHub account", GITHUB_SCOPES
        else:
            issuer = urlsplit(self._settings.upstream_oidc_issuer or "").hostname or "your provider"
            upstream, upstream_scopes = f"your account at {issuer}", OIDC_SCOPES
        return ConsentView(
            action=base + CONSENT_PATH,
            form_token=form_token,
            client_name=client.client_name,
            client_id=client.client_id,
            client_note=note,
            redirect_uri=request.redirect_uri,
            redirect_warning=redirect_warning(request.redirect_uri),
            scopes=[(s, self._meaning(s)) for s in request.scope.split()],
            resource_name=self._settings.resource_name,
            account=account,
            upstream=upstream,
            upstream_scopes=[
                (s, UPSTREAM_SCOPE_MEANINGS.get(s, "a permission there"))
                for s in upstream_scopes.split()
            ],
        )

    # -- /oauth/consent ----------------------------------------------------------------

    def consent(self, form: Mapping[str, str], cookies: Mapping[str, str], base: str) -> Redirect:
        self._serving()
        token = form.get("form_token") or ""
        key = keys.consent_request(token)
        pending = (
            self._store.get(key, ConsentRequestRecord) if 0 < len(token) <= MAX_FORM_TOKEN else None
        )
        if pending is None:
            raise PageError(400, "This consent request has expired or was already answered.")
        if not same_browser(cookies, base, pending.flow):
            raise PageError(403, "This consent form was not opened in this browser.")
        if self._store.take(key, ConsentRequestRecord) is None:
            raise PageError(400, "This consent request has expired or was already answered.")
        request = pending.request
        decision = form.get("decision")
        if decision not in ("approve", "switch"):
            # Deny: nothing is stored and nothing is sent upstream.
            return Redirect(
                error_redirect(
                    request.redirect_uri,
                    request.client_state,
                    base,
                    "access_denied",
                    "the user denied the request",
                )
            )
        session = self._sessions.current(cookies, base)
        if decision == "approve" and session is not None and session.digest == pending.session:
            scope = self._entitled(request.scope, session.sub)
            self._consents.remember(session.sub, request.client_id, scope)
            return Redirect(self._code_redirect(request, session.sub, scope, base))
        # Approved: only now does anything go to the upstream.
        location = self._signin.begin(
            pending.flow,
            base,
            request=request,
            select_account=decision == "switch" or pending.select_account,
        )
        return Redirect(location)

    # -- /oauth/callback -------------------------------------------------------------

    def callback(
        self, params: Mapping[str, str], cookies: Mapping[str, str], base: str
    ) -> Redirect | PageOut:
        txn = take_transaction(self._store, params, cookies, base, ("login", "signin"))
        if txn.kind == "signin":
            return self._connect.after_signin(txn, params, cookies, base)
        request = txn.request
        if request is None:  # every login transaction carries the client's request
            raise PageError(400, EXPIRED)

        def back(error: str, description: str) -> ClientRedirectError:
            return ClientRedirectError(
                error_redirect(request.redirect_uri, request.client_state, base, error, description)
            )

        if params.get("error"):
            raise back("access_denied", "the sign-in at the identity provider was not completed")
        try:
            who = self._signin.identify(txn, params, base)
        except OAuthError as exc:
            raise back("server_error", exc.description) from None
        # The user approved before the sign-in, so the upstream token may be kept now.
        if who.github is not None:
            self._vault.put(who.sub, who.github)
        _, session_cookie = self._sessions.open(
            who.sub, who.name, base, replaces=self._sessions.current(cookies, base)
        )
        scope = self._entitled(request.scope, who.sub)
        self._consents.remember(who.sub, request.client_id, scope)
        return Redirect(self._code_redirect(request, who.sub, scope, base), (session_cookie,))

    def _entitled(self, scope: str, sub: str) -> str:
        """The admin scope only for the configured admin subjects; others get the rest."""
        admin = self._settings.scope_admin
        if sub in self._settings.admin_subjects:
            return scope
        return scopes.join(tuple(s for s in scope.split() if s != admin))

    def _meaning(self, scope: str) -> str:
        for kind in ("read", "write", "admin"):
            if scope == getattr(self._settings, f"scope_{kind}"):
                return SCOPE_MEANINGS[kind]
        return "a scope of this server"

    def _code_redirect(self, request: ClientRequest, sub: str, scope: str, base: str) -> str:
        grant = Grant(sub, request.client_id, scope, request.resource)
        code = self._grants.new_code(grant, request.redirect_uri, request.challenge)
        return client_redirect(
            request.redirect_uri, {"code": code, "state": request.client_state, "iss": base}
        )
