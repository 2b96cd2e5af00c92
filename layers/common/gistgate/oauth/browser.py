"""The browser half of the facade: authorize → upstream login → consent → code.

Errors before the client and its redirect URI are trusted render a page (a
redirect there would be an open redirector); later errors go back to the
client with ``error`` and ``state``. The browser that started a flow is the
only one that can finish it: a random flow cookie (``__Host-`` on https) is
bound, as a hash, to the upstream transaction and to the consent request, and
the consent form also carries its own single-use token.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

from gistgate.config import Settings
from gistgate.oauth import pkce, scopes
from gistgate.oauth.clients import Client, ClientRegistry
from gistgate.oauth.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidTarget,
    OAuthError,
    UnsupportedResponseType,
)
from gistgate.oauth.grants import Grant, Grants
from gistgate.oauth.pages import Page, consent_page, message_page
from gistgate.oauth.store import Store
from gistgate.oauth.upstream import Upstream, UpstreamIdentity
from gistgate.storage import keys
from gistgate.urls import resource_url

TXN_TTL = 600
CONSENT_TTL = 600
REMEMBER_SECONDS = 30 * 86400
LOGIN_CALLBACK = "/oauth/callback"
CONNECT_CALLBACK = "/oauth/github/callback"
CONSENT_PATH = "/oauth/consent"


class Cookie(NamedTuple):
    name: str
    value: str
    max_age: int | None = None  # None: a session cookie
    secure: bool = True


class Redirect(NamedTuple):
    location: str
    cookies: tuple[Cookie, ...] = ()


class PageOut(NamedTuple):
    page: Page
    cookies: tuple[Cookie, ...] = ()


class PageError(Exception):
    """Shown to the user as a page: the client cannot safely be redirected to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ClientRedirectError(Exception):
    """Sent back to the client's redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, location: str) -> None:
        super().__init__("redirect with error")
        self.location = location


def cookie_name(base: str, name: str) -> str:
    """``__Host-`` cookies need https; on loopback http they drop the prefix."""
    return f"__Host-gg-{name}" if base.startswith("https://") else f"gg-{name}"


def client_redirect(uri: str, params: Mapping[str, str | None]) -> str:
    """``uri`` with ``params`` appended to its query (RFC 6749 §3.1.2)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def error_redirect(uri: str, state: str | None, issuer: str, error: str, description: str) -> str:
    """An error back to the client (RFC 6749 §4.1.2.1), with ``iss`` (RFC 9207)."""
    return client_redirect(
        uri, {"error": error, "error_description": description, "state": state, "iss": issuer}
    )


def same_browser(cookies: Mapping[str, str], base: str, bound: str) -> bool:
    """Does this request carry the flow cookie whose hash the state was bound to?"""
    flow = cookies.get(cookie_name(base, "flow"))
    return bool(flow) and keys.digest(flow or "") == bound


SCOPE_MEANINGS = {
    "read": "read your gists",
    "write": "create, change and delete gists",
    "admin": "administer this server (see every gist it created)",
}


