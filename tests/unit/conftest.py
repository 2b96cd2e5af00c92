"""The unit tier: pure and fast. No servers, no moto, no subprocess stacks, no network.

Every INET socket ``connect``/``connect_ex``/``listen`` and every DNS lookup of a name
other than ``localhost`` raises here, and a test that tried one fails even if the code
under test swallowed the error. A test that needs any of it belongs in tests/component.
(``bind`` alone stays allowed: urllib3 binds ``::1`` on import to learn whether the host
has IPv6.)

The well-known function's fixtures come from tests/fixtures/wellknown.py, shared with
the component tier.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.wellknown import builtin, wellknown

__all__ = ["builtin", "wellknown"]

_ATTEMPTS: list[str] = []
_INET = (socket.AF_INET, socket.AF_INET6)


class NetworkBlocked(RuntimeError):
    """A unit test reached for the network."""


def _refuse(what: str) -> None:
    _ATTEMPTS.append(what)
    raise NetworkBlocked(f"{what}: unit tests use no network (move the test to tests/component)")


def _is_local_name(host: Any) -> bool:
    """Resolving these needs no DNS: no host, localhost, an IP literal."""
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


@pytest.fixture(scope="package", autouse=True)
def _no_network() -> Iterator[None]:
    """For every test under tests/unit (package scope: undone when the tier is done)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("connect", "connect_ex", "listen"):
            real = getattr(socket.socket, name)

            def guarded(self: socket.socket, *args: Any, _real: Any = real, _name: str = name):
                if self.family in _INET:
                    _refuse(f"socket.{_name}{args!r} on {self.getsockname()!r}")
                return _real(self, *args)

            patch.setattr(socket.socket, name, guarded)

        real_getaddrinfo = socket.getaddrinfo

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not _is_local_name(host):
                _refuse(f"socket.getaddrinfo({host!r})")
            return real_getaddrinfo(host, *args, **kwargs)

        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


@pytest.fixture(autouse=True)
def _network_untouched() -> Iterator[None]:
    """Fail the test that reached for the network, even if the error was caught."""
    _ATTEMPTS.clear()
    yield
    if _ATTEMPTS:
        attempts = ", ".join(_ATTEMPTS)
        _ATTEMPTS.clear()
        pytest.fail(f"a unit test used the network: {attempts}", pytrace=False)


@pytest.fixture
def httpserver() -> None:
    """pytest-httpserver's loopback server is a component-tier part."""
    pytest.fail("tests/unit starts no servers: move this test to tests/component", pytrace=False)
