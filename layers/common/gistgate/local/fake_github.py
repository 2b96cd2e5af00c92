"""A fake GitHub REST API on 127.0.0.1, for tests and the local stack.

It is shaped like the real one where gistgate depends on it: the gist
endpoints (create, list with ``since`` and ``Link`` pagination, get, update
with file deletion by ``null``, delete), ``GET /user``, grant revocation
(``DELETE /applications/{client_id}/grant`` with basic auth), rate-limit
headers on every answer, GitHub's error bodies (``message`` plus
``documentation_url``, and ``errors`` on 422), and file truncation at 1 MB.

Tokens map to users; tests can inject faults (5xx, rate limiting, 401 for a
token) and read what was asked of it. It is a development tool: a stdlib
threading HTTP server, no persistence.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TRUNCATE_AT = 1_000_000
DOCS = "https://docs.github.com/rest"


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
        return user

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
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            github = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
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
        self.requests.append((method, path, token))
        if self.faults:
            return self.faults.pop(0)
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
        self.revoked.append((client_id, token))
        self.users.pop(token)
        return 204, {}, None

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
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._reply(400, {}, {"message": "Problems parsing JSON", "documentation_url": DOCS})
            return
        status, headers, payload = self.github.handle(
            self.command, parts.path, parse_qs(parts.query), self.headers, body
        )
        self._reply(status, headers, payload)

    def _reply(self, status: int, headers: dict[str, str], payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server's names
