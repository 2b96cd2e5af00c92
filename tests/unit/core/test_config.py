"""gistgate/core/config.py: defaults, one SettingsError per bad variable, per-issuer lists."""

from __future__ import annotations

import pytest

from gistgate.core.config import (
    DEFAULT_ALGORITHMS,
    IssuerConfig,
    Settings,
    SettingsError,
    load_settings,
)

ISSUER = "https://idp.example.com"
ISSUER_B = "https://login.example.org/tenant-b"
JWT = {"AUTH_MODE": "jwt", "OAUTH_ISSUER": ISSUER}
INTROSPECTION = {
    "AUTH_MODE": "introspection",
    "OAUTH_ISSUER": ISSUER,
    "OAUTH_INTROSPECTION_URL": f"{ISSUER}/oauth2/introspect",
}


def test_defaults_from_an_empty_environment():
    settings = load_settings({})

    assert settings == Settings()
    assert settings.auth_mode == "builtin"
    assert settings.issuers == ()
    assert settings.algorithms == DEFAULT_ALGORITHMS == ("RS256", "ES256")
    assert settings.required_scopes == ()
    assert settings.token_type is None
    assert settings.idp_preset == "generic"
    assert settings.introspection_url is None
    assert settings.public_base_url is None
    assert settings.basic_scopes == ("read:gists", "write:gists")
    assert settings.scope_admin == "admin:server"
    assert settings.resource_name == "gistgate"
    assert settings.max_token_bytes == 8192
    assert settings.leeway_seconds == 60


def test_blank_values_count_as_unset():
    assert load_settings({"AUTH_MODE": "  ", "OAUTH_ALGORITHMS": "", "PUBLIC_BASE_URL": " "}) == (
        Settings()
    )


def test_values_are_read_and_normalised():
    settings = load_settings(
        {
            **JWT,
            "AUTH_MODE": "JWT",
            "OAUTH_ALGORITHMS": "ES384, PS256",
            "OAUTH_REQUIRED_SCOPES": "read:gists, write:gists  admin:server",
            "OAUTH_TOKEN_TYPE": "AT+JWT",
            "OAUTH_IDP_PRESET": "Okta",
            "PUBLIC_BASE_URL": "https://mcp.example.com/prod/",
            "OAUTH_MAX_TOKEN_BYTES": "16384",
            "OAUTH_LEEWAY_SECONDS": "0",
        }
    )

    assert settings.auth_mode == "jwt"
    assert settings.algorithms == ("ES384", "PS256")
    assert settings.required_scopes == ("read:gists", "write:gists", "admin:server")
    assert settings.token_type == "at+jwt"
    assert settings.idp_preset == "okta"
    assert settings.public_base_url == "https://mcp.example.com/prod"
    assert settings.max_token_bytes == 16384
    assert settings.leeway_seconds == 0


def test_client_secret_is_kept_out_of_repr():
    settings = load_settings({**INTROSPECTION, "OAUTH_INTROSPECTION_CLIENT_SECRET": "hunter2-xyz"})

    assert settings.introspection_client_secret == "hunter2-xyz"
    assert "hunter2-xyz" not in repr(settings)


