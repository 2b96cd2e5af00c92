"""One typed settings object, read from the environment once per cold start.

Handlers never read ``os.environ`` themselves: they call :func:`get_settings`.
A bad value raises :class:`SettingsError` naming the variable, so a broken
deployment fails at init with a message that says what to fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal, NamedTuple

from gistgate.core.netguard import UnsafeUrlError, check_outbound_url

__all__ = [
    "AUTH_MODES",
    "DEFAULT_ALGORITHMS",
    "EMA_SUBJECT_MODES",
    "IDP_PRESETS",
    "LOOPBACK_ORIGINS",
    "MCP_PATH",
    "SUPPORTED_ALGORITHMS",
    "CredentialMode",
    "IssuerConfig",
    "Settings",
    "SettingsError",
    "get_settings",
    "load_settings",
]

AuthMode = Literal["builtin", "jwt", "introspection"]
CredentialMode = Literal["service", "delegated", "hybrid"]

AUTH_MODES: tuple[str, ...] = ("builtin", "jwt", "introspection")
CREDENTIAL_MODES: tuple[str, ...] = ("service", "delegated", "hybrid")
IDP_PRESETS: tuple[str, ...] = ("generic", "cognito", "auth0", "okta", "entra", "keycloak")
# Asymmetric algorithms we know how to bind to a JWK. `none` and HS* are never accepted.
SUPPORTED_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
)
DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
MCP_PATH = "/mcp"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
# Settings whose values are secrets: masked in repr, never logged.
_SECRET_FIELDS = (
    "introspection_client_secret",
    "github_service_token",
    "github_oauth_client_secret",
    "upstream_oidc_client_secret",
    "initial_access_token",
    "request_state_secret",
)
UPSTREAM_IDPS: tuple[str, ...] = ("github", "oidc")
# How an enterprise IdP's subject becomes ours (oauth/id_jag.py): ``issuer`` =
# ``ema|<issuer id>|<sub>``; ``subject`` = ``ema|<sub>`` (one trusted issuer only).
EMA_SUBJECT_MODES: tuple[str, ...] = ("issuer", "subject")
DEFAULT_GITHUB_WEB_URL = "https://github.com"


class SettingsError(ValueError):
    """A configuration variable is missing or invalid; the message names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class IssuerConfig(NamedTuple):
    """One trusted issuer with its own key source and its own audiences.

    ``audiences`` empty means "the MCP resource URL", resolved per request when
    ``PUBLIC_BASE_URL`` is not set.
    """

    issuer: str
    jwks_uri: str | None = None
    audiences: tuple[str, ...] = ()


class Settings(NamedTuple):
    """Everything the functions read from the environment."""

    auth_mode: AuthMode = "builtin"
    issuers: tuple[IssuerConfig, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    required_scopes: tuple[str, ...] = ()
    token_type: str | None = None
    idp_preset: str = "generic"
    introspection_url: str | None = None
    introspection_client_id: str | None = None
    introspection_secret_arn: str | None = None
    introspection_client_secret: str | None = None
    public_base_url: str | None = None
    scope_read: str = "read:gists"
    scope_write: str = "write:gists"
    scope_admin: str = "admin:server"
    resource_name: str = "gistgate"
    resource_documentation: str | None = None
    max_token_bytes: int = 8192
    leeway_seconds: int = 60
    # API Gateway's authorizer result TTL (the template's AuthorizerTtl): 0 lets the
    # authorizer decide per tool (a step-up 403); a cached answer must not depend on the tool.
    authorizer_result_ttl: int = 0
    # The MCP function.
    github_credentials: CredentialMode = "hybrid"
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_service_secret_arn: str | None = None
    github_service_token: str | None = None
    github_oauth_client_id: str | None = None
    github_oauth_secret_arn: str | None = None
    github_oauth_client_secret: str | None = None
    table_name: str | None = None
    kms_key_id: str | None = None
    rate_limit_per_minute: int = 60
    mcp_allowed_origins: tuple[str, ...] = ()
    # The key that seals MCP requestState (multi-round-trip calls): by ARN, or given
    # directly (local development).
    request_state_secret_arn: str | None = None
    request_state_secret: str | None = None
    # The builtin authorization server.
    upstream_idp: str = "github"
    github_web_url: str = DEFAULT_GITHUB_WEB_URL
    upstream_oidc_issuer: str | None = None
    upstream_oidc_client_id: str | None = None
    upstream_oidc_secret_arn: str | None = None
    upstream_oidc_client_secret: str | None = None
    signing_key_ids: tuple[str, ...] = ()
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 86400
    refresh_token_max_lifetime: int = 90 * 86400
    client_registration_ttl_days: int = 90
    registration_rate_per_minute: int = 10
    cimd_enabled: bool = True
    dev_mode: bool = False
    admin_subjects: tuple[str, ...] = ()
    initial_access_token: str | None = None
    initial_access_token_arn: str | None = None
    # Enterprise-managed authorization (the ID-JAG grant): the IdPs whose assertions the
    # builtin server trades for tokens, their JWKS URIs (None: from their metadata), how
    # their subjects map to ours, the longest assertion lifetime accepted, and whether
    # the grant may start a refresh-token family.
    ema_trusted_issuers: tuple[str, ...] = ()
    ema_jwks_uris: tuple[str | None, ...] = ()
    ema_subject_mode: str = "issuer"
    ema_max_assertion_lifetime: int = 300
    ema_refresh_tokens: bool = False

    def __repr__(self) -> str:
        """Like the default, with every secret-valued setting masked."""
        shown = (
            f"{name}={'***' if name in _SECRET_FIELDS and value else value!r}"
            for name, value in zip(self._fields, self, strict=True)
        )
        return "Settings(" + ", ".join(shown) + ")"

    @property
    def basic_scopes(self) -> tuple[str, ...]:
        """The minimal scope set a client needs for ordinary use (PRM ``scopes_supported``)."""
        return (self.scope_read, self.scope_write)


def _split(value: str, sep: str = ",") -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(sep) if part.strip())


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _url(env: Mapping[str, str], name: str, value: str) -> str:
    try:
        check_outbound_url(value)
    except UnsafeUrlError as exc:
        raise SettingsError(name, str(exc)) from None
    return value


