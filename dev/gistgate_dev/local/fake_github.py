"""A fake GitHub REST API on 127.0.0.1, for tests and the local stack.

It is shaped like the real one where gistgate depends on it: the gist
endpoints (create, list with ``since`` and ``Link`` pagination, get, update
with file deletion by ``null``, delete), ``GET /user``, grant revocation
(``DELETE /applications/{client_id}/grant`` with basic auth), rate-limit
headers on every answer, GitHub's error bodies (``message`` plus
``documentation_url``, and ``errors`` on 422), and file truncation at 1 MB.

It also plays GitHub's OAuth web flow (``github.com``, so point both the web
and the API base URL at it):

* ``GET /login/oauth/authorize?client_id=&redirect_uri=&scope=&state=``
  ``&code_challenge=&code_challenge_method=S256`` approves at once as
  ``login_user`` and answers 302 to ``redirect_uri?code=...&state=...``.
  An unknown ``client_id`` gets a 404 page and a ``redirect_uri`` outside the
  app's registered callback a 400 page (neither redirects); with
  ``deny_authorization`` set the user "clicks Cancel" and the redirect
  carries ``error=access_denied``. Codes last 10 minutes.
* ``POST /login/oauth/access_token`` (form or JSON body, or query string:
  ``client_id, client_secret, code, redirect_uri, code_verifier``) answers
  ``access_token, token_type=bearer, scope`` (scopes comma-joined), as JSON
  with ``Accept: application/json`` and form-encoded otherwise. Failures are
  HTTP 200 with ``error`` (``incorrect_client_credentials``,
  ``bad_verification_code`` for an unknown, expired, reused or foreign code
  or a wrong PKCE verifier, ``redirect_uri_mismatch``), ``error_description``
  and ``error_uri``. The new ``gho_`` token acts as the user who approved,
  sends ``X-OAuth-Scopes`` on API answers, and dies (with the user's other
  tokens from that app) on ``DELETE /applications/{client_id}/grant``.

Tokens map to users; tests can inject faults (5xx, rate limiting, 401 for a
token) and read what was asked of it (``requests`` holds paths without query
strings, so no code or secret lands there). It is a development tool: a stdlib
threading HTTP server, no persistence.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

TRUNCATE_AT = 1_000_000
DOCS = "https://docs.github.com/rest"
CODE_TTL = 600.0  # GitHub's authorization codes expire after 10 minutes
_EXCHANGE_DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
_AUTHORIZE_DOCS = (
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/"
)
OAUTH_ERRORS = {  # error -> (error_description, error_uri), as GitHub words them
    "incorrect_client_credentials": (
        "The client_id and/or client_secret passed are incorrect.",
        _EXCHANGE_DOCS + "#incorrect-client-credentials",
    ),
    "redirect_uri_mismatch": (
        "The redirect_uri MUST match the registered callback URL for this application.",
        _AUTHORIZE_DOCS + "#redirect-uri-mismatch2",
    ),
    "bad_verification_code": (
        "The code passed is incorrect or expired.",
        _EXCHANGE_DOCS + "#bad-verification-code",
    ),
    "access_denied": (
        "The user has denied your application access.",
        _AUTHORIZE_DOCS + "#access-denied",
    ),
}
_LOOPBACK = {"127.0.0.1", "::1"}


class Authorization(NamedTuple):
    """What ``/login/oauth/authorize`` granted, waiting for its code's exchange."""

    client_id: str
    redirect_uri: str
    login_token: str  # the token (in ``users``) of the user who approved
    user: dict[str, Any]
    scope: str  # comma-joined, as the token endpoint reports it
    code_challenge: str | None  # S256
    expires_at: float


