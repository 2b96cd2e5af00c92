"""gistgate_dev/cli/token.py: `gistgate token` against a real token endpoint on 127.0.0.1.

tests/fixtures/loopback.py serves only a JWKS and an introspection answer, so
the token endpoint here is its own small stdlib server: it authenticates the
client (Basic per RFC 6749 §2.3.1, or in the body), counts requests and serves
discovery documents. It also takes the jwt-bearer grant (an ID-JAG, each one once);
``--enterprise`` gets its ID-JAGs from make dev's local enterprise IdP.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import jwt
import pytest
from gistgate_dev.cli import main
from gistgate_dev.cli.token import (
    CACHE_ENV,
    EXPIRY_MARGIN,
    SECRET_ENV,
    ClientConfig,
    OAuthError,
    TokenCache,
    TokenError,
    TokenManager,
    basic_auth_header,
    cache_key,
    default_cache_path,
)
from gistgate_dev.local.enterprise_idp import EnterpriseIdp

from tests.fixtures.clock import FakeClock

# A ':' in both and non-ASCII in the secret: only the RFC 6749 §2.3.1 encoding
# (form-urlencode each part, then Basic) survives the round trip.
CLIENT_ID = "svc:reports"
SECRET = "p@ss:w0rd+/é-S3CRET"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
USED = "the assertion has been used already"


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    auth: str | None  # "basic", "post" or None


class TokenServer:
    """A token endpoint (POST /oauth/token) and discovery documents (GET)."""

    def __init__(self) -> None:
        self.clients = {CLIENT_ID: SECRET}
        self.expires_in: Any = 3600
        self.documents: dict[str, dict[str, Any]] = {}
        self.error: tuple[int, dict[str, Any]] | None = None  # forced error response
        self.raw: tuple[int, bytes, dict[str, str]] | None = None  # forced raw response
        self.hang = threading.Event()  # set: requests wait until released
        self.release = threading.Event()
        self.seen: list[Seen] = []
        self.issued: list[str] = []
        self.spent: set[str] = set()  # jwt-bearer assertions already traded
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, document: dict[str, Any]) -> None:
                self._send(
                    status, json.dumps(document).encode(), {"Content-Type": "application/json"}
                )

            def do_GET(self) -> None:
                server.seen.append(Seen("GET", self.path, dict(self.headers), {}, None))
                if self.path in server.documents:
                    self._json(200, server.documents[self.path])
                else:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                client = server.authenticate(self.headers.get("Authorization"), form)
                server.seen.append(Seen("POST", self.path, dict(self.headers), form, client[2]))
                if server.hang.is_set():
                    server.release.wait(10)
                    return
                if server.raw is not None:
                    self._send(*server.raw)
                    return
                if server.error is not None:
                    self._json(*server.error)
                    return
                if self.path != "/oauth/token":
                    self._json(404, {"error": "not_found"})
                    return
                client_id, secret, _ = client
                if client_id is None or server.clients.get(client_id) != secret:
                    self._json(401, {"error": "invalid_client", "error_description": "bad client"})
                    return
                if form.get("grant_type") == JWT_BEARER:
                    assertion = form.get("assertion", "")
                    if assertion in server.spent:  # single use, as RFC 7523 §3 allows
                        self._json(400, {"error": "invalid_grant", "error_description": USED})
                        return
                    server.spent.add(assertion)
                elif form.get("grant_type") != "client_credentials":
                    self._json(400, {"error": "unsupported_grant_type"})
                    return
                token = f"tok-{len(server.issued) + 1}-{os.urandom(6).hex()}"
                server.issued.append(token)
                response: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
                if server.expires_in is not None:
                    response["expires_in"] = server.expires_in
                if "scope" in form:
                    response["scope"] = form["scope"]
                response["refresh_token"] = "rt-should-not-be-kept"
                self._json(200, response)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_endpoint = f"{self.url}/oauth/token"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    @staticmethod
    def authenticate(
        header: str | None, form: dict[str, str]
    ) -> tuple[str | None, str | None, str | None]:
        if header and header.startswith("Basic "):
            pair = base64.b64decode(header[6:]).decode()
            client_id, _, secret = pair.partition(":")
            return unquote_plus(client_id), unquote_plus(secret), "basic"
        if "client_id" in form:
            return form["client_id"], form.get("client_secret"), "post"
        return None, None, None

    @property
    def token_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def idp() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real ~/.cache or picks up a real secret."""
    cache = tmp_path / "cache" / "gistgate" / "tokens.json"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(SECRET_ENV, raising=False)
    return cache