def _positional(env: Mapping[str, str], name: str, count: int, sep: str) -> list[str | None]:
    """A per-issuer list: one entry per issuer, or a single entry shared by all."""
    raw = _get(env, name)
    if raw is None:
        return [None] * count
    parts: list[str | None] = [p.strip() for p in raw.split(sep)]
    if len(parts) == 1:
        return parts * count
    if len(parts) != count:
        raise SettingsError(
            name, f"has {len(parts)} '{sep}'-separated entries but OAUTH_ISSUER has {count}"
        )
    return [p or None for p in parts]


def _issuers(env: Mapping[str, str]) -> tuple[IssuerConfig, ...]:
    names = _split(_get(env, "OAUTH_ISSUER") or "")
    for issuer in names:
        _url(env, "OAUTH_ISSUER", issuer)
    jwks = _positional(env, "OAUTH_JWKS_URI", len(names), ",")
    auds = _positional(env, "OAUTH_AUDIENCE", len(names), ";")
    result = []
    for issuer, jwks_uri, audiences in zip(names, jwks, auds, strict=True):
        if jwks_uri:
            _url(env, "OAUTH_JWKS_URI", jwks_uri)
        result.append(IssuerConfig(issuer, jwks_uri, _split(audiences or "")))
    return tuple(result)


def _enterprise(
    env: Mapping[str, str], mode: str
) -> tuple[tuple[str, ...], tuple[str | None, ...], str]:
    """EMA_TRUSTED_ISSUERS (exact URLs), EMA_JWKS_URIS (in issuer order) and
    EMA_SUBJECT_MODE."""
    issuers = _split(_get(env, "EMA_TRUSTED_ISSUERS") or "")
    for issuer in issuers:
        _url(env, "EMA_TRUSTED_ISSUERS", issuer)
    if len(set(issuers)) != len(issuers):
        raise SettingsError("EMA_TRUSTED_ISSUERS", "lists an issuer twice")
    if issuers and mode != "builtin":
        raise SettingsError("EMA_TRUSTED_ISSUERS", "needs AUTH_MODE=builtin")
    raw = _get(env, "EMA_JWKS_URIS")
    jwks: tuple[str | None, ...] = (None,) * len(issuers)
    if raw is not None:
        parts = [p.strip() or None for p in raw.split(",")]
        if len(parts) != len(issuers):
            raise SettingsError(
                "EMA_JWKS_URIS",
                f"has {len(parts)} entries but EMA_TRUSTED_ISSUERS has {len(issuers)}",
            )
        for uri in parts:
            if uri:
                _url(env, "EMA_JWKS_URIS", uri)
        jwks = tuple(parts)
    subject_mode = _choice(env, "EMA_SUBJECT_MODE", "issuer", EMA_SUBJECT_MODES)
    if subject_mode == "subject" and len(issuers) > 1:
        raise SettingsError(
            "EMA_SUBJECT_MODE", "subject maps one issuer only (two IdPs may share a subject)"
        )
    return issuers, jwks, subject_mode


