"""The component tier: real handlers and real parts around them, all in this process or
on loopback. moto (provisioned from template.yaml), an IdP over HTTP on 127.0.0.1
(pytest-httpserver), the fake GitHub, a fake OpenID provider, the MCP function behind
Mangum and the whole API behind the local gateway.

The stack fixtures live in tests/fixtures/ and are brought in by name here (pytest
takes ``pytest_plugins`` only from the top-level conftest, and the unit tier should not
import moto or the dev stack at all).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer

from gistgate.authorizer.service import Authorizer, build_authorizer
from gistgate.core.config import Settings, load_settings
from gistgate.tokens.trust import resolve_trust
from tests.fixtures.aws import aws
from tests.fixtures.enterprise import enterprise, enterprise_idp, make_enterprise
from tests.fixtures.fake_oidc import oidc
from tests.fixtures.idp import IdP
from tests.fixtures.mcp_stack import github, make_stack, stack
from tests.fixtures.oauth_stack import make_oauth_stack, oauth_stack
from tests.fixtures.tokens import KeyRing
from tests.fixtures.wellknown import builtin, wellknown

__all__ = [
    "aws",
    "builtin",
    "enterprise",
    "enterprise_idp",
    "github",
    "make_enterprise",
    "make_oauth_stack",
    "make_stack",
    "oauth_stack",
    "oidc",
    "stack",
    "wellknown",
]


@pytest.fixture
def idp(httpserver: HTTPServer, keyring: KeyRing) -> Iterator[IdP]:
    provider = IdP(httpserver)
    provider.serve_jwks(keyring.jwks())
    yield provider
    httpserver.clear()


@pytest.fixture
def make_settings(idp: IdP) -> Callable[..., Settings]:
    """Settings for AUTH_MODE=jwt against the test IdP; keyword args override env vars."""

    def factory(**env: str) -> Settings:
        base = {
            "AUTH_MODE": "jwt",
            "OAUTH_ISSUER": idp.issuer,
            "OAUTH_JWKS_URI": idp.jwks_uri,
        }
        base.update(env)
        return load_settings({k: v for k, v in base.items() if v is not None})

    return factory


@pytest.fixture
def make_authorizer(make_settings: Callable[..., Settings]) -> Callable[..., Authorizer]:
    """A freshly wired authorizer (empty caches) for the given env overrides."""

    def factory(**env: str) -> Authorizer:
        resolve_trust.cache_clear()
        return build_authorizer(make_settings(**env), prefetch=False)

    return factory
