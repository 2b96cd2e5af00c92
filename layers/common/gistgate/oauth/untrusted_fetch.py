"""Fetch a small JSON document from a URL that a stranger chose (CIMD, a client's JWKS).

A client metadata document's URL and a client's ``jwks_uri`` are picked by whoever
registers, so fetching them is an SSRF surface. One fence for both:

* https only (plain http to a loopback host only with ``allow_loopback``, for dev and
  tests); no credentials, no fragment, no zone id or percent-encoded host;
* an IP literal is vetted before anything else; a name is resolved once, at connect
  time, and refused unless *every* address is public
  (:func:`gistgate.core.netguard.is_public_address`; ``allow_loopback`` adds loopback
  and nothing else). The connection goes to the vetted address while SNI, certificate
  checks and ``Host`` keep the name, so DNS rebinding has no window
  (:func:`gistgate.core.fetch.bounded_transport` with ``vet``);
* no proxies from the environment, no redirects, a size cap and one deadline over every
  socket operation (:func:`gistgate.core.fetch.within`, :func:`read_capped`);
* the body is decoded strictly (:func:`gistgate.core.inbound.jsontext.decode_json`: no
  repeated members, NaN, lone surrogates or absurd nesting).

Every failure is an :class:`UntrustedFetchError` whose reason and message are ours:
nothing the remote server sent (body, headers, reason phrase) ever reaches them; the
only remote value is the HTTP status, as a number.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from gistgate.core.fetch import USER_AGENT, FetchError, bounded_transport, read_capped, within
from gistgate.core.inbound import MalformedRequest
from gistgate.core.inbound.jsontext import decode_json
from gistgate.core.netguard import is_loopback_address, is_loopback_host, is_public_address
from gistgate.oauth.redirects import uri_characters_ok

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MAX_URL_LENGTH",
    "Fetched",
    "UntrustedFetchError",
    "cache_max_age",
    "check_untrusted_url",
    "fetch_untrusted_json",
    "is_vetted_address",
]

MAX_URL_LENGTH = 2048


class UntrustedFetchError(Exception):
    """An untrusted document could not be fetched.

    ``reason`` is one of: unsafe_url, private_address, timeout, too_large, http_status,
    transport, not_json (the same codes as :class:`gistgate.oauth.cimd.CimdError`).
    ``message`` is fixed text of ours, safe to show a client.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Fetched(NamedTuple):
    """The decoded document and its freshness (Cache-Control max-age; 0 for no-store)."""

    data: Any
    max_age: float | None


def is_vetted_address(address: str, *, allow_loopback: bool = False) -> bool:
    """May we connect to ``address``? Public addresses, and loopback in dev mode only."""
    return is_public_address(address) or (allow_loopback and is_loopback_address(address))


def check_untrusted_url(url: str, *, allow_loopback: bool = False, url_name: str = "URL") -> None:
    """Refuse (:class:`UntrustedFetchError`) a URL we must not fetch, before any network.

    Checks what can be checked without DNS: the scheme, the characters, credentials,
    fragment, the host's form, and an IP-literal host against the fence. A host name is
    vetted after resolution, at connect time.
    """
    unsafe = UntrustedFetchError(
        "unsafe_url",
        f"The {url_name} must be an https URL with a host (no credentials or fragment).",
    )
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_LENGTH:
        raise unsafe
    # urlsplit silently drops tabs and newlines, so refuse them (and spaces) first.
    if not uri_characters_ok(url) or "#" in url:
        raise unsafe
    if not url.startswith(("https://", "http://")):  # the scheme exactly, lower case
        raise unsafe
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise unsafe from None
    if not host or parts.username is not None or parts.password is not None:
        raise unsafe
    if parts.scheme == "http" and not (allow_loopback and is_loopback_host(host)):
        raise unsafe
    if "%" in host:  # an IPv6 zone id or a percent-encoded name: never a public host
        raise unsafe
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name: vetted after resolution, at connect time
    if not is_vetted_address(host, allow_loopback=allow_loopback):
        raise _private(url_name)