def _algorithms(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _get(env, "OAUTH_ALGORITHMS")
    if raw is None:
        return DEFAULT_ALGORITHMS
    algs = _split(raw)
    for alg in algs:
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            raise SettingsError("OAUTH_ALGORITHMS", f"{alg!r} is never accepted")
        if alg not in SUPPORTED_ALGORITHMS:
            raise SettingsError(
                "OAUTH_ALGORITHMS", f"{alg!r} is not one of {', '.join(SUPPORTED_ALGORITHMS)}"
            )
    if not algs:
        raise SettingsError("OAUTH_ALGORITHMS", "lists no algorithm")
    return algs


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (_get(env, name) or default).lower()
    if value not in choices:
        raise SettingsError(name, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"{raw!r} is not an integer") from None
    if not low <= value <= high:
        raise SettingsError(name, f"{value} is outside {low}..{high}")
    return value


def _base_url(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "PUBLIC_BASE_URL")
    if raw is None:
        return None
    url = raw.rstrip("/")
    if not url.startswith(("https://", "http://")) or "?" in url or "#" in url:
        raise SettingsError("PUBLIC_BASE_URL", "must be an absolute http(s) origin plus path")
    return _url(env, "PUBLIC_BASE_URL", url)


def _github_api_url(env: Mapping[str, str]) -> str:
    """GitHub's API root (GitHub Enterprise Server: ``https://HOST/api/v3``), no trailing slash."""
    raw = (_get(env, "GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/")
    return _url(env, "GITHUB_API_URL", raw)


# MCP_ALLOWED_ORIGINS keyword: any http origin on a loopback host, any port (a local
# browser client such as the MCP Inspector's UI); `make dev` sets it by default.
LOOPBACK_ORIGINS = "loopback"


def _origins(env: Mapping[str, str]) -> tuple[str, ...]:
    """Browser origins allowed to call /mcp: exact ``scheme://host[:port]``, ``*``, or
    ``loopback``."""
    origins = _split(_get(env, "MCP_ALLOWED_ORIGINS") or "")
    for origin in origins:
        if origin not in ("*", LOOPBACK_ORIGINS) and (
            not origin.startswith(("https://", "http://")) or origin.count("/") != 2
        ):
            raise SettingsError(
                "MCP_ALLOWED_ORIGINS", f"{origin!r} is not an origin (scheme://host[:port])"
            )
    return tuple(o.rstrip("/") for o in origins)


def _web_url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = _get(env, name) or default
    return _url(env, name, raw.rstrip("/")) if raw else None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (_get(env, name) or "").lower()
    if not raw:
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise SettingsError(name, f"{raw!r} is not true or false")
    return raw in ("true", "1", "yes")


def _signing_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """The current signing key, then the next one (published ahead of a rotation)."""
    current = _get(env, "GISTGATE_SIGNING_KEY_ID")
    upcoming = _get(env, "GISTGATE_SIGNING_NEXT_KEY_ID")
    if upcoming and not current:
        raise SettingsError("GISTGATE_SIGNING_NEXT_KEY_ID", "needs GISTGATE_SIGNING_KEY_ID")
    return tuple(k for k in (current, upcoming) if k)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise :class:`SettingsError` on the first bad one."""
    env = os.environ if env is None else env
    mode = _choice(env, "AUTH_MODE", "builtin", AUTH_MODES)
    issuers = _issuers(env)
    if mode != "builtin" and not issuers:
        raise SettingsError("OAUTH_ISSUER", f"is required when AUTH_MODE={mode}")
    introspection_url = _get(env, "OAUTH_INTROSPECTION_URL")
    if introspection_url:
        _url(env, "OAUTH_INTROSPECTION_URL", introspection_url)
    elif mode == "introspection":
        raise SettingsError("OAUTH_INTROSPECTION_URL", "is required when AUTH_MODE=introspection")
    token_type = _get(env, "OAUTH_TOKEN_TYPE")
    ema_issuers, ema_jwks, ema_subject_mode = _enterprise(env, mode)
    return Settings(
        auth_mode=mode,  # type: ignore[arg-type]
        issuers=issuers,
        algorithms=_algorithms(env),
        required_scopes=tuple((_get(env, "OAUTH_REQUIRED_SCOPES") or "").replace(",", " ").split()),
        token_type=token_type.lower() if token_type else None,
        idp_preset=_choice(env, "OAUTH_IDP_PRESET", "generic", IDP_PRESETS),
        introspection_url=introspection_url,
        introspection_client_id=_get(env, "OAUTH_INTROSPECTION_CLIENT_ID"),
        introspection_secret_arn=_get(env, "OAUTH_INTROSPECTION_SECRET_ARN"),
        introspection_client_secret=_get(env, "OAUTH_INTROSPECTION_CLIENT_SECRET"),
        public_base_url=_base_url(env),
        scope_read=_get(env, "SCOPE_READ") or "read:gists",
        scope_write=_get(env, "SCOPE_WRITE") or "write:gists",
        scope_admin=_get(env, "SCOPE_ADMIN") or "admin:server",
        resource_name=_get(env, "RESOURCE_NAME") or "gistgate",
        resource_documentation=_get(env, "RESOURCE_DOCUMENTATION"),
        max_token_bytes=_int(env, "OAUTH_MAX_TOKEN_BYTES", 8192, 256, 65536),
        leeway_seconds=_int(env, "OAUTH_LEEWAY_SECONDS", 60, 0, 300),
        authorizer_result_ttl=_int(env, "AUTHORIZER_RESULT_TTL", 0, 0, 3600),
        github_credentials=_choice(  # type: ignore[arg-type]
            env, "GITHUB_CREDENTIALS", "hybrid", CREDENTIAL_MODES
        ),
        github_api_url=_github_api_url(env),
        github_service_secret_arn=_get(env, "GITHUB_SERVICE_SECRET_ARN"),
        github_service_token=_get(env, "GITHUB_SERVICE_TOKEN"),
        github_oauth_client_id=_get(env, "GITHUB_OAUTH_CLIENT_ID"),
        github_oauth_secret_arn=_get(env, "GITHUB_OAUTH_SECRET_ARN"),
        github_oauth_client_secret=_get(env, "GITHUB_OAUTH_CLIENT_SECRET"),
        table_name=_get(env, "TABLE_NAME"),
        kms_key_id=_get(env, "GISTGATE_KMS_KEY_ID"),
        rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", 60, 1, 100_000),
        mcp_allowed_origins=_origins(env),
        request_state_secret_arn=_get(env, "REQUEST_STATE_SECRET_ARN"),
        request_state_secret=_get(env, "REQUEST_STATE_SECRET"),
        upstream_idp=_choice(env, "UPSTREAM_IDP", "github", UPSTREAM_IDPS),
        github_web_url=_web_url(env, "GITHUB_WEB_URL", DEFAULT_GITHUB_WEB_URL)
        or DEFAULT_GITHUB_WEB_URL,
        upstream_oidc_issuer=_web_url(env, "UPSTREAM_OIDC_ISSUER", None),
        upstream_oidc_client_id=_get(env, "UPSTREAM_OIDC_CLIENT_ID"),
        upstream_oidc_secret_arn=_get(env, "UPSTREAM_OIDC_SECRET_ARN"),
        upstream_oidc_client_secret=_get(env, "UPSTREAM_OIDC_CLIENT_SECRET"),
        signing_key_ids=_signing_keys(env),
        access_token_ttl=_int(env, "ACCESS_TOKEN_TTL", 3600, 60, 86400),
        refresh_token_ttl=_int(env, "REFRESH_TOKEN_TTL", 30 * 86400, 3600, 365 * 86400),
        refresh_token_max_lifetime=_int(
            env, "REFRESH_TOKEN_MAX_LIFETIME", 90 * 86400, 3600, 5 * 365 * 86400
        ),
        client_registration_ttl_days=_int(env, "CLIENT_REGISTRATION_TTL_DAYS", 90, 1, 3650),
        registration_rate_per_minute=_int(env, "REGISTRATION_RATE_PER_MINUTE", 10, 1, 10_000),
        cimd_enabled=_flag(env, "OAUTH_CIMD", True),
        dev_mode=_flag(env, "GISTGATE_DEV_MODE", False),
        admin_subjects=_split(_get(env, "OAUTH_ADMIN_SUBJECTS") or ""),
        initial_access_token=_get(env, "OAUTH_INITIAL_ACCESS_TOKEN"),
        initial_access_token_arn=_get(env, "OAUTH_INITIAL_ACCESS_TOKEN_ARN"),
        ema_trusted_issuers=ema_issuers,
        ema_jwks_uris=ema_jwks,
        ema_subject_mode=ema_subject_mode,
        ema_max_assertion_lifetime=_int(env, "EMA_MAX_ASSERTION_LIFETIME", 300, 30, 3600),
        ema_refresh_tokens=_flag(env, "EMA_REFRESH_TOKENS", False),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded on first use (a cold start)."""
    return load_settings()
