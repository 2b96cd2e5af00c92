"""A local enterprise IdP that issues ID-JAGs, so enterprise-managed authorization runs
offline. A DEVELOPMENT TOOL: it signs in anyone who asks, on loopback only.

It plays the IdP's two parts of the flow (the MCP ext-auth "Enterprise-Managed
Authorization" profile):

1. single sign-on: ``POST /login`` with ``sub`` (and ``client_id``) returns an OpenID
   Connect ID token for that user, issued to that IdP client (no password: dev only);
2. RFC 8693 token exchange: ``POST /token`` with
   ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``,
   ``requested_token_type=urn:ietf:params:oauth:token-type:id-jag``, the ID token as
   ``subject_token`` (``subject_token_type=urn:ietf:params:oauth:token-type:id_token``),
   ``audience`` (the MCP authorization server's issuer), ``resource`` (the MCP URL) and
   ``scope``, with the IdP client's ``client_id``/``client_secret``. The answer's
   ``access_token`` is the ID-JAG: ``typ`` ``oauth-id-jag+jwt``, signed RS256, its
   ``client_id`` the MCP client's id at the authorization server (the administrator's
   mapping, :meth:`EnterpriseIdp.add_client`), its ``scope`` what the policy allows.

It is also the company's OpenID Connect sign-in for gistgate itself (``UPSTREAM_IDP=oidc``
at this issuer): ``GET /authorize`` (auto-approved as :attr:`EnterpriseIdp.login_subject`,
PKCE S256), ``POST /token`` with ``grant_type=authorization_code`` (HTTP Basic) and
``GET /userinfo``. That is how an enterprise user proves who they are when they open a
GitHub connect link (docs/identity-providers/enterprise.md, "Account linking").

It publishes ``/.well-known/openid-configuration`` (and the RFC 8414 name) and
``/jwks``. Tests use :meth:`EnterpriseIdp.mint` for assertions no real IdP would sign,
and :meth:`EnterpriseIdp.rotate` to change its key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = [
    "ID_JAG_TOKEN_TYPE",
    "ID_TOKEN_TYPE",
    "TOKEN_EXCHANGE",
    "EnterpriseIdp",
    "IdpClient",
]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN, not a secret
ID_JAG_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id-jag"  # noqa: S105 - a URN, not a secret
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 - a URN, not a secret
ID_JAG_LIFETIME = 300
MAX_BODY = 64 * 1024


class IdpClient(NamedTuple):
    """An MCP client as the IdP knows it: its IdP credentials, its id at the MCP
    authorization server, and the scopes the IdP's policy lets it have there."""

    client_id: str
    client_secret: str
    mcp_client_id: str
    scope: str


class _Key(NamedTuple):
    kid: str
    private: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