@pytest.fixture
def cache_file(_isolated: Path) -> Path:
    return _isolated


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["token", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def base_args(idp: TokenServer, *extra: str) -> list[str]:
    return [
        "--token-endpoint",
        idp.token_endpoint,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        SECRET,
        *extra,
    ]


def config(idp: TokenServer, **overrides: Any) -> ClientConfig:
    values: dict[str, Any] = {
        "token_endpoint": idp.token_endpoint,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    return ClientConfig(**{**values, **overrides})


def assert_no_secrets(text: str, idp: TokenServer) -> None:
    assert SECRET not in text
    for token in idp.issued:
        assert token not in text


# ---- the grant ----------------------------------------------------------------------------


def test_prints_the_token_alone_using_http_basic_by_default(idp, capsys):
    code, out, err = run(capsys, *base_args(idp))

    assert (code, err) == (0, "")
    assert out == idp.issued[0] + "\n"
    [seen] = idp.token_requests
    assert seen.auth == "basic"
    assert seen.form == {"grant_type": "client_credentials"}
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_basic_auth_header_form_urlencodes_each_part_first():
    # RFC 6749 §2.3.1 / Appendix B: application/x-www-form-urlencoded, then Basic.
    header = basic_auth_header("a b:c", "x+y/é")
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    assert decoded == "a+b%3Ac:x%2By%2F%C3%A9"


def test_post_auth_sends_the_credentials_in_the_body(idp, capsys):
    code, out, _ = run(capsys, *base_args(idp, "--auth", "post"))

    assert code == 0
    assert out.strip() == idp.issued[0]
    [seen] = idp.token_requests
    assert seen.auth == "post"
    assert "Authorization" not in seen.headers
    assert seen.form == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }


def test_scope_and_resource_are_forwarded(idp, capsys):
    resource = "https://mcp.example.com/mcp"
    code, _, _ = run(
        capsys, *base_args(idp, "--scope", "gists:read gists:write", "--resource", resource)
    )

    assert code == 0
    [seen] = idp.token_requests
    assert seen.form["scope"] == "gists:read gists:write"
    assert seen.form["resource"] == resource


def test_secret_from_the_environment(idp, capsys, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    code, out, _ = run(capsys, "--token-endpoint", idp.token_endpoint, "--client-id", CLIENT_ID)

    assert code == 0
    assert out.strip() == idp.issued[0]


def test_json_prints_the_response_without_a_refresh_token(idp, capsys):
    code, out, _ = run(capsys, *base_args(idp, "--json", "--scope", "gists:read"))

    assert code == 0
    document = json.loads(out)
    assert document["access_token"] == idp.issued[0]
    assert document["token_type"] == "Bearer"
    assert document["scope"] == "gists:read"
    assert 3590 <= document["expires_in"] <= 3600
    assert document["expires_at"] == pytest.approx(time.time() + 3600, abs=10)
    assert "refresh_token" not in document


# ---- the cache ----------------------------------------------------------------------------


def test_a_cached_token_is_reused_without_a_request(idp, capsys):
    first = run(capsys, *base_args(idp))
    second = run(capsys, *base_args(idp))

    assert first == second == (0, idp.issued[0] + "\n", "")
    assert len(idp.token_requests) == 1


@pytest.mark.parametrize(
    "change",
    [
        ["--scope", "gists:write"],
        ["--resource", "https://other.example.com/mcp"],
        ["--client-id", "other"],
    ],
    ids=["scope", "resource", "client"],
)
def test_the_cache_is_keyed_by_scope_resource_and_client(idp, capsys, change):
    idp.clients["other"] = SECRET
    run(capsys, *base_args(idp, "--scope", "gists:read"))
    code, out, _ = run(capsys, *base_args(idp, "--scope", "gists:read"), *change)

    assert code == 0
    assert len(idp.token_requests) == 2
    assert out.strip() == idp.issued[1]


def test_scope_order_does_not_split_the_cache(idp, capsys):
    run(capsys, *base_args(idp, "--scope", "a b"))
    run(capsys, *base_args(idp, "--scope", "b a"))

    assert len(idp.token_requests) == 1


def test_the_cache_key_does_not_hold_the_secret(idp):
    key = cache_key(config(idp))
    rotated = cache_key(config(idp, client_secret="rotated"))

    assert SECRET not in key
    assert key != rotated  # a new secret does not reuse the old secret's token


def set_expiry(cache_file: Path, expires_at: Any) -> None:
    document = json.loads(cache_file.read_text())
    for entry in document["tokens"].values():
        entry["expires_at"] = expires_at
    cache_file.write_text(json.dumps(document))


def test_a_token_within_five_minutes_of_expiry_is_replaced(idp, capsys, cache_file):
    run(capsys, *base_args(idp))
    set_expiry(cache_file, time.time() + EXPIRY_MARGIN - 100)

    code, out, _ = run(capsys, *base_args(idp))

    assert code == 0
    assert len(idp.token_requests) == 2
    assert out.strip() == idp.issued[1]


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), "soon", None])
def test_a_cached_entry_with_a_bad_expiry_is_replaced(idp, capsys, cache_file, bad):
    run(capsys, *base_args(idp))
    set_expiry(cache_file, bad)

    code, out, _ = run(capsys, *base_args(idp))

    assert code == 0
    assert out.strip() == idp.issued[1]