def _private(url_name: str) -> UntrustedFetchError:
    return UntrustedFetchError(
        "private_address", f"The {url_name} points at a private or reserved network address."
    )


def cache_max_age(cache_control: str) -> float | None:
    """The response's freshness from Cache-Control: max-age, 0 for no-store/no-cache."""
    age: float | None = None
    for directive in cache_control.lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age" and value.strip().strip('"').isdigit():
            age = float(value.strip().strip('"'))
    return age


_clients: dict[bool, httpx.Client] = {}


def _http(allow_loopback: bool) -> httpx.Client:
    """One client per process and ``allow_loopback``: building one costs ~50 ms of TLS setup.

    Its transport resolves each host once and connects only to vetted addresses.
    """
    client = _clients.get(allow_loopback)
    if client is None:
        import httpx

        transport = bounded_transport(
            vet=lambda address: is_vetted_address(address, allow_loopback=allow_loopback),
            max_keepalive_connections=0,  # no idle sockets to hosts we do not control
        )
        client = _clients[allow_loopback] = httpx.Client(
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # a proxy would connect by name, undoing the pinning
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
    return client


def _size(max_bytes: int) -> str:
    return f"{max_bytes // 1024} KB" if max_bytes % 1024 == 0 else f"{max_bytes} bytes"


def _from_fetch_error(
    exc: FetchError, what: str, url_name: str, max_bytes: int
) -> UntrustedFetchError:
    """Our reason and message for a :class:`FetchError` (its detail is never passed on)."""
    known = {
        "timeout": ("timeout", f"The {what} took too long to fetch."),
        "too_large": ("too_large", f"The {what} is larger than {_size(max_bytes)}."),
        "unresolved": ("transport", f"The host name of the {url_name} does not resolve."),
        "unsafe_url": ("unsafe_url", "Unix sockets are not fetched."),
    }
    if exc.reason == "unsafe_address":
        return _private(url_name)
    reason, message = known.get(exc.reason, ("transport", f"The {what} fetch failed."))
    return UntrustedFetchError(reason, message)


def fetch_untrusted_json(
    url: str,
    *,
    what: str,
    max_bytes: int,
    url_name: str = "URL",
    allow_loopback: bool = False,
    timeout: float = 5.0,
) -> Fetched:
    """GET ``url`` behind the fence and decode its JSON body; else :class:`UntrustedFetchError`.

    ``what`` names the document in messages ("client metadata document"), ``url_name``
    the URL ("client_id URL", "jwks_uri"). Only a 200 is a document; a redirect is an
    ``http_status`` failure, never followed. Caching is the caller's (``max_age``).
    """
    import httpx

    check_untrusted_url(url, allow_loopback=allow_loopback, url_name=url_name)
    with within(timeout) as deadline:
        try:
            with _http(allow_loopback).stream(
                "GET", url, timeout=httpx.Timeout(timeout)
            ) as response:
                status = int(response.status_code)
                if status != 200:
                    note = " (redirects are not followed)" if 300 <= status < 400 else ""
                    raise UntrustedFetchError(
                        "http_status", f"Fetching the {what} gave HTTP {status:d}{note}."
                    )
                body = read_capped(response, max_bytes, deadline)
                max_age = cache_max_age(response.headers.get("cache-control", ""))
        except FetchError as exc:
            raise _from_fetch_error(exc, what, url_name, max_bytes) from None
        except httpx.InvalidURL:  # a URL urlsplit accepted and httpx does not
            raise UntrustedFetchError(
                "unsafe_url", f"The {url_name} is not a URL that can be fetched."
            ) from None
        except httpx.TimeoutException:
            raise UntrustedFetchError("timeout", f"The {what} took too long to fetch.") from None
        except httpx.HTTPError:
            raise UntrustedFetchError("transport", f"The {what} could not be fetched.") from None
    try:
        data = decode_json(body, what)
    except MalformedRequest:  # not UTF-8, too deep, repeated members, NaN, surrogates
        raise UntrustedFetchError("not_json", f"The {what} is not JSON.") from None
    return Fetched(data, max_age)
