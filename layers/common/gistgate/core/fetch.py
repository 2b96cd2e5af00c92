"""Bounded HTTP for metadata, JWKS and introspection: small, fast, same-host only.

The limits are the point: a slow or hostile endpoint must not hold a Lambda
(or an API Gateway authorizer, which has a hard timeout) or fill its memory.
httpx is imported on first use so that functions which never fetch do not
pay for it at cold start.

:func:`bounded_transport` is the one httpx transport every outbound client of
ours uses (this module's, the GitHub client's, the CIMD fetcher's, the CLI's):
every socket operation within one deadline (:func:`within`) and, when given an
address check, connections only to vetted addresses.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from gistgate.core.netguard import UnsafeUrlError, check_outbound_url

if TYPE_CHECKING:
    import ssl

    import httpcore
    import httpx

__all__ = [
    "MAX_REDIRECTS",
    "USER_AGENT",
    "AddressCheck",
    "FetchError",
    "bounded_transport",
    "read_capped",
    "request_json",
    "within",
]

DEFAULT_TIMEOUT = 2.0
DEFAULT_MAX_BYTES = 150_000
MAX_REDIRECTS = 3
USER_AGENT = "gistgate/0.1 (+https://github.com/gistgate/gistgate)"

# May a connection go to this IP address? (see :func:`bounded_transport`)
AddressCheck = Callable[[str], bool]

_client: httpx.Client | None = None
# The absolute (monotonic) deadline of the request in progress. httpx's timeouts
# apply to each socket operation, so a server that trickles its headers a byte
# at a time would never trip them; every socket operation is capped by this.
_deadline: ContextVar[float | None] = ContextVar("gistgate_fetch_deadline", default=None)


class FetchError(Exception):
    """A fetch failed; ``reason`` is a short machine-readable code.

    One of: unsafe_url, redirect_off_host, too_many_redirects, http_status, timeout,
    transport, too_large, not_json; and from a vetting transport, unsafe_address (an
    address the check refused) and unresolved (the host name has no address).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _remaining(timeout: float | None) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        import httpcore

        raise httpcore.ReadTimeout("request deadline passed")
    return left if timeout is None else min(timeout, left)