@pytest.mark.parametrize("bad", ["Infinity", float("inf"), float("nan"), -5, True])
def test_an_unusable_expires_in_is_not_cached(idp, capsys, bad):
    idp.expires_in = bad
    assert run(capsys, *base_args(idp))[0] == 0
    assert run(capsys, *base_args(idp))[0] == 0

    assert len(idp.token_requests) == 2


def test_a_token_with_more_than_five_minutes_left_is_kept(idp, capsys, cache_file):
    run(capsys, *base_args(idp))
    set_expiry(cache_file, time.time() + EXPIRY_MARGIN + 100)

    code, out, _ = run(capsys, *base_args(idp))

    assert code == 0
    assert len(idp.token_requests) == 1
    assert out.strip() == idp.issued[0]


def test_refetch_at_the_margin_with_an_injected_clock(idp, tmp_path):
    clock = FakeClock()
    manager = TokenManager(config(idp), cache=TokenCache(tmp_path / "t.json"), clock=clock)

    first = manager.access_token()
    clock.advance(3600 - EXPIRY_MARGIN - 1)
    assert manager.access_token() == first
    assert len(idp.token_requests) == 1

    clock.advance(1)
    second = manager.access_token()
    assert second != first
    assert len(idp.token_requests) == 2
    assert manager.token_response()["expires_in"] == 3600


def test_cached_json_counts_expires_in_down(idp, tmp_path):
    clock = FakeClock()
    manager = TokenManager(config(idp), cache=TokenCache(tmp_path / "t.json"), clock=clock)
    manager.token_response()
    clock.advance(1000)

    assert manager.token_response()["expires_in"] == 2600


def test_a_token_without_expires_in_is_not_cached(idp, capsys, cache_file):
    idp.expires_in = None
    run(capsys, *base_args(idp))
    run(capsys, *base_args(idp))

    assert len(idp.token_requests) == 2
    assert not cache_file.exists()


def test_expires_in_as_a_string_is_understood(idp, capsys):
    idp.expires_in = "3600"
    run(capsys, *base_args(idp))
    run(capsys, *base_args(idp))

    assert len(idp.token_requests) == 1


def test_no_cache_neither_reads_nor_writes(idp, capsys, cache_file):
    run(capsys, *base_args(idp, "--no-cache"))
    run(capsys, *base_args(idp, "--no-cache"))

    assert len(idp.token_requests) == 2
    assert not cache_file.exists()


def test_the_cache_file_is_private(idp, capsys, cache_file):
    run(capsys, *base_args(idp))

    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_file.parent.stat().st_mode) == 0o700
    assert SECRET not in cache_file.read_text()
    assert "rt-should-not-be-kept" not in cache_file.read_text()


def test_a_wider_cache_file_is_replaced_by_a_private_one(idp, capsys, cache_file):
    cache_file.parent.mkdir(parents=True)
    cache_file.write_text("{}")
    cache_file.chmod(0o644)

    run(capsys, *base_args(idp))

    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600


