"""``gistgate token``: an OAuth 2.0 access token for machine clients and scripts.

Scripts and agents that call an MCP server need a bearer token; this fetches
one from any token endpoint (client credentials, RFC 6749 §4.4; or an enterprise
IdP's ID-JAG with the jwt-bearer grant, RFC 7523 §2.1) and caches it on disk, so that
``Authorization: Bearer $(gistgate token ...)`` in a loop costs one request per
token lifetime, not one per call. The client secret and the tokens are never
put into an error message: errors are printed, and printed text ends up in
CI logs.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote_plus

import httpx

from gistgate.core.discovery import fetch_metadata
from gistgate.core.fetch import USER_AGENT, FetchError, bounded_transport, within
from gistgate.core.netguard import UnsafeUrlError, check_outbound_url

AuthMethod = Literal["basic", "post"]
Clock = Callable[[], float]

TIMEOUT = 10.0
# A cached token is used only while it has more than this many seconds left, so
# that a request sent with it does not arrive after it expired.
EXPIRY_MARGIN = 300.0
MAX_RESPONSE_BYTES = 256_000
MAX_MESSAGE_CHARS = 300

CACHE_ENV = "GISTGATE_TOKEN_CACHE"
SECRET_ENV = "GISTGATE_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
DEV_CLIENT_FILE = Path(".gistgate") / "dev-client.json"
DEV_PORT = 3000
CACHE_VERSION = 1
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN, not a secret
ID_JAG_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id-jag"  # noqa: S105 - a URN, not a secret
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 - a URN, not a secret


class TokenError(Exception):
    """Getting a token failed; the message is safe to print (no secret, no token)."""


class OAuthError(TokenError):
    """The token endpoint answered with an RFC 6749 §5.2 error response."""

    def __init__(self, error: str, description: str | None, status: int) -> None:
        self.error = error
        self.description = description
        self.status = status
        detail = f": {description}" if description else ""
        super().__init__(f"token endpoint refused the request (HTTP {status}): {error}{detail}")


@dataclass(frozen=True)
class ClientConfig:
    """Who asks for a token, where, and for what."""

    token_endpoint: str
    client_id: str
    client_secret: str
    scope: str | None = None
    resource: str | None = None
    auth: AuthMethod = "basic"
    # The jwt-bearer grant: where the ID-JAG comes from (called only on a cache miss),
    # and what it stands for in the cache key (never the assertion itself).
    assertion: Callable[[], str] | None = None
    assertion_key: str = ""

    def __repr__(self) -> str:  # the dataclass default would print the secret
        return (
            f"ClientConfig(token_endpoint={self.token_endpoint!r}, client_id={self.client_id!r}, "
            f"client_secret='***', scope={self.scope!r}, resource={self.resource!r}, "
            f"auth={self.auth!r}, assertion={'***' if self.assertion else None})"
        )


def _one_line(text: str, *secrets: str | None) -> str:
    """Server-supplied text made safe to print: secrets blanked, one short line."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def basic_auth_header(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: both parts form-urlencoded *before* the Basic encoding."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def cache_key(config: ClientConfig) -> str:
    """The cache slot of a request: endpoint, client, scope and resource.

    The secret is hashed in (so a rotated secret does not reuse a token issued
    to the old one) and the whole key is a digest, so the secret is not in it.
    Scope order does not matter to OAuth, so it does not matter here.
    """
    scope = " ".join(sorted(set((config.scope or "").split())))
    material = json.dumps(
        [
            config.token_endpoint,
            config.client_id,
            scope,
            config.resource or "",
            hashlib.sha256(config.client_secret.encode()).hexdigest(),
            config.assertion_key,
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def default_cache_path() -> Path:
    """``$GISTGATE_TOKEN_CACHE``, else ``$XDG_CACHE_HOME`` or ``~/.cache``/gistgate/tokens.json."""
    if override := os.environ.get(CACHE_ENV):
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gistgate" / "tokens.json"


class TokenCache:
    """A JSON file of token responses, private to the user (0600 in a 0700 directory).

    A file that cannot be read or parsed is treated as empty and replaced on
    the next write: a cache must never be the reason a token cannot be had.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(document, dict) or document.get("version") != CACHE_VERSION:
            return {}
        tokens = document.get("tokens")
        if not isinstance(tokens, dict):
            return {}
        return {k: v for k, v in tokens.items() if _valid_entry(v)}

    def get(self, key: str, now: float) -> dict[str, Any] | None:
        """The entry under ``key`` if it has more than :data:`EXPIRY_MARGIN` left."""
        entry = self._load().get(key)
        if entry is None or entry["expires_at"] - EXPIRY_MARGIN <= now:
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any], now: float) -> None:
        """Store ``entry``, dropping expired ones; written atomically, mode 0600."""
        tokens = {k: v for k, v in self._load().items() if v["expires_at"] > now}
        tokens[key] = entry
        data = json.dumps({"version": CACHE_VERSION, "tokens": tokens}, indent=1)
        directory = self.path.parent
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o700)
            directory.chmod(0o700)  # mkdir's mode is filtered by the umask
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.chmod(tmp, 0o600)  # mkstemp creates 0600; make sure of it
                handle.write(data)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("expires_at"), int | float)
        and math.isfinite(entry["expires_at"])
        and isinstance(entry.get("response"), dict)
        and isinstance(entry["response"].get("access_token"), str)
    )


def _expires_in(value: Any) -> float | None:
    """``expires_in`` as seconds; some servers send it as a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


class TokenManager:
    """Gets a client-credentials access token, from the cache when it is still good."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        cache: TokenCache | None = None,
        clock: Clock = time.time,
        timeout: float = TIMEOUT,
        http: httpx.Client | None = None,
    ) -> None:
        try:
            check_outbound_url(config.token_endpoint)
        except UnsafeUrlError as exc:
            raise TokenError(f"token endpoint refused: {exc}") from None
        self.config = config
        self.cache = cache
        self.clock = clock
        self.timeout = timeout
        self._http = http
        self.warnings: list[str] = []

    def token_response(self) -> dict[str, Any]:
        """The token response (``expires_in`` counted from now when it is known)."""
        now = self.clock()
        key = cache_key(self.config)
        if self.cache is not None:
            entry = self.cache.get(key, now)
            if entry is not None:
                return _present(entry, now)
        response = self._request()
        entry = {"obtained_at": now, "expires_at": None, "response": response}
        lifetime = _expires_in(response.get("expires_in"))
        if lifetime is not None:
            entry["expires_at"] = now + lifetime
            if self.cache is not None:
                try:
                    self.cache.put(key, entry, now)
                except OSError as exc:
                    self.warnings.append(
                        f"could not write the token cache {self.cache.path}: {exc.strerror or exc}"
                    )
        return _present(entry, now)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = _client()
        return self._http

    def access_token(self) -> str:
        """Just the access token."""
        return str(self.token_response()["access_token"])

    def _request(self) -> dict[str, Any]:
        config = self.config
        form = {"grant_type": "client_credentials"}
        if config.assertion is not None:
            form = {"grant_type": JWT_BEARER, "assertion": config.assertion()}
        if config.scope:
            form["scope"] = config.scope
        if config.resource:
            form["resource"] = config.resource
        headers = {"Accept": "application/json"}
        if config.auth == "basic":
            headers["Authorization"] = basic_auth_header(config.client_id, config.client_secret)
        else:
            form["client_id"] = config.client_id
            form["client_secret"] = config.client_secret
        status, body = _exchange(
            self._client(),
            "POST",
            config.token_endpoint,
            timeout=self.timeout,
            secret=config.client_secret,
            form=form,
            headers=headers,
        )
        document = _json_object(body)
        _raise_oauth_error(document, status, config.client_secret, form.get("assertion"))
        if status != 200:
            raise TokenError(f"token endpoint {config.token_endpoint} answered HTTP {status}")
        if document is None:
            raise TokenError(f"token endpoint {config.token_endpoint} did not answer JSON")
        token = document.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenError(f"token endpoint {config.token_endpoint} sent no access_token")
        # client_credentials has no use for a refresh token (RFC 6749 §4.4.3); not kept.
        document.pop("refresh_token", None)
        return document


def _raise_oauth_error(document: dict[str, Any] | None, status: int, *secrets: str | None) -> None:
    """An RFC 6749 §5.2 error answer as :class:`OAuthError`, with ``secrets`` blanked."""
    if document is None or not isinstance(document.get("error"), str):
        return
    description = document.get("error_description")
    raise OAuthError(
        _one_line(document["error"], *secrets),
        _one_line(description, *secrets) if isinstance(description, str) else None,
        status,
    )


def enterprise_assertion(
    http: httpx.Client, enterprise: Mapping[str, str], audience: str, resource: str, scope: str
) -> str:
    """An ID-JAG from the local enterprise IdP of ``make dev``: sign in as its dev user,
    then the RFC 8693 token exchange (what an MCP client does at a real IdP)."""
    issuer = enterprise["idp_issuer"]
    check_outbound_url(issuer)
    idp_id, idp_secret = enterprise["idp_client_id"], enterprise["idp_client_secret"]
    status, body = _exchange(
        http,
        "POST",
        f"{issuer}/login",
        timeout=TIMEOUT,
        form={"sub": enterprise["subject"], "client_id": idp_id},
    )
    login = _json_object(body) or {}
    if status != 200 or not isinstance(login.get("id_token"), str):
        raise TokenError(f"the enterprise IdP {issuer} did not sign the dev user in")
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "requested_token_type": ID_JAG_TOKEN_TYPE,
        "subject_token": login["id_token"],
        "subject_token_type": ID_TOKEN_TYPE,
        "audience": audience,
        "resource": resource,
        "scope": scope,
        "client_id": idp_id,
        "client_secret": idp_secret,
    }
    status, body = _exchange(
        http, "POST", f"{issuer}/token", timeout=TIMEOUT, secret=idp_secret, form=form
    )
    answer = _json_object(body)
    try:
        _raise_oauth_error(answer, status, idp_secret, login["id_token"])
    except OAuthError as refused:
        detail = f": {refused.description}" if refused.description else ""
        raise TokenError(
            f"the enterprise IdP {issuer} refused the token exchange "
            f"(HTTP {refused.status}): {refused.error}{detail}"
        ) from None
    if answer is None or not isinstance(answer.get("access_token"), str):
        raise TokenError(f"the enterprise IdP {issuer} issued no ID-JAG")
    return str(answer["access_token"])


def _exchange(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    timeout: float,
    secret: str = "",
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request, no redirects (they would resend the credentials), size-capped."""
    try:
        with (
            within(timeout),
            http.stream(method, url, data=form, headers=headers, timeout=timeout) as response,
        ):
            if response.has_redirect_location:
                raise TokenError(f"{url} redirected (HTTP {response.status_code}); not following")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise TokenError(f"{url} sent more than {MAX_RESPONSE_BYTES} bytes")
            return response.status_code, bytes(body)
    except httpx.TimeoutException:
        raise TokenError(f"{url} did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        reason = _one_line(str(exc), secret) or type(exc).__name__
        raise TokenError(f"could not reach {url}: {reason}") from None


def _present(entry: dict[str, Any], now: float) -> dict[str, Any]:
    response = dict(entry["response"])
    if entry.get("expires_at") is not None:
        response["expires_in"] = max(int(entry["expires_at"] - now), 0)
        response["expires_at"] = int(entry["expires_at"])
    return response


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _client() -> httpx.Client:
    # The project's deadline-aware transport: the timeout bounds the whole
    # request, not each socket read. No proxies or .netrc from the environment.
    return httpx.Client(
        transport=bounded_transport(),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


def discover_token_endpoint(issuer: str) -> str:
    """The issuer's ``token_endpoint``, found the way the authorizer finds a JWKS
    (:func:`gistgate.core.discovery.fetch_metadata`: RFC 8414, then OpenID configuration,
    the document's ``issuer`` matching exactly)."""
    try:
        check_outbound_url(issuer)
        endpoint = fetch_metadata(issuer).get("token_endpoint")
    except UnsafeUrlError as exc:
        raise TokenError(f"issuer refused: {exc}") from None
    except FetchError as exc:
        reason = exc.reason.replace("_", " ")
        raise TokenError(f"no authorization server metadata for {issuer} ({reason})") from None
    if not isinstance(endpoint, str) or not endpoint:
        raise TokenError(f"the metadata of {issuer} has no token_endpoint")
    try:
        return check_outbound_url(endpoint)
    except UnsafeUrlError as exc:
        raise TokenError(f"discovered token endpoint refused: {exc}") from None


# ---- the command line -------------------------------------------------------------------


def add_parser(subparsers: Any) -> None:
    """Register ``gistgate token``."""
    parser = subparsers.add_parser(
        "token",
        help="print an OAuth access token (client_credentials grant), cached",
        description=(
            "Get an access token with the OAuth 2.0 client_credentials grant and print it "
            "(alone, so that $(gistgate token ...) works). Tokens are cached on disk until "
            "5 minutes before they expire."
        ),
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--token-endpoint", metavar="URL", help="the token endpoint")
    where.add_argument(
        "--issuer",
        metavar="URL",
        help="discover the token endpoint from this issuer (RFC 8414, then OpenID configuration)",
    )
    parser.add_argument("--client-id", metavar="ID", help="the OAuth client's id")
    parser.add_argument(
        "--client-secret",
        metavar="SECRET",
        help=f"prefer ${SECRET_ENV}: a command line is visible to other local users",
    )
    parser.add_argument("--scope", help='space-separated scopes, e.g. "gists:read gists:write"')
    parser.add_argument("--resource", metavar="URL", help="RFC 8707 resource indicator")
    parser.add_argument(
        "--auth",
        choices=["basic", "post"],
        default=None,
        help="client authentication: HTTP Basic (default) or in the request body",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the token response as JSON instead"
    )
    parser.add_argument(
        "--cache-file",
        metavar="PATH",
        help=f"token cache (default ${CACHE_ENV} or ~/.cache/gistgate/tokens.json)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument(
        "--dev",
        action="store_true",
        help=f"use the local dev stack (make dev): credentials from {DEV_CLIENT_FILE}",
    )
    parser.add_argument(
        "--port",
        type=int,
        metavar="N",
        help=f"with --dev: the local stack's port (default {DEV_PORT})",
    )
    grant = parser.add_mutually_exclusive_group()
    grant.add_argument(
        "--id-jag",
        metavar="JWT",
        help="trade this ID-JAG from an enterprise IdP (jwt-bearer grant); - reads stdin",
    )
    grant.add_argument(
        "--enterprise",
        action="store_true",
        help="with --dev: get an ID-JAG from make dev's local enterprise IdP and trade it",
    )
    parser.set_defaults(run=run)


def _dev_settings(port: int | None) -> dict[str, str]:
    path = Path.cwd() / DEV_CLIENT_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TokenError(
            f"{DEV_CLIENT_FILE} not found in {Path.cwd()}: run `make dev` first "
            "(it starts the local stack and writes the dev client's credentials there)"
        ) from None
    except (OSError, ValueError) as exc:
        raise TokenError(f"cannot read {path}: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise TokenError(f"{path} is not a JSON object; run `make dev` again")
    settings = {
        k: v
        for k in ("client_id", "client_secret", "token_endpoint", "scope", "resource")
        if isinstance(v := document.get(k), str) and v
    }
    enterprise = document.get("enterprise")
    if isinstance(enterprise, dict):
        for name, value in enterprise.items():
            if isinstance(value, str):
                settings[f"enterprise_{name}"] = value
    if port is not None or "token_endpoint" not in settings:
        settings["token_endpoint"] = f"http://127.0.0.1:{port or DEV_PORT}/oauth/token"
    return settings


def _config(args: argparse.Namespace, http: httpx.Client) -> ClientConfig:
    if args.port is not None and not args.dev:
        raise TokenError("--port only applies with --dev")
    if args.enterprise and not args.dev:
        raise TokenError("--enterprise only applies with --dev")
    dev = _dev_settings(args.port) if args.dev else {}
    if args.id_jag is not None or args.enterprise:
        dev = _enterprise_client(dev)
    endpoint: str | None
    if args.issuer:
        endpoint = discover_token_endpoint(args.issuer)
    else:
        endpoint = args.token_endpoint or dev.get("token_endpoint")
    if not endpoint:
        raise TokenError("give --token-endpoint, --issuer or --dev")
    client_id = args.client_id or dev.get("client_id")
    if not client_id:
        raise TokenError("give --client-id")
    secret = args.client_secret or dev.get("client_secret") or os.environ.get(SECRET_ENV)
    if not secret:
        raise TokenError(f"give the client secret in ${SECRET_ENV} (or --client-secret)")
    config = ClientConfig(
        token_endpoint=endpoint,
        client_id=client_id,
        client_secret=secret,
        scope=args.scope if args.scope is not None else dev.get("scope"),
        resource=args.resource if args.resource is not None else dev.get("resource"),
        auth=args.auth or "basic",
    )
    if args.id_jag is not None:
        given = sys.stdin.read().strip() if args.id_jag == "-" else args.id_jag.strip()
        if not given:  # an unset shell variable: never fall back to client_credentials
            raise TokenError("--id-jag: the ID-JAG is empty")
        digest = hashlib.sha256(given.encode()).hexdigest()
        return replace(config, assertion=lambda: given, assertion_key=f"id-jag:{digest}")
    if args.enterprise:
        if "enterprise_idp_issuer" not in dev:
            raise TokenError(
                "the dev stack runs no enterprise IdP: start it with "
                "`make dev EMA_TRUSTED_ISSUERS=local`"
            )
        enterprise = {
            k[len("enterprise_") :]: v for k, v in dev.items() if k.startswith("enterprise_")
        }
        audience = endpoint.rsplit("/oauth/token", 1)[0]
        resource, scope = config.resource or f"{audience}/mcp", config.scope or ""
        return replace(
            config,
            assertion=lambda: enterprise_assertion(http, enterprise, audience, resource, scope),
            assertion_key=f"enterprise:{enterprise.get('subject', '')}",
        )
    return config


def _enterprise_client(dev: dict[str, str]) -> dict[str, str]:
    """With --dev, the jwt-bearer grant uses the dev stack's enterprise client."""
    if "enterprise_client_id" not in dev:
        return dev
    return {
        **dev,
        "client_id": dev["enterprise_client_id"],
        "client_secret": dev["enterprise_client_secret"],
    }


def run(args: argparse.Namespace) -> int:
    """``gistgate token``: 0 and the token on stdout, or 1 and one line on stderr."""
    cache = None
    if not args.no_cache:
        path = Path(args.cache_file).expanduser() if args.cache_file else default_cache_path()
        cache = TokenCache(path)
    try:
        with _client() as http:
            manager = TokenManager(_config(args, http), cache=cache, http=http)
            response = manager.token_response()
    except TokenError as exc:
        print(f"gistgate token: {exc}", file=sys.stderr)
        return 1
    for warning in manager.warnings:
        print(f"gistgate token: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(response, indent=2, sort_keys=True))
    else:
        print(response["access_token"])
    return 0