# Every bad value names the variable to fix. One row per case.
BAD_SETTINGS = [
    pytest.param({"AUTH_MODE": "oauth"}, "AUTH_MODE", id="auth-mode-unknown"),
    pytest.param({"OAUTH_ALGORITHMS": "none"}, "OAUTH_ALGORITHMS", id="alg-none"),
    pytest.param({"OAUTH_ALGORITHMS": "NoNe"}, "OAUTH_ALGORITHMS", id="alg-none-mixed-case"),
    pytest.param({"OAUTH_ALGORITHMS": "RS256,none"}, "OAUTH_ALGORITHMS", id="alg-none-in-list"),
    pytest.param({"OAUTH_ALGORITHMS": "HS256"}, "OAUTH_ALGORITHMS", id="alg-hs256"),
    pytest.param({"OAUTH_ALGORITHMS": "hs512"}, "OAUTH_ALGORITHMS", id="alg-hs512-lower"),
    pytest.param({"OAUTH_ALGORITHMS": "ES256K"}, "OAUTH_ALGORITHMS", id="alg-unknown"),
    pytest.param({"OAUTH_ALGORITHMS": "rs256"}, "OAUTH_ALGORITHMS", id="alg-wrong-case"),
    pytest.param({"OAUTH_ALGORITHMS": ", ,"}, "OAUTH_ALGORITHMS", id="alg-empty-list"),
    pytest.param({"OAUTH_IDP_PRESET": "google"}, "OAUTH_IDP_PRESET", id="preset-unknown"),
    pytest.param(
        {**JWT, "OAUTH_ISSUER": "http://idp.example.com"}, "OAUTH_ISSUER", id="issuer-http"
    ),
    pytest.param(
        {**JWT, "OAUTH_ISSUER": f"{ISSUER},http://10.0.0.5"},
        "OAUTH_ISSUER",
        id="issuer-second-http",
    ),
    pytest.param({**JWT, "OAUTH_ISSUER": "idp.example.com"}, "OAUTH_ISSUER", id="issuer-no-scheme"),
    pytest.param(
        {**JWT, "OAUTH_ISSUER": "https://user:pw@idp.example.com"},
        "OAUTH_ISSUER",
        id="issuer-credentials",
    ),
    pytest.param(
        {**JWT, "OAUTH_JWKS_URI": "http://idp.example.com/jwks.json"},
        "OAUTH_JWKS_URI",
        id="jwks-http",
    ),
    pytest.param(
        {**JWT, "OAUTH_JWKS_URI": "ftp://idp.example.com/jwks.json"},
        "OAUTH_JWKS_URI",
        id="jwks-ftp",
    ),
    pytest.param(
        {**INTROSPECTION, "OAUTH_INTROSPECTION_URL": "http://idp.example.com/introspect"},
        "OAUTH_INTROSPECTION_URL",
        id="introspection-http",
    ),
    pytest.param(
        {**JWT, "OAUTH_INTROSPECTION_URL": "http://idp.example.com/introspect"},
        "OAUTH_INTROSPECTION_URL",
        id="introspection-http-checked-in-jwt-mode",
    ),
    pytest.param(
        {"PUBLIC_BASE_URL": "mcp.example.com/prod"}, "PUBLIC_BASE_URL", id="base-no-scheme"
    ),
    pytest.param({"PUBLIC_BASE_URL": "ftp://mcp.example.com"}, "PUBLIC_BASE_URL", id="base-ftp"),
    pytest.param({"PUBLIC_BASE_URL": "http://mcp.example.com"}, "PUBLIC_BASE_URL", id="base-http"),
    pytest.param(
        {"PUBLIC_BASE_URL": "https://mcp.example.com/prod?x=1"},
        "PUBLIC_BASE_URL",
        id="base-query",
    ),
    pytest.param(
        {"PUBLIC_BASE_URL": "https://mcp.example.com/#frag"}, "PUBLIC_BASE_URL", id="base-fragment"
    ),
    pytest.param({"OAUTH_MAX_TOKEN_BYTES": "8k"}, "OAUTH_MAX_TOKEN_BYTES", id="max-bytes-text"),
    pytest.param({"OAUTH_MAX_TOKEN_BYTES": "255"}, "OAUTH_MAX_TOKEN_BYTES", id="max-bytes-low"),
    pytest.param({"OAUTH_MAX_TOKEN_BYTES": "65537"}, "OAUTH_MAX_TOKEN_BYTES", id="max-bytes-high"),
    pytest.param({"OAUTH_LEEWAY_SECONDS": "-1"}, "OAUTH_LEEWAY_SECONDS", id="leeway-negative"),
    pytest.param({"OAUTH_LEEWAY_SECONDS": "301"}, "OAUTH_LEEWAY_SECONDS", id="leeway-high"),
    pytest.param(
        {**JWT, "OAUTH_ISSUER": f"{ISSUER},{ISSUER_B}", "OAUTH_AUDIENCE": "a;b;c"},
        "OAUTH_AUDIENCE",
        id="audience-groups-mismatch",
    ),
    pytest.param(
        {
            **JWT,
            "OAUTH_ISSUER": f"{ISSUER},{ISSUER_B}",
            "OAUTH_JWKS_URI": f"{ISSUER}/a.json,{ISSUER}/b.json,{ISSUER}/c.json",
        },
        "OAUTH_JWKS_URI",
        id="jwks-entries-mismatch",
    ),
    pytest.param({"AUTH_MODE": "jwt"}, "OAUTH_ISSUER", id="jwt-needs-issuer"),
    pytest.param(
        {"AUTH_MODE": "introspection", "OAUTH_INTROSPECTION_URL": f"{ISSUER}/introspect"},
        "OAUTH_ISSUER",
        id="introspection-needs-issuer",
    ),
    pytest.param(
        {"AUTH_MODE": "introspection", "OAUTH_ISSUER": ISSUER},
        "OAUTH_INTROSPECTION_URL",
        id="introspection-needs-url",
    ),
]