def test_cache_file_and_env_override(idp, capsys, tmp_path, monkeypatch):
    chosen = tmp_path / "elsewhere" / "cache.json"
    run(capsys, *base_args(idp, "--cache-file", str(chosen)))
    assert chosen.exists()

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env.json"))
    assert default_cache_path() == tmp_path / "env.json"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_path() == Path.home() / ".cache" / "gistgate" / "tokens.json"


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe binary",
        b"[]",
        b'{"version": 1, "tokens": []}',
        b'{"version": 1, "tokens": {"k": "x", "j": {"expires_at": "soon"}}}',
        b'{"version": 99, "tokens": {}}',
        b"",
    ],
    ids=["bad-json", "binary", "list", "tokens-list", "bad-entries", "version", "empty"],
)
def test_a_corrupt_cache_is_ignored_and_overwritten(idp, capsys, cache_file, content):
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(content)

    code, out, err = run(capsys, *base_args(idp))

    assert (code, err) == (0, "")
    assert out.strip() == idp.issued[0]
    document = json.loads(cache_file.read_text())
    assert document["version"] == 1
    assert len(document["tokens"]) == 1
    run(capsys, *base_args(idp))
    assert len(idp.token_requests) == 1  # and the rewritten cache works


def test_an_unwritable_cache_warns_but_still_prints_the_token(idp, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    code, out, err = run(capsys, *base_args(idp, "--cache-file", str(blocker / "tokens.json")))

    assert code == 0
    assert out.strip() == idp.issued[0]
    assert "warning: could not write the token cache" in err
    assert_no_secrets(err, idp)


# ---- errors -------------------------------------------------------------------------------


def test_an_oauth_error_exits_1_naming_the_code_without_the_secret(idp, capsys):
    idp.clients[CLIENT_ID] = "something else"

    code, out, err = run(capsys, *base_args(idp))

    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "invalid_client" in err
    assert "HTTP 401" in err
    assert_no_secrets(err, idp)


def test_a_secret_echoed_by_the_server_is_redacted(idp, capsys):
    idp.error = (400, {"error": "invalid_scope", "error_description": f"no\nscope for {SECRET}"})

    code, _, err = run(capsys, *base_args(idp))

    assert code == 1
    assert err.count("\n") == 1
    assert "invalid_scope" in err
    assert "[redacted]" in err
    assert_no_secrets(err, idp)


def test_oauth_error_exception_and_config_repr_hold_no_secret(idp):
    idp.error = (400, {"error": "invalid_request", "error_description": SECRET})
    manager = TokenManager(config(idp))

    with pytest.raises(OAuthError) as caught:
        manager.access_token()

    assert caught.value.error == "invalid_request"
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert SECRET not in repr(manager.config)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b"<html>oops</html>", "answered HTTP 500"),
        (200, b"not json", "did not answer JSON"),
        (200, b'{"token_type": "Bearer"}', "sent no access_token"),
        (302, b"", "redirected (HTTP 302); not following"),
    ],
    ids=["500", "not-json", "no-token", "redirect"],
)
def test_bad_responses_exit_1(idp, capsys, status, body, message):
    idp.raw = (status, body, {"Location": "https://elsewhere.example.com/token"})

    code, out, err = run(capsys, *base_args(idp))

    assert (code, out) == (1, "")
    assert message in err
    assert_no_secrets(err, idp)