def _new_key() -> _Key:
    return _Key(
        uuid.uuid4().hex[:12], rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


class EnterpriseIdp:
    """The IdP on ``127.0.0.1``; ``start()`` binds it, ``issuer`` is its URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._keys = [_new_key()]
        self._clients: dict[str, IdpClient] = {}
        self._login_clients: dict[str, str] = {}  # OIDC sign-in: client_id -> secret
        self._codes: dict[str, dict[str, str]] = {}
        self._access: dict[str, str] = {}  # userinfo access token -> subject
        self.login_subject = "alice@example.com"  # who signs in at /authorize
        self.authorize_requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self.jwks_fetches = 0
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                idp._get(self)

            def do_POST(self) -> None:
                idp._post(self)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    def start(self) -> EnterpriseIdp:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve_forever that ran
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    # -- administration ---------------------------------------------------------------------

    def add_client(self, mcp_client_id: str, scope: str = "read:gists write:gists") -> IdpClient:
        """Register an MCP client at the IdP, mapped to its id at the authorization server."""
        client = IdpClient(
            "idp-" + secrets.token_hex(6), secrets.token_urlsafe(24), mcp_client_id, scope
        )
        with self._lock:
            self._clients[client.client_id] = client
        return client

    def add_login_client(self) -> tuple[str, str]:
        """An OpenID Connect client for gistgate's own sign-in: (client_id, secret)."""
        client_id, secret = "gistgate-" + secrets.token_hex(6), secrets.token_urlsafe(24)
        with self._lock:
            self._login_clients[client_id] = secret
        return client_id, secret

    def rotate(self, *, keep_previous: bool = False) -> str:
        """A new signing key (its kid), published at once; the old one stays if asked."""
        key = _new_key()
        with self._lock:
            self._keys = [key, *self._keys[:1]] if keep_previous else [key]
        return key.kid

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.public_jwk() for key in self._keys]}

    # -- tokens ---------------------------------------------------------------------------

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """``claims`` signed RS256 with the current key (``headers`` override the defaults)."""
        key = self._keys[0]
        header = {"typ": "oauth-id-jag+jwt", "kid": key.kid, **(headers or {})}
        return jwt.encode(claims, key.private, algorithm="RS256", headers=header)

    def mint(
        self,
        *,
        sub: str,
        client_id: str,
        audience: str,
        resource: str,
        scope: str | None = "read:gists write:gists",
        lifetime: int = ID_JAG_LIFETIME,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An ID-JAG, as the token exchange issues it (``claims`` add or replace any)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience,
            "resource": resource,
            "client_id": client_id,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + lifetime,
        }
        if scope is not None:
            body["scope"] = scope
        return self.sign({**body, **claims}, headers)

    def id_token(self, sub: str, client_id: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": sub, "aud": client_id, "iat": now, "exp": now + 600}
        return self.sign(claims, {"typ": "JWT"})

    # -- HTTP -------------------------------------------------------------------------------

    def _metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "token_endpoint": self.token_endpoint,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", TOKEN_EXCHANGE],
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["code"],
        }

    def _get(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
            _send(request, 200, self._metadata())
        elif path == "/jwks":
            self.jwks_fetches += 1
            _send(request, 200, self.jwks())
        elif path == "/authorize":
            self._authorize(request)
        elif path == "/userinfo":
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            sub = self._access.get(token)
            if sub is None:
                _send(request, 401, {"error": "invalid_token"})
            else:
                _send(request, 200, {"sub": sub, "email": sub, "preferred_username": sub})
        else:
            _send(request, 404, {"error": "not_found"})

    def _post(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            _send(request, 413, {"error": "invalid_request"})
            return
        raw = request.rfile.read(length).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(raw).items()}
        path = request.path.split("?", 1)[0]
        if path == "/login":
            client = self._clients.get(form.get("client_id", ""))
            if not form.get("sub") or client is None:
                _send(request, 400, {"error": "invalid_request"})
                return
            _send(request, 200, {"id_token": self.id_token(form["sub"], client.client_id)})
        elif path == "/token" and form.get("grant_type") == "authorization_code":
            status, body = self._redeem(form, request.headers.get("Authorization", ""))
            _send(request, status, body)
        elif path == "/token":
            status, body = self._exchange(form)
            _send(request, status, body)
        else:
            _send(request, 404, {"error": "not_found"})

    def _authorize(self, request: BaseHTTPRequestHandler) -> None:
        """Auto-approve: :attr:`login_subject` signs in (a dev IdP has no password page)."""
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.path).query).items()}
        self.authorize_requests.append(query)
        known = query.get("client_id") in self._login_clients
        if not known or query.get("code_challenge_method") != "S256" or "redirect_uri" not in query:
            _send(request, 400, {"error": "invalid_request"})
            return
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {**query, "sub": self.login_subject}
        target = (
            query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
        )
        request.send_response(302)
        request.send_header("Location", target)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def _redeem(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        """authorization_code for the sign-in client: PKCE, then tokens for userinfo."""
        try:
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return 401, {"error": "invalid_client"}
        expected = self._login_clients.get(client_id)
        if expected is None or not secrets.compare_digest(secret, expected):
            return 401, {"error": "invalid_client"}
        with self._lock:
            asked = self._codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if (
            asked is None
            or asked.get("client_id") != client_id
            or asked.get("code_challenge", "").encode() != challenge
        ):
            return 400, {"error": "invalid_grant"}
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._access[access] = asked["sub"]
        return 200, {
            "access_token": access,
            "token_type": "Bearer",
            "id_token": self.id_token(asked["sub"], client_id),
        }

    def _exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """RFC 8693 for an ID-JAG, with the checks the profile asks of the IdP."""
        client = self._clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(
            form.get("client_secret", ""), client.client_secret
        ):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != TOKEN_EXCHANGE:
            return 400, {"error": "unsupported_grant_type"}
        if form.get("requested_token_type") != ID_JAG_TOKEN_TYPE:
            return 400, {"error": "invalid_request", "error_description": "requested_token_type"}
        if form.get("subject_token_type") != ID_TOKEN_TYPE:
            return 400, {"error": "invalid_request", "error_description": "subject_token_type"}
        audience, resource = form.get("audience"), form.get("resource")
        if not audience or not resource:
            return 400, {"error": "invalid_request", "error_description": "audience, resource"}
        id_token = self._verified_id_token(form.get("subject_token", ""), client.client_id)
        if id_token is None:
            return 400, {"error": "invalid_grant", "error_description": "subject_token"}
        allowed = client.scope.split()
        asked = form.get("scope", "").split() or allowed
        granted = " ".join(s for s in asked if s in allowed)
        if not granted:  # the policy allows none of what was asked
            return 400, {"error": "invalid_scope"}
        assertion = self.mint(
            sub=id_token["sub"],
            client_id=client.mcp_client_id,
            audience=audience,
            resource=resource,
            scope=granted,
        )
        return 200, {
            "issued_token_type": ID_JAG_TOKEN_TYPE,
            "access_token": assertion,
            "token_type": "N_A",
            "scope": granted,
            "expires_in": ID_JAG_LIFETIME,
        }

    def _verified_id_token(self, token: str, client_id: str) -> dict[str, Any] | None:
        """Our own ID token, issued to the client that exchanges it (any published key)."""
        with self._lock:
            keys = list(self._keys)
        for key in keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key.private.public_key(),
                    algorithms=["RS256"],
                    audience=client_id,
                    issuer=self.issuer,
                )
            except jwt.PyJWTError:
                continue
            return claims
        return None


def _send(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Cache-Control", "no-store")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)
