"""Bounded HTTP for metadata, JWKS and introspection: small, fast, same-host only.

The limits are the point: a slow or hostile endpoint must not hold a Lambda
(or an API Gateway authorizer, which has a hard timeout) or fill its memory.
httpx is imported on first use so that functions which never fetch do not
pay for it at cold start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from gistgate.core.netguard import UnsafeUrlError, check_outbound_url

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT = 2.0
DEFAULT_MAX_BYTES = 150_000
MAX_REDIRECTS = 3
USER_AGENT = "gistgate/0.1 (+https://github.com/gistgate/gistgate)"

_client: httpx.Client | None = None
# The absolute (monotonic) deadline of the request in progress. httpx's timeouts
# apply to each socket operation, so a server that trickles its headers a byte
# at a time would never trip them; every socket operation is capped by this.
_deadline: ContextVar[float | None] = ContextVar("gistgate_fetch_deadline", default=None)


class FetchError(Exception):
    """A fetch failed; ``reason`` is a short machine-readable code."""

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


def _deadline_backend() -> Any:
    """An httpcore network backend whose every socket operation honours ``_deadline``."""
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
            self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
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
            return Stream(
                self._inner.connect_tcp(
                    host, port, _remaining(timeout), local_address, socket_options
                )
            )

        def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Any = None
        ) -> httpcore.NetworkStream:
            return Stream(
                self._inner.connect_unix_socket(path, _remaining(timeout), socket_options)
            )

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return Backend()


def bounded_transport() -> httpx.HTTPTransport:
    """httpx's transport with our deadline-aware network backend (see :func:`within`).

    httpx exposes no network-backend option, so its connection pool is replaced;
    ``tests/unit/test_fetch.py`` fails loudly if httpx stops having one.
    """
    import httpcore
    import httpx

    transport = httpx.HTTPTransport()
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        raise RuntimeError("httpx.HTTPTransport no longer has a ConnectionPool _pool")
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=_deadline_backend(),
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


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
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
                body = _read_capped(response, max_bytes, deadline)
        except httpx.TimeoutException:
            raise FetchError("timeout") from None
        except httpx.HTTPError as exc:
            raise FetchError("transport", type(exc).__name__) from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise FetchError("not_json") from None
    raise FetchError("too_many_redirects")