def test_a_refused_connection_exits_1(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens
    endpoint = f"http://127.0.0.1:{port}/oauth/token"

    code, out, err = run(
        capsys, "--token-endpoint", endpoint, "--client-id", CLIENT_ID, "--client-secret", SECRET
    )

    assert (code, out) == (1, "")
    assert f"could not reach {endpoint}" in err
    assert SECRET not in err


def test_a_slow_endpoint_times_out(idp):
    idp.hang.set()
    manager = TokenManager(config(idp), timeout=0.3)

    with pytest.raises(TokenError, match=r"did not answer within 0\.3 s") as caught:
        manager.access_token()

    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("flag", ["--token-endpoint", "--issuer"])
def test_http_on_a_public_host_is_refused(capsys, flag):
    url = "http://auth.example.com/oauth/token"
    code, _, err = run(capsys, flag, url, "--client-id", CLIENT_ID, "--client-secret", SECRET)

    assert code == 1
    assert "must use https" in err


def test_missing_secret_names_the_environment_variable(idp, capsys):
    code, _, err = run(capsys, "--token-endpoint", idp.token_endpoint, "--client-id", CLIENT_ID)

    assert code == 1
    assert SECRET_ENV in err
    assert idp.seen == []


def test_no_endpoint_is_an_error(capsys):
    code, _, err = run(capsys, "--client-id", CLIENT_ID, "--client-secret", SECRET)

    assert code == 1
    assert "--token-endpoint, --issuer or --dev" in err


# ---- discovery ----------------------------------------------------------------------------


def metadata(idp: TokenServer, issuer: str) -> dict[str, Any]:
    return {"issuer": issuer, "token_endpoint": idp.token_endpoint}


def test_issuer_discovery_rfc8414_path_inserted(idp, capsys):
    issuer = f"{idp.url}/tenant-a"
    idp.documents["/.well-known/oauth-authorization-server/tenant-a"] = metadata(idp, issuer)

    code, out, err = run(
        capsys, "--issuer", issuer, "--client-id", CLIENT_ID, "--client-secret", SECRET
    )

    assert (code, err) == (0, "")
    assert out.strip() == idp.issued[0]
    assert [s.path for s in idp.seen] == [
        "/.well-known/oauth-authorization-server/tenant-a",
        "/oauth/token",
    ]


def test_issuer_discovery_falls_back_to_openid_configuration(idp, capsys):
    issuer = f"{idp.url}/realms/dev"
    idp.documents["/realms/dev/.well-known/openid-configuration"] = metadata(idp, issuer)

    code, out, _ = run(
        capsys, "--issuer", issuer, "--client-id", CLIENT_ID, "--client-secret", SECRET
    )

    assert code == 0
    assert out.strip() == idp.issued[0]
    assert idp.seen[0].path == "/.well-known/oauth-authorization-server/realms/dev"
    assert idp.seen[-2].path == "/realms/dev/.well-known/openid-configuration"


def test_issuer_discovery_at_the_root_uses_openid_configuration(idp, capsys):
    idp.documents["/.well-known/openid-configuration"] = metadata(idp, idp.url)

    code, out, _ = run(
        capsys, "--issuer", idp.url, "--client-id", CLIENT_ID, "--client-secret", SECRET
    )

    assert code == 0
    assert out.strip() == idp.issued[0]


def test_metadata_for_another_issuer_is_not_used(idp, capsys):
    idp.documents["/.well-known/oauth-authorization-server"] = metadata(idp, "https://evil.example")

    code, _, err = run(
        capsys, "--issuer", idp.url, "--client-id", CLIENT_ID, "--client-secret", SECRET
    )

    assert code == 1
    assert "issuer mismatch" in err
    assert idp.token_requests == []


def test_a_discovered_http_endpoint_on_a_public_host_is_refused(idp, capsys):
    idp.documents["/.well-known/oauth-authorization-server"] = {
        "issuer": idp.url,
        "token_endpoint": "http://auth.example.com/token",
    }

    code, _, err = run(
        capsys, "--issuer", idp.url, "--client-id", CLIENT_ID, "--client-secret", SECRET
    )

    assert code == 1
    assert "must use https" in err


# ---- --dev --------------------------------------------------------------------------------


def write_dev_client(directory: Path, **document: Any) -> None:
    (directory / ".gistgate").mkdir()
    (directory / ".gistgate" / "dev-client.json").write_text(json.dumps(document))


def test_dev_reads_the_dev_client_file(idp, capsys, tmp_path, monkeypatch):
    write_dev_client(
        tmp_path,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        token_endpoint=idp.token_endpoint,
        scope="gists:read",
        resource="http://127.0.0.1:3000/mcp",
    )
    monkeypatch.chdir(tmp_path)

    code, out, _ = run(capsys, "--dev")

    assert code == 0
    assert out.strip() == idp.issued[0]
    [seen] = idp.token_requests
    assert seen.auth == "basic"
    assert seen.form["scope"] == "gists:read"
    assert seen.form["resource"] == "http://127.0.0.1:3000/mcp"


def test_dev_defaults_to_the_local_stack_on_port(idp, capsys, tmp_path, monkeypatch):
    write_dev_client(tmp_path, client_id=CLIENT_ID, client_secret=SECRET, scope="gists:read")
    monkeypatch.chdir(tmp_path)

    code, out, _ = run(capsys, "--dev", "--port", str(idp.port), "--scope", "gists:write")

    assert code == 0
    assert out.strip() == idp.issued[0]
    [seen] = idp.token_requests
    assert seen.path == "/oauth/token"
    assert seen.form["scope"] == "gists:write"  # the flag wins over the file


def test_dev_without_the_file_says_to_run_make_dev(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    code, out, err = run(capsys, "--dev")

    assert (code, out) == (1, "")
    assert ".gistgate/dev-client.json not found" in err
    assert "make dev" in err


def test_port_without_dev_is_an_error(capsys):
    code, _, err = run(capsys, "--port", "3000", "--client-id", "x", "--client-secret", "y")

    assert code == 1
    assert "--port only applies with --dev" in err


# ---- the jwt-bearer grant: --id-jag and --enterprise ---------------------------------------


def id_jag(jti: str) -> str:
    """An ID-JAG-shaped string (the CLI passes it on unread; the server judges it)."""

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    header = part({"alg": "RS256", "typ": "oauth-id-jag+jwt", "kid": "k1"})
    return f"{header}.{part({'jti': jti, 'sub': 'alice@example.com'})}.c2ln-{jti}"


ASSERTION = id_jag("first")
OTHER_ASSERTION = id_jag("second")
ENTERPRISE_ID = "enterprise:agent"
ENTERPRISE_SECRET = "ent-S3CRET:" + "e" * 20


def basic_client(seen: Seen) -> str:
    """The client_id a request authenticated as with HTTP Basic."""
    pair = base64.b64decode(seen.headers["Authorization"].removeprefix("Basic ")).decode()
    return unquote_plus(pair.partition(":")[0])


def test_id_jag_trades_the_given_assertion_with_the_jwt_bearer_grant(idp, capsys):
    code, out, err = run(capsys, *base_args(idp, "--id-jag", ASSERTION))

    assert (code, err) == (0, "")
    assert out == idp.issued[0] + "\n"
    [seen] = idp.token_requests
    assert seen.form == {"grant_type": JWT_BEARER, "assertion": ASSERTION}
    assert seen.auth == "basic"  # the client still authenticates itself
    assert basic_client(seen) == CLIENT_ID


def test_id_jag_dash_reads_the_assertion_from_stdin(idp, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(ASSERTION + "\n"))

    code, out, err = run(capsys, *base_args(idp, "--id-jag", "-", "--scope", "gists:read"))

    assert (code, err) == (0, "")
    assert out.strip() == idp.issued[0]
    [seen] = idp.token_requests
    assert seen.form == {"grant_type": JWT_BEARER, "assertion": ASSERTION, "scope": "gists:read"}


def test_id_jag_with_post_auth_sends_the_client_in_the_body(idp, capsys):
    code, _, _ = run(capsys, *base_args(idp, "--id-jag", ASSERTION, "--auth", "post"))

    assert code == 0
    [seen] = idp.token_requests
    assert seen.auth == "post"
    assert seen.form == {
        "grant_type": JWT_BEARER,
        "assertion": ASSERTION,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }


def test_id_jag_and_enterprise_are_mutually_exclusive(idp, capsys):
    with pytest.raises(SystemExit) as usage:
        main(["token", "--dev", "--enterprise", "--id-jag", ASSERTION])

    assert usage.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert idp.seen == []


def test_the_cache_key_differs_per_assertion(idp, capsys, cache_file):
    first = run(capsys, *base_args(idp, "--id-jag", ASSERTION))
    other = run(capsys, *base_args(idp, "--id-jag", OTHER_ASSERTION))
    again = run(capsys, *base_args(idp, "--id-jag", ASSERTION))

    assert first == (0, idp.issued[0] + "\n", "")
    assert other == (0, idp.issued[1] + "\n", "")  # not the first assertion's token
    assert again == first  # the first assertion's token, from the cache
    assert [s.form["assertion"] for s in idp.token_requests] == [ASSERTION, OTHER_ASSERTION]
    cached = cache_file.read_text()
    assert ASSERTION not in cached
    assert OTHER_ASSERTION not in cached
    assert len(json.loads(cached)["tokens"]) == 2


def test_an_id_jag_token_is_not_a_client_credentials_token_in_the_cache(idp, capsys):
    plain = run(capsys, *base_args(idp))
    delegated = run(capsys, *base_args(idp, "--id-jag", ASSERTION))

    assert plain[1] != delegated[1]
    assert [s.form["grant_type"] for s in idp.token_requests] == ["client_credentials", JWT_BEARER]


def test_a_refused_id_jag_exits_1_without_the_assertion(idp, capsys):
    assert run(capsys, *base_args(idp, "--id-jag", ASSERTION, "--no-cache"))[0] == 0

    code, out, err = run(capsys, *base_args(idp, "--id-jag", ASSERTION, "--no-cache"))

    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "invalid_grant" in err
    assert "used already" in err
    assert "HTTP 400" in err
    assert ASSERTION not in err
    assert_no_secrets(err, idp)


def test_an_assertion_echoed_by_the_server_is_redacted(idp, capsys, monkeypatch):
    idp.error = (400, {"error": "invalid_grant", "error_description": f"bad: {ASSERTION}"})
    monkeypatch.setattr(sys, "stdin", io.StringIO(ASSERTION))

    code, _, err = run(capsys, *base_args(idp, "--id-jag", "-"))

    assert code == 1
    assert "invalid_grant" in err
    assert "[redacted]" in err
    assert ASSERTION not in err
    # Nor in what a caller of the library sees.
    config_repr = repr(ClientConfig("http://127.0.0.1:1/t", "c", "s", assertion=lambda: ASSERTION))
    assert ASSERTION not in config_repr
    assert "assertion=***" in config_repr


@pytest.mark.parametrize("given", [("", None), ("-", "\n")], ids=["empty-value", "empty-stdin"])
def test_an_empty_id_jag_is_refused_before_any_request(idp, capsys, monkeypatch, given):
    value, stdin = given
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))

    code, out, err = run(capsys, *base_args(idp, "--id-jag", value))

    assert (code, out) == (1, "")
    assert "the ID-JAG is empty" in err
    assert idp.token_requests == []