@pytest.mark.parametrize(("env", "variable"), BAD_SETTINGS)
def test_invalid_setting_names_the_variable(env, variable):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)

    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


@pytest.mark.parametrize(
    "issuer",
    [
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/realms/dev",
        "http://localhost:9000",
        "http://[::1]:8443/tenant",
    ],
)
def test_loopback_http_is_accepted(issuer):
    settings = load_settings(
        {
            "AUTH_MODE": "introspection",
            "OAUTH_ISSUER": issuer,
            "OAUTH_JWKS_URI": f"{issuer}/jwks.json",
            "OAUTH_INTROSPECTION_URL": f"{issuer}/introspect",
            "PUBLIC_BASE_URL": issuer,
        }
    )

    assert settings.issuers == (IssuerConfig(issuer, f"{issuer}/jwks.json", ()),)
    assert settings.introspection_url == f"{issuer}/introspect"
    assert settings.public_base_url == issuer


@pytest.mark.parametrize("mode", ["jwt", "introspection"])
def test_external_modes_keep_their_issuer(mode):
    settings = load_settings({**INTROSPECTION, "AUTH_MODE": mode})

    assert settings.auth_mode == mode
    assert settings.issuers == (IssuerConfig(ISSUER),)


def test_per_issuer_audiences_and_jwks_uris_are_positional():
    settings = load_settings(
        {
            **JWT,
            "OAUTH_ISSUER": f"{ISSUER}, {ISSUER_B}",
            "OAUTH_JWKS_URI": f"{ISSUER}/keys, ",
            "OAUTH_AUDIENCE": "api://a, https://mcp.example.com/mcp; api://b",
        }
    )

    assert settings.issuers == (
        IssuerConfig(ISSUER, f"{ISSUER}/keys", ("api://a", "https://mcp.example.com/mcp")),
        IssuerConfig(ISSUER_B, None, ("api://b",)),
    )


def test_a_single_audience_group_and_jwks_uri_apply_to_every_issuer():
    settings = load_settings(
        {
            **JWT,
            "OAUTH_ISSUER": f"{ISSUER},{ISSUER_B}",
            "OAUTH_JWKS_URI": f"{ISSUER}/keys",
            "OAUTH_AUDIENCE": "api://shared",
        }
    )

    assert [cfg.jwks_uri for cfg in settings.issuers] == [f"{ISSUER}/keys"] * 2
    assert [cfg.audiences for cfg in settings.issuers] == [("api://shared",)] * 2


def test_repr_never_shows_the_introspection_secret() -> None:
    settings = load_settings(
        {
            "AUTH_MODE": "introspection",
            "OAUTH_ISSUER": "https://idp.example.com",
            "OAUTH_INTROSPECTION_URL": "https://idp.example.com/introspect",
            "OAUTH_INTROSPECTION_CLIENT_SECRET": "s3cr3t-value-for-test",
        }
    )
    assert "s3cr3t-value-for-test" not in repr(settings)
    assert "s3cr3t-value-for-test" not in str(settings)
    assert "introspection_client_secret='***'" in repr(settings)
    assert settings.introspection_client_secret == "s3cr3t-value-for-test"