class BrowserFlow:
    """authorize, callback, consent, and the GitHub connect flow."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clients: ClientRegistry,
        grants: Grants,
        upstream: Any,
        vault: Any,
        github_upstream: Any = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clients = clients
        self._grants = grants
        self._upstream = upstream  # () -> Upstream, built on first use
        self._github = github_upstream  # () -> Upstream for the connect flow
        self._vault = vault

    # -- /oauth/authorize ----------------------------------------------------------

    def authorize(
        self, params: Mapping[str, str], cookies: Mapping[str, str], base: str
    ) -> Redirect:
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
            request = self._validate(params, client, base)
        except OAuthError as exc:
            location = error_redirect(redirect_uri, state, base, exc.error, exc.description)
            raise ClientRedirectError(location) from None
        flow = cookies.get(cookie_name(base, "flow")) or secrets.token_urlsafe(32)
        our_state = secrets.token_urlsafe(32)
        verifier, challenge = pkce.new_pair()
        self._store.put(
            keys.auth_transaction(our_state),
            {
                "kind": "login",
                "client_id": client.client_id,
                "redirect_uri": redirect_uri,
                "client_state": state,
                "challenge": params["code_challenge"],
                "scope": request["scope"],
                "resource": request["resource"],
                "verifier": verifier,
                "flow": keys.digest(flow),
            },
            ttl=TXN_TTL,
        )
        login: Upstream = self._upstream()
        location = login.authorize_url(our_state, challenge, base + LOGIN_CALLBACK)
        return Redirect(location, (self._flow_cookie(base, flow),))

    def _validate(self, params: Mapping[str, str], client: Client, base: str) -> dict[str, str]:
        if params.get("response_type") != "code":
            raise UnsupportedResponseType("response_type must be 'code'")
        if "authorization_code" not in client.grant_types:
            raise InvalidRequest("this client is not registered for the authorization_code grant")
        challenge = params.get("code_challenge")
        if not challenge:
            raise InvalidRequest("code_challenge is required (PKCE, S256)")
        if params.get("code_challenge_method") != "S256":
            raise InvalidRequest("code_challenge_method must be S256")
        if not pkce.well_formed_challenge(challenge):
            raise InvalidRequest("code_challenge is not a S256 challenge (43 base64url characters)")
        if len(params.get("state") or "") > 1024:
            raise InvalidRequest("state is longer than 1024 characters")
        ours = resource_url(base)
        resource = params.get("resource") or ours
        if resource != ours:
            raise InvalidTarget(f"resource must be {ours}")
        allowed = client.scope or scopes.supported(self._settings)
        requested = scopes.parse(params.get("scope")) or client.scope or self._settings.basic_scopes
        scopes.within(requested, allowed)
        return {"scope": scopes.join(requested), "resource": resource}

    # -- /oauth/callback -------------------------------------------------------------

    def _take_transaction(
        self, params: Mapping[str, str], cookies: Mapping[str, str], base: str, kind: str
    ) -> dict[str, Any]:
        state = params.get("state") or ""
        txn = self._store.take(keys.auth_transaction(state)) if state else None
        if txn is None or txn.get("kind") != kind:
            raise PageError(400, "This sign-in link has expired or was already used. Start again.")
        if not same_browser(cookies, base, txn["flow"]):
            raise PageError(403, "This sign-in was started in another browser. Start again.")
        return txn

    def callback(
        self, params: Mapping[str, str], cookies: Mapping[str, str], base: str
    ) -> Redirect | PageOut:
        txn = self._take_transaction(params, cookies, base, "login")

        def back(error: str, description: str) -> ClientRedirectError:
            state = txn.get("client_state")
            return ClientRedirectError(
                error_redirect(txn["redirect_uri"], state, base, error, description)
            )

        if params.get("error"):
            raise back("access_denied", "the sign-in at the identity provider was not completed")
        login: Upstream = self._upstream()
        try:
            who = login.identify(params.get("code") or "", txn["verifier"], base + LOGIN_CALLBACK)
        except OAuthError as exc:
            raise back("server_error", exc.description) from None
        if who.github is not None:
            self._vault.put(who.sub, who.github)
        scope = self._entitled(txn["scope"], who.sub)
        browser = cookies.get(cookie_name(base, "browser"))
        if browser:
            remembered = self._store.get(keys.consent_grant(browser, txn["client_id"], who.sub))
            if remembered and set(scope.split()) <= set(str(remembered["scope"]).split()):
                return Redirect(self._code_redirect(txn, who.sub, scope, base))
        form_token = secrets.token_urlsafe(32)
        self._store.put(
            keys.consent_request(form_token),
            {**txn, "sub": who.sub, "user": who.name, "scope": scope},
            ttl=CONSENT_TTL,
        )
        client = self._clients.get(txn["client_id"])
        page = consent_page(
            action=base + CONSENT_PATH,
            form_token=form_token,
            client_name=client.client_name,
            client_id=client.client_id,
            redirect_host=urlsplit(txn["redirect_uri"]).netloc,
            scopes=[(s, self._meaning(s)) for s in scope.split()],
            user=who.name,
            resource_name=self._settings.resource_name,
        )
        return PageOut(page)

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

    def _code_redirect(self, txn: Mapping[str, Any], sub: str, scope: str, base: str) -> str:
        grant = Grant(sub, txn["client_id"], scope, txn["resource"])
        code = self._grants.new_code(grant, txn["redirect_uri"], txn["challenge"])
        return client_redirect(
            txn["redirect_uri"], {"code": code, "state": txn.get("client_state"), "iss": base}
        )

    # -- /oauth/consent ----------------------------------------------------------------

    def consent(self, form: Mapping[str, str], cookies: Mapping[str, str], base: str) -> Redirect:
        token = form.get("form_token") or ""
        request = self._store.get(keys.consent_request(token)) if token else None
        if request is None:
            raise PageError(400, "This consent request has expired or was already answered.")
        if not same_browser(cookies, base, request["flow"]):
            raise PageError(403, "This consent form was not opened in this browser.")
        if self._store.take(keys.consent_request(token)) is None:
            raise PageError(400, "This consent request has expired or was already answered.")
        if form.get("decision") != "approve":
            state = request.get("client_state")
            return Redirect(
                error_redirect(
                    request["redirect_uri"],
                    state,
                    base,
                    "access_denied",
                    "the user denied the request",
                )
            )
        browser = cookies.get(cookie_name(base, "browser")) or secrets.token_urlsafe(32)
        self._store.put(
            keys.consent_grant(browser, request["client_id"], request["sub"]),
            {"scope": request["scope"]},
            ttl=REMEMBER_SECONDS,
            new=False,
        )
        location = self._code_redirect(request, request["sub"], request["scope"], base)
        return Redirect(location, (self._cookie(base, "browser", browser, REMEMBER_SECONDS),))

    # -- the GitHub connect flow (an external IdP's users link GitHub) -------------------

    def connect(self, params: Mapping[str, str], cookies: Mapping[str, str], base: str) -> Redirect:
        ticket = params.get("ticket") or ""
        item = self._store.take(keys.connect_ticket(ticket)) if ticket else None
        if item is None:
            raise PageError(400, "This link has expired or was already used. Ask for a new one.")
        flow = cookies.get(cookie_name(base, "flow")) or secrets.token_urlsafe(32)
        state = secrets.token_urlsafe(32)
        verifier, challenge = pkce.new_pair()
        self._store.put(
            keys.auth_transaction(state),
            {
                "kind": "connect",
                "sub": item["sub"],
                "verifier": verifier,
                "flow": keys.digest(flow),
            },
            ttl=TXN_TTL,
        )
        github: Upstream = self._github()
        location = github.authorize_url(state, challenge, base + CONNECT_CALLBACK)
        return Redirect(location, (self._flow_cookie(base, flow),))

    def connect_callback(
        self, params: Mapping[str, str], cookies: Mapping[str, str], base: str
    ) -> PageOut:
        txn = self._take_transaction(params, cookies, base, "connect")
        if params.get("error"):
            raise PageError(400, "GitHub access was not granted; nothing was connected.")
        github: Upstream = self._github()
        try:
            who: UpstreamIdentity = github.identify(
                params.get("code") or "", txn["verifier"], base + CONNECT_CALLBACK
            )
        except OAuthError as exc:
            raise PageError(
                502, f"GitHub did not complete the connection: {exc.description}"
            ) from None
        assert who.github is not None
        self._vault.put(txn["sub"], who.github)
        return PageOut(
            message_page(
                200,
                "GitHub connected",
                f"Your GitHub account {who.name} is connected. You can close this window.",
            )
        )

    # -- cookies -----------------------------------------------------------------------

    def _cookie(self, base: str, name: str, value: str, max_age: int | None) -> Cookie:
        return Cookie(cookie_name(base, name), value, max_age, base.startswith("https://"))

    def _flow_cookie(self, base: str, flow: str) -> Cookie:
        return self._cookie(base, "flow", flow, TXN_TTL)