def enterprise_section(local_idp: EnterpriseIdp, **overrides: str) -> dict[str, str]:
    """What make dev writes under "enterprise": our client, and its mapping at the IdP."""
    at_idp = local_idp.add_client(ENTERPRISE_ID, scope="gists:read gists:write")
    return {
        "client_id": ENTERPRISE_ID,
        "client_secret": ENTERPRISE_SECRET,
        "idp_issuer": local_idp.issuer,
        "idp_client_id": at_idp.client_id,
        "idp_client_secret": at_idp.client_secret,
        "subject": "alice@example.com",
        **overrides,
    }


def write_enterprise_dev_client(directory: Path, idp: TokenServer, section: Any) -> None:
    idp.clients[ENTERPRISE_ID] = ENTERPRISE_SECRET
    write_dev_client(
        directory,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        token_endpoint=idp.token_endpoint,
        scope="gists:read gists:write",
        resource="http://127.0.0.1:3000/mcp",
        **({"enterprise": section} if section is not None else {}),
    )


@pytest.fixture(scope="module")
def local_idp() -> Iterator[EnterpriseIdp]:
    """make dev's local enterprise IdP, for the module (its stop waits 0.5 s)."""
    server = EnterpriseIdp().start()
    yield server
    server.stop()


def test_dev_enterprise_trades_an_id_jag_from_the_local_idp(
    idp, local_idp, capsys, tmp_path, monkeypatch
):
    section = enterprise_section(local_idp)
    write_enterprise_dev_client(tmp_path, idp, section)
    monkeypatch.chdir(tmp_path)

    code, out, err = run(capsys, "--dev", "--enterprise")

    assert (code, err) == (0, "")
    assert out.strip() == idp.issued[0]
    [seen] = idp.token_requests
    assert seen.form["grant_type"] == JWT_BEARER
    assert seen.form["scope"] == "gists:read gists:write"
    assert seen.form["resource"] == "http://127.0.0.1:3000/mcp"
    assert basic_client(seen) == ENTERPRISE_ID  # the enterprise client, not the dev client
    assertion = seen.form["assertion"]
    assert jwt.get_unverified_header(assertion)["typ"] == "oauth-id-jag+jwt"
    claims = jwt.decode(
        assertion,
        jwt.PyJWK(local_idp.jwks()["keys"][0]).key,
        algorithms=["RS256"],
        audience=idp.url,  # the issuer of the token endpoint the CLI talks to
    )
    assert claims["iss"] == local_idp.issuer
    assert claims["sub"] == "alice@example.com"
    assert claims["client_id"] == ENTERPRISE_ID
    assert claims["resource"] == "http://127.0.0.1:3000/mcp"
    assert claims["scope"] == "gists:read gists:write"
    assert section["idp_client_secret"] not in out


