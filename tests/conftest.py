"""Fixtures every tier may use, none of which starts a server or touches AWS: keys,
fresh settings per test, the authorizer's decision lines, the process log.

The tiers add their own: tests/unit/conftest.py blocks the network,
tests/component/conftest.py brings moto, the loopback IdP, the fake GitHub and the
in-process stacks, tests/e2e/conftest.py the ``make dev`` stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gistgate.core.config import get_settings
from gistgate.tokens.trust import resolve_trust
from tests.fixtures.tokens import KeyRing, make_key


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing(
        rsa=make_key("RS256", "rsa-1"),
        ec=make_key("ES256", "ec-1"),
        ec384=make_key("ES384", "ec384-1"),
        other_rsa=make_key("RS256", "rsa-1"),  # same kid, another issuer's key
    )


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