def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses ``host`` resolves to, each once, in the resolver's order.

    getaddrinfo runs in a daemon thread, so a slow resolver cannot outlast the deadline.
    """
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:
            box.append(exc)

    worker = threading.Thread(target=run, name="gistgate-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if not box:
        raise FetchError("timeout", "name resolution")
    if isinstance(box[0], Exception) or not box[0]:
        raise FetchError("unresolved", "the host name does not resolve")
    return list(dict.fromkeys(str(info[4][0]) for info in box[0]))


def _network_backend(vet: AddressCheck | None) -> httpcore.NetworkBackend:
    """An httpcore network backend whose every socket operation honours ``_deadline``.

    With ``vet``, a TCP connect resolves the host once, refuses (``FetchError``
    ``unsafe_address``) unless ``vet`` accepts every address, and connects to the
    vetted addresses themselves, the first that answers; TLS SNI, certificate checks and
    ``Host`` keep the name, so a DNS answer that changes between check and connect
    (rebinding) has no window. Unix sockets are refused then.
    """
    import httpcore

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, _remaining(timeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, _remaining(timeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(
            self,
            ssl_context: ssl.SSLContext,
            server_hostname: str | None = None,
            timeout: float | None = None,
        ) -> httpcore.NetworkStream:
            return Stream(self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout)))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self._inner = httpcore.SyncBackend()

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> httpcore.NetworkStream:
            if vet is None:
                return self._connect(host, port, timeout, local_address, socket_options)
            started = time.monotonic()
            addresses = _resolve(host, port, _remaining(timeout))
            if not all(vet(address) for address in addresses):
                raise FetchError("unsafe_address", "a resolved address was refused")
            if timeout is not None:
                timeout = max(timeout - (time.monotonic() - started), 0.01)
            *others, last = addresses
            for address in others:
                try:
                    return self._connect(address, port, timeout, local_address, socket_options)
                except httpcore.ConnectError:
                    continue  # the next vetted address
            return self._connect(last, port, timeout, local_address, socket_options)

        def _connect(
            self,
            host: str,
            port: int,
            timeout: float | None,
            local_address: str | None,
            socket_options: Any,
        ) -> httpcore.NetworkStream:
            return Stream(
                self._inner.connect_tcp(
                    host, port, _remaining(timeout), local_address, socket_options
                )
            )

        def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Any = None
        ) -> httpcore.NetworkStream:
            if vet is not None:
                raise FetchError("unsafe_url", "unix sockets are not fetched")
            return Stream(
                self._inner.connect_unix_socket(path, _remaining(timeout), socket_options)
            )

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return Backend()


def bounded_transport(
    *, vet: AddressCheck | None = None, max_keepalive_connections: int | None = None
) -> httpx.HTTPTransport:
    """httpx's transport with our deadline-aware network backend (see :func:`within`).

    ``vet`` (an address in, may we connect to it?) fences every connection: the host
    is resolved once and every address must pass (see :func:`_network_backend`).
    ``max_keepalive_connections=0`` keeps no idle sockets. httpx exposes no
    network-backend option, so its connection pool is replaced;
    ``tests/component/core/test_fetch.py`` fails loudly if httpx stops having one.
    """
    import httpcore
    import httpx

    transport = httpx.HTTPTransport()
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        raise RuntimeError("httpx.HTTPTransport no longer has a ConnectionPool _pool")
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=_network_backend(vet),
        max_keepalive_connections=max_keepalive_connections,
    )
    return transport


def _http() -> httpx.Client:
    """One pooled client per process: warm invocations reuse its connections."""
    global _client
    if _client is None:
        import httpx

        _client = httpx.Client(
            transport=bounded_transport(),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            trust_env=False,
        )
    return _client


def read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    """The response body, refused (``FetchError``) past ``max_bytes`` or ``deadline``."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError("too_large", f"{declared} bytes declared")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError("too_large", f"over {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchError("timeout", "body too slow")
        chunks.append(chunk)
    return b"".join(chunks)


@contextmanager
def within(seconds: float) -> Iterator[float]:
    """Cap every socket operation of a :func:`bounded_transport` client at one deadline."""
    deadline = time.monotonic() + seconds
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def request_json(
    url: str,
    *,
    method: str = "GET",
    form: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    headers: Mapping[str, str] | None = None,
    statuses: tuple[int, ...] = (200,),
) -> Any:
    """Fetch ``url`` and decode its JSON body, within a time and size budget.

    Redirects are followed only to the same scheme and host (at most three).
    Anything else (a status not in ``statuses``, a transport error, a body that
    is too big or not JSON) raises :class:`FetchError`. An OAuth endpoint that
    answers errors as JSON with a 4xx can list those statuses.
    """

    with within(timeout) as deadline:
        return _request_json(url, method, form, auth, deadline, max_bytes, headers, statuses)


def _request_json(
    url: str,
    method: str,
    form: Mapping[str, str] | None,
    auth: tuple[str, str] | None,
    deadline: float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    statuses: tuple[int, ...] = (200,),
) -> Any:
    import httpx

    origin = urlsplit(url)
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_outbound_url(url)
        except UnsafeUrlError as exc:
            raise FetchError("unsafe_url", str(exc)) from None
        remaining = max(deadline - time.monotonic(), 0.05)
        try:
            with _http().stream(
                method,
                url,
                data=form,
                auth=auth,
                headers=headers,
                timeout=httpx.Timeout(remaining),
            ) as response:
                if response.has_redirect_location:
                    target = urljoin(url, response.headers.get("location", ""))
                    parts = urlsplit(target)
                    if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
                        raise FetchError("redirect_off_host", parts.netloc)
                    url = target
                    continue
                if response.status_code not in statuses:
                    raise FetchError("http_status", str(response.status_code))
                body = read_capped(response, max_bytes, deadline)
        except httpx.TimeoutException:
            raise FetchError("timeout") from None
        except httpx.HTTPError as exc:
            raise FetchError("transport", type(exc).__name__) from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise FetchError("not_json") from None
    raise FetchError("too_many_redirects")
