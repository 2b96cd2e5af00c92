"""Shared fixtures: keys, a real IdP (JWKS + metadata) over HTTP on loopback,
settings and authorizer factories, handler loading."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from gistgate.authorizer.service import Authorizer, build_authorizer
from gistgate.core.config import Settings, get_settings, load_settings
from gistgate.tokens.trust import resolve_trust
from tests.fixtures.tokens import KeyRing, make_key

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = [
    "tests.fixtures.aws",
    "tests.fixtures.mcp_stack",
    "tests.fixtures.oauth_stack",
    "tests.fixtures.dev_stack",
    "tests.fixtures.fake_oidc",
]


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing(
        rsa=make_key("RS256", "rsa-1"),
        ec=make_key("ES256", "ec-1"),
        ec384=make_key("ES384", "ec384-1"),
        other_rsa=make_key("RS256", "rsa-1"),  # same kid, another issuer's key
    )


class IdP:
    """A real identity provider's HTTP surface: JWKS, metadata, introspection."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.issuer = server.url_for("").rstrip("/")
        self.jwks_uri = server.url_for("/jwks.json")

    def serve_jwks(self, document: dict[str, Any] | None = None, *, status: int = 200) -> None:
        self.server.clear_all_handlers()
        if status == 200:
            self.server.expect_request("/jwks.json").respond_with_json(document or {"keys": []})
        else:
            self.server.expect_request("/jwks.json").respond_with_data("boom", status=status)

    def serve_metadata(self, path: str, document: dict[str, Any]) -> None:
        self.server.expect_request(path).respond_with_json(document)

    def hits(self, path: str) -> int:
        return sum(1 for request, _ in self.server.log if request.path == path)

    @property
    def jwks_fetches(self) -> int:
        return self.hits("/jwks.json")


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


def load_handler(function: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import functions/<function>/app.py fresh, as a Lambda cold start would."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    resolve_trust.cache_clear()
    name = f"gistgate_fn_{function}"
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / function / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()
    resolve_trust.cache_clear()


class DecisionLog(list):  # type: ignore[type-arg]
    """The authorizer's decision lines, parsed from the JSON the formatter writes."""

    @property
    def reasons(self) -> list[str]:
        return [r.reason for r in self]


@pytest.fixture
def decisions() -> Iterator[DecisionLog]:
    """Capture the authorizer's decision lines from its Powertools logger."""
    import json
    import logging
    from types import SimpleNamespace

    from gistgate.core.observability import SERVICE, logger

    records = DecisionLog()
    formatter = logger.registered_handler.formatter

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "authorizer decision":
                records.append(SimpleNamespace(**json.loads(formatter.format(record))))

    handler = Collect()
    target = logging.getLogger(SERVICE)
    target.addHandler(handler)
    yield records
    target.removeHandler(handler)


@pytest.fixture
def log_output() -> Iterator[Any]:
    """Everything the process logger writes during the test, as one text buffer."""
    import io

    from gistgate.core.observability import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    handler.setStream(previous)  # type: ignore[attr-defined]