def test_dev_enterprise_uses_the_cache_without_asking_the_idp_again(
    idp, capsys, tmp_path, monkeypatch
):
    own_idp = EnterpriseIdp().start()
    try:
        write_enterprise_dev_client(tmp_path, idp, enterprise_section(own_idp))
        monkeypatch.chdir(tmp_path)
        first = run(capsys, "--dev", "--enterprise")
    finally:
        own_idp.stop()  # gone: a second exchange would fail

    second = run(capsys, "--dev", "--enterprise")
    plain = run(capsys, "--dev")

    assert first == second == (0, idp.issued[0] + "\n", "")
    assert plain == (0, idp.issued[1] + "\n", "")  # the dev client's own token, apart
    assert [s.form["grant_type"] for s in idp.token_requests] == [JWT_BEARER, "client_credentials"]


def test_dev_id_jag_uses_the_enterprise_client_and_the_stack_port(
    idp, local_idp, capsys, tmp_path, monkeypatch
):
    write_enterprise_dev_client(tmp_path, idp, enterprise_section(local_idp))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(ASSERTION + "\n"))

    code, out, err = run(capsys, "--dev", "--id-jag", "-", "--port", str(idp.port))

    assert (code, err) == (0, "")
    assert out.strip() == idp.issued[0]
    [seen] = idp.token_requests
    assert seen.path == "/oauth/token"
    assert basic_client(seen) == ENTERPRISE_ID
    assert seen.form["assertion"] == ASSERTION  # as given, not one from the IdP