def _now_iso(moment: float | None = None) -> str:
    return datetime.fromtimestamp(moment or time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub:
    """State plus an HTTP server. Use as a context manager or call start/stop."""

    def __init__(self, rate_limit: int = 5000) -> None:
        self.users: dict[str, dict[str, Any]] = {}  # token -> user
        self.gists: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, token)
        self.revoked: list[tuple[str, str]] = []  # (client_id, token)
        self.apps: dict[str, str] = {}  # client_id -> client_secret
        self.callbacks: dict[str, str] = {}  # client_id -> registered callback URL
        self.login_user: str | None = None  # token of who "signs in"; None: the last added
        self.deny_authorization = False  # the user clicks Cancel on the consent page
        self.codes: dict[str, Authorization] = {}  # live authorization codes
        self.code_ttl = CODE_TTL
        self.issued: dict[str, str] = {}  # OAuth token -> client_id it was issued to
        self.token_scopes: dict[str, str] = {}  # OAuth token -> comma-joined scopes
        self._added: list[str] = []  # add_user tokens, oldest first
        self.faults: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self.rate_limit = rate_limit
        self.remaining: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._next_id = 1

    # -- set-up ---------------------------------------------------------------

    def add_user(self, token: str, login: str, user_id: int, **extra: Any) -> dict[str, Any]:
        """Make ``token`` authenticate as ``login``."""
        user = {
            "login": login,
            "id": user_id,
            "name": extra.get("name", login.title()),
            "bio": extra.get("bio"),
            "public_gists": 0,
            "followers": extra.get("followers", 0),
            "html_url": f"https://github.com/{login}",
            "type": "User",
        }
        self.users[token] = user
        self._added.append(token)
        return user

    def add_app(self, client_id: str, client_secret: str, callback: str | None = None) -> None:
        """Register an OAuth app; with no ``callback``, any ``redirect_uri`` goes."""
        self.apps[client_id] = client_secret
        if callback is None:
            self.callbacks.pop(client_id, None)
        else:
            self.callbacks[client_id] = callback

    def revoke_token(self, token: str) -> None:
        """The token stops working (GitHub answers 401)."""
        self.users.pop(token, None)

    def fail_next(
        self, status: int, headers: dict[str, str] | None = None, body: Any = None
    ) -> None:
        """The next request gets this answer instead of its real one."""
        self.faults.append((status, headers or {}, body or {"message": "Server Error"}))

    def count(self, method: str, prefix: str) -> int:
        """How many requests matched."""
        return sum(1 for m, p, _ in self.requests if m == method and p.startswith(prefix))

    # -- server ---------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server: (host, port)
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            github = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        # A short poll interval: stop() (shutdown) waits up to one interval.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API --------------------------------------------------------------

    def new_gist_id(self) -> str:
        with self._lock:
            self._next_id += 1
            return f"{self._next_id:04x}{secrets.token_hex(14)}"

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: Any
    ) -> tuple[int, dict[str, str], Any]:
        auth = headers.get("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else None
        self.requests.append((method, path, token))  # no query string: codes, secrets
        if self.faults:
            return self.faults.pop(0)
        if path == "/login/oauth/authorize" and method == "GET":
            return self._authorize(query)
        if path == "/login/oauth/access_token" and method == "POST":
            return self._access_token(query, headers, body)
        if method == "DELETE" and path.startswith("/applications/"):
            return self._revoke(path, auth, body)
        user = self.users.get(token or "")
        if user is None:
            return (
                401,
                {},
                {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"},
            )
        key = str(user["id"])
        left = self.remaining.get(key, self.rate_limit)
        limit_headers = {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(left - 1, 0)),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }
        if left <= 0:
            limit_headers["x-ratelimit-remaining"] = "0"
            return (
                403,
                limit_headers,
                {
                    "message": "API rate limit exceeded for user ID " + key + ".",
                    "documentation_url": DOCS,
                },
            )
        self.remaining[key] = left - 1
        if token in self.token_scopes:
            limit_headers["x-oauth-scopes"] = ", ".join(
                s for s in self.token_scopes[token].split(",") if s
            )
        status, extra, payload = self._route(method, path, query, user, body)
        return status, {**limit_headers, **extra}, payload

    def _revoke(self, path: str, auth: str, body: Any) -> tuple[int, dict[str, str], Any]:
        match = re.fullmatch(r"/applications/([^/]+)/grant", path)
        if not match or not auth.startswith("Basic "):
            return 404, {}, {"message": "Not Found", "documentation_url": DOCS}
        client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != match.group(1) or self.apps.get(client_id) != secret:
            return 404, {}, {"message": "Not Found", "documentation_url": DOCS}
        token = (body or {}).get("access_token")
        if token not in self.users:
            return 422, {}, {"message": "Validation Failed", "documentation_url": DOCS}
        if self.issued.get(token, client_id) != client_id:  # another app's token
            return 404, {}, {"message": "Not Found", "documentation_url": DOCS}
        # Deleting a grant deletes every token the app holds for that user.
        user_id = self.users[token]["id"]
        doomed = [token] + [
            t
            for t, c in self.issued.items()
            if c == client_id and t != token and t in self.users and self.users[t]["id"] == user_id
        ]
        for t in doomed:
            self.revoked.append((client_id, t))
            self.users.pop(t)
            self.issued.pop(t, None)
            self.token_scopes.pop(t, None)
        return 204, {}, None

    # -- the OAuth web flow (github.com/login/oauth/...) ----------------------------

    def _page(self, status: int, title: str, text: str) -> tuple[int, dict[str, str], Any]:
        body = (
            f"<!DOCTYPE html><html><head><title>{html.escape(title)} · GitHub</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
        )
        return status, {"content-type": "text/html; charset=utf-8"}, body

    def _callback_ok(self, client_id: str, redirect_uri: str) -> bool:
        """GitHub's rule: same scheme and host, a subdirectory of the callback's path,
        and any port when the callback is on a loopback IP."""
        callback = self.callbacks.get(client_id)
        if callback is None:
            return True
        want, got = urlsplit(callback), urlsplit(redirect_uri)
        if want.scheme != got.scheme or want.hostname != got.hostname:
            return False
        if want.port != got.port and want.hostname not in _LOOPBACK:
            return False
        base = want.path.rstrip("/")
        return got.path == want.path or got.path.startswith(base + "/") or (not base)

    def _signed_in(self) -> tuple[str, dict[str, Any]] | None:
        if self.login_user is not None:
            user = self.users.get(self.login_user)
            return (self.login_user, user) if user is not None else None
        for token in reversed(self._added):
            if token in self.users:
                return token, self.users[token]
        return None

    def _authorize(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        def arg(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        client_id = arg("client_id") or ""
        if client_id not in self.apps:
            return self._page(404, "Page not found", "No OAuth app has this client_id.")
        redirect_uri = arg("redirect_uri") or self.callbacks.get(client_id)
        if not redirect_uri:
            return self._page(400, "redirect_uri_mismatch", "No redirect_uri and no callback URL.")
        if not self._callback_ok(client_id, redirect_uri):
            description = OAUTH_ERRORS["redirect_uri_mismatch"][0]
            return self._page(400, "redirect_uri_mismatch", description)
        challenge, method = arg("code_challenge"), arg("code_challenge_method")
        if (challenge or method) and (method != "S256" or not challenge):  # no "plain"
            return self._page(400, "invalid_request", "PKCE needs code_challenge_method=S256.")
        state = arg("state")
        if self.deny_authorization:
            description, uri = OAUTH_ERRORS["access_denied"]
            params = {"error": "access_denied", "error_description": description}
            return self._redirect(redirect_uri, {**params, "error_uri": uri, "state": state})
        signed_in = self._signed_in()
        if signed_in is None:
            return self._page(401, "Sign in to GitHub", "The fake has no user to sign in.")
        login_token, user = signed_in
        scopes: list[str] = []
        for scope in re.split(r"[\s,]+", arg("scope") or ""):
            if scope and scope not in scopes:
                scopes.append(scope)
        code = secrets.token_hex(10)  # GitHub's codes are 20 hex digits
        with self._lock:
            self.codes[code] = Authorization(
                client_id,
                redirect_uri,
                login_token,
                user,
                ",".join(scopes),
                challenge,
                time.time() + self.code_ttl,
            )
        return self._redirect(redirect_uri, {"code": code, "state": state})

    def _redirect(self, uri: str, params: dict[str, str | None]) -> tuple[int, dict[str, str], Any]:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        location = uri + ("&" if urlsplit(uri).query else "?") + query
        return 302, {"location": location, "content-type": "text/html; charset=utf-8"}, ""

    def _access_token(
        self, query: dict[str, list[str]], headers: Any, body: Any
    ) -> tuple[int, dict[str, str], Any]:
        args = {k: v[0] for k, v in query.items() if v}
        if isinstance(body, dict):
            args.update({k: "" if v is None else str(v) for k, v in body.items()})
        wants_json = "json" in (headers.get("Accept") or "")

        def reply(payload: dict[str, str]) -> tuple[int, dict[str, str], Any]:
            if wants_json:
                return 200, {}, payload
            return (
                200,
                {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
                urlencode(payload),
            )

        def error(name: str) -> tuple[int, dict[str, str], Any]:
            description, uri = OAUTH_ERRORS[name]
            return reply({"error": name, "error_description": description, "error_uri": uri})

        client_id = args.get("client_id", "")
        secret = self.apps.get(client_id)
        given = args.get("client_secret", "").encode()
        if secret is None or not secrets.compare_digest(secret.encode(), given):
            return error("incorrect_client_credentials")
        with self._lock:
            grant = self.codes.get(args.get("code", ""))
            if grant is None or grant.client_id != client_id:
                return error("bad_verification_code")
            del self.codes[args["code"]]  # single use, even when the exchange fails
        if time.time() >= grant.expires_at:
            return error("bad_verification_code")
        if args.get("redirect_uri") and args["redirect_uri"] != grant.redirect_uri:
            return error("redirect_uri_mismatch")
        if grant.code_challenge is not None:
            verifier = args.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not verifier or not secrets.compare_digest(
                computed.encode(), grant.code_challenge.encode()
            ):
                return error("bad_verification_code")
        token = "gho_" + secrets.token_hex(18)
        with self._lock:
            self.users[token] = grant.user
            self.issued[token] = client_id
            self.token_scopes[token] = grant.scope
        return reply({"access_token": token, "scope": grant.scope, "token_type": "bearer"})

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], user: dict[str, Any], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        if path == "/user" and method == "GET":
            return 200, {}, user
        if path == "/gists" and method == "POST":
            return self._create(user, body)
        if path == "/gists" and method == "GET":
            return self._list(user, query)
        match = re.fullmatch(r"/gists/([0-9a-zA-Z]+)", path)
        if match:
            gist = self.gists.get(match.group(1))
            if gist is None:  # secret gists are unlisted, not private: any token may GET them
                return 404, {}, {"message": "Not Found", "documentation_url": DOCS}
            if method == "GET":
                return 200, {}, self._view(gist, full=True)
            if gist["owner"]["id"] != user["id"]:
                return 404, {}, {"message": "Not Found", "documentation_url": DOCS}
            if method == "PATCH":
                return self._update(gist, body)
            if method == "DELETE":
                del self.gists[gist["id"]]
                return 204, {}, None
        return 404, {}, {"message": "Not Found", "documentation_url": DOCS}

    def _invalid(self, field: str, code: str) -> tuple[int, dict[str, str], Any]:
        return (
            422,
            {},
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Gist", "code": code, "field": field}],
                "documentation_url": DOCS,
            },
        )

    def _create(self, user: dict[str, Any], body: Any) -> tuple[int, dict[str, str], Any]:
        files = (body or {}).get("files")
        if not isinstance(files, dict) or not files:
            return self._invalid("files", "missing_field")
        for meta in files.values():
            if not isinstance(meta, dict) or not str(meta.get("content") or "").strip():
                return self._invalid("files", "missing_field")
        now = time.time()
        gist_id = self.new_gist_id()
        gist = {
            "id": gist_id,
            "description": body.get("description") or "",
            "public": bool(body.get("public", False)),
            "owner": {"login": user["login"], "id": user["id"]},
            "files": {name: meta["content"] for name, meta in files.items()},
            "created": now,
            "updated": now,
        }
        self.gists[gist_id] = gist
        return 201, {"location": f"/gists/{gist_id}"}, self._view(gist, full=True)

    def _update(self, gist: dict[str, Any], body: Any) -> tuple[int, dict[str, str], Any]:
        body = body or {}
        if "description" in body:
            gist["description"] = body["description"] or ""
        for name, meta in (body.get("files") or {}).items():
            if meta is None:
                gist["files"].pop(name, None)
            else:
                gist["files"][meta.get("filename") or name] = meta.get(
                    "content", gist["files"].get(name, "")
                )
        if not gist["files"]:
            return self._invalid("files", "missing_field")
        gist["updated"] = time.time()
        return 200, {}, self._view(gist, full=True)

    def _list(
        self, user: dict[str, Any], query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], Any]:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = max(int(query.get("page", ["1"])[0]), 1)
        since = query.get("since", [None])[0]
        cutoff = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp() if since else None
        mine = sorted(
            (g for g in self.gists.values() if g["owner"]["id"] == user["id"]),
            key=lambda g: g["created"],
            reverse=True,
        )
        if cutoff is not None:
            mine = [g for g in mine if g["updated"] >= cutoff]
        chunk = mine[(page - 1) * per_page : page * per_page]
        headers = {}
        links = []
        base = f"{self.url}/gists?per_page={per_page}"
        if page * per_page < len(mine):
            links.append(f'<{base}&page={page + 1}>; rel="next"')
            last = (len(mine) + per_page - 1) // per_page
            links.append(f'<{base}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{base}&page={page - 1}>; rel="prev"')
        if links:
            headers["link"] = ", ".join(links)
        return 200, headers, [self._view(g, full=False) for g in chunk]

    def _view(self, gist: dict[str, Any], *, full: bool) -> dict[str, Any]:
        files = {}
        for name, content in gist["files"].items():
            meta: dict[str, Any] = {
                "filename": name,
                "type": "text/plain",
                "language": "Python" if name.endswith(".py") else "Text",
                "raw_url": f"https://gist.githubusercontent.com/{gist['owner']['login']}/{gist['id']}/raw/{name}",
                "size": len(content.encode()),
            }
            if full:
                truncated = len(content) > TRUNCATE_AT
                meta["truncated"] = truncated
                meta["content"] = content[:TRUNCATE_AT] if truncated else content
            files[name] = meta
        return {
            "id": gist["id"],
            "url": f"{self.url}/gists/{gist['id']}",
            "html_url": f"https://gist.github.com/{gist['id']}",
            "description": gist["description"],
            "public": gist["public"],
            "owner": dict(gist["owner"]),
            "files": files,
            "created_at": _now_iso(gist["created"]),
            "updated_at": _now_iso(gist["updated"]),
            "truncated": False,
        }


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"
    # One response is two writes (headers, body): without TCP_NODELAY, Nagle plus the
    # client's delayed ACK add ~40 ms to every call.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``FakeGitHub.requests`` instead."""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form = "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or "")
        try:
            if form and parts.path.startswith("/login/oauth/"):
                fields = parse_qs(raw.decode(), keep_blank_values=True)
                body: Any = {key: values[0] for key, values in fields.items()}
            else:
                body = json.loads(raw) if raw else None
        except ValueError:
            self._reply(400, {}, {"message": "Problems parsing JSON", "documentation_url": DOCS})
            return
        status, headers, payload = self.github.handle(
            self.command, parts.path, parse_qs(parts.query), self.headers, body
        )
        self._reply(status, headers, payload)

    def _reply(self, status: int, headers: dict[str, str], payload: Any) -> None:
        """``payload`` is JSON unless it is a ``str`` (sent as is, typed by a
        ``content-type`` entry in ``headers``)."""
        if payload is None:
            data = b""
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        content_type = "application/json; charset=utf-8"
        extra = {}
        for key, value in headers.items():
            if key.lower() == "content-type":
                content_type = value
            else:
                extra[key] = value
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server's names