def test_enterprise_without_dev_is_an_error(idp, capsys):
    code, out, err = run(capsys, *base_args(idp, "--enterprise"))

    assert (code, out) == (1, "")
    assert "--enterprise only applies with --dev" in err
    assert idp.seen == []


@pytest.mark.parametrize("section", [None, "not an object"], ids=["absent", "not-an-object"])
def test_enterprise_without_an_idp_in_the_dev_client_file_says_how_to_start_one(
    idp, capsys, tmp_path, monkeypatch, section
):
    write_enterprise_dev_client(tmp_path, idp, section)
    monkeypatch.chdir(tmp_path)

    code, out, err = run(capsys, "--dev", "--enterprise")

    assert (code, out) == (1, "")
    assert "the dev stack runs no enterprise IdP" in err
    assert "make dev EMA_TRUSTED_ISSUERS=local" in err
    assert idp.seen == []


def test_enterprise_refused_by_the_idp_exits_1_without_its_secret(
    idp, local_idp, capsys, tmp_path, monkeypatch
):
    section = enterprise_section(local_idp, idp_client_secret="wrong-idp-S3CRET")
    write_enterprise_dev_client(tmp_path, idp, section)
    monkeypatch.chdir(tmp_path)

    code, out, err = run(capsys, "--dev", "--enterprise")

    assert (code, out) == (1, "")
    assert "invalid_client" in err
    assert f"the enterprise IdP {local_idp.issuer} refused the token exchange" in err
    assert "wrong-idp-S3CRET" not in err
    assert ENTERPRISE_SECRET not in err
    assert idp.token_requests == []  # no ID-JAG, nothing traded


def test_enterprise_when_the_idp_does_not_sign_the_user_in(
    idp, local_idp, capsys, tmp_path, monkeypatch
):
    section = enterprise_section(local_idp, idp_client_id="idp-unknown")
    write_enterprise_dev_client(tmp_path, idp, section)
    monkeypatch.chdir(tmp_path)

    code, out, err = run(capsys, "--dev", "--enterprise")

    assert (code, out) == (1, "")
    assert f"the enterprise IdP {local_idp.issuer} did not sign the dev user in" in err
    assert idp.token_requests == []


# ---- the installed command ----------------------------------------------------------------


def test_the_installed_console_script(idp, tmp_path):
    script = Path(sys.executable).parent / "gistgate"
    if not script.exists():
        script = Path(shutil.which("gistgate") or script)
    assert script.exists(), "no gistgate script: run pip install -e '.[dev]'"
    env = {
        **os.environ,
        SECRET_ENV: SECRET,
        CACHE_ENV: str(tmp_path / "script-cache.json"),
    }
    argv = [str(script), "token", "--token-endpoint", idp.token_endpoint, "--client-id", CLIENT_ID]

    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == idp.issued[0] + "\n"
    idp.clients[CLIENT_ID] = "rotated"
    env[CACHE_ENV] = str(tmp_path / "other-cache.json")
    failed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert failed.returncode == 1
    assert "invalid_client" in failed.stderr
    assert SECRET not in failed.stderr
