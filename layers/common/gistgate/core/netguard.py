"""Outbound-network rules: which URLs and which addresses we may connect to.

Two rules live here, so that every outbound fetch is judged in one place:

* :func:`check_outbound_url`: https everywhere, plain http only on loopback.
  Every URL we fetch (JWKS, discovery, introspection) passes through it, at
  configuration time and again before each request, including redirect targets.
* :func:`is_public_address`: the SSRF fence for fetches made on a client's
  behalf (CIMD documents). An address is refused if it falls in any block of
  :data:`SPECIAL_PURPOSE`, our own copy of the IANA IPv4 and IPv6
  Special-Purpose Address Registries (RFC 6890 and successors), plus IPv4
  multicast and everything IANA has not allocated as IPv6 global unicast.

The list is explicit on purpose: Python's ``ipaddress`` properties
(``is_private``, ``is_global``, ...) change between Python versions (3.11 calls
192.0.0.8 and 3fff::1 global), and a security fence must not move with the
interpreter. ``ipaddress`` is used only to parse literals and to compare them
with the networks below.

Whole registry entries are refused, even where IANA marks a block or some of
its sub-blocks globally reachable (the AS112 and AMT anycast blocks, the PCP
and TURN anycast addresses in 192.0.0.0/24, and parts of 2001::/23 such as
2001:1::1/128, 2001:3::/32 AMT, 2001:4:112::/48 AS112 and 2001:20::/28
ORCHIDv2): none of them hosts a client's metadata document, and a server that
fetches URLs chosen by strangers should rather refuse too much than too little.

IPv6 forms that carry an IPv4 address are handled so: IPv4-mapped
(::ffff:0:0/96) and well-known-prefix NAT64 (64:ff9b::/96) addresses are judged
by the IPv4 address they embed; 6to4 (2002::/16), Teredo (2001::/32),
IPv4-compatible (::/96) and IPv4-translated (::ffff:0:0:0/96) addresses are
refused outright, since the IPv4 endpoint they reach is not the one we could
judge (relays, NAT) or the form is deprecated.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = [
    "EMBEDS_IPV4",
    "SPECIAL_PURPOSE",
    "UnsafeUrlError",
    "check_outbound_url",
    "is_loopback_address",
    "is_loopback_host",
    "is_public_address",
    "special_purpose_network",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (block, the registry entry and the RFC that defines it). Order matters only for
# naming: the first block that contains an address is the one reported, so
# specific entries come before the catch-all ones that contain them.
SPECIAL_PURPOSE: tuple[tuple[str, str], ...] = (
    # --- IANA IPv4 Special-Purpose Address Registry, plus multicast ---
    ("0.0.0.0/8", "this network, RFC 791 §3.2"),
    ("10.0.0.0/8", "private-use, RFC 1918"),
    ("100.64.0.0/10", "shared address space (CGNAT), RFC 6598"),
    ("127.0.0.0/8", "loopback, RFC 1122 §3.2.1.3"),
    ("169.254.0.0/16", "link-local (cloud instance metadata), RFC 3927"),
    ("172.16.0.0/12", "private-use, RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments (incl. /29 and /32 sub-entries), RFC 6890"),
    ("192.0.2.0/24", "documentation TEST-NET-1, RFC 5737"),
    ("192.31.196.0/24", "AS112-v4, RFC 7535"),
    ("192.52.193.0/24", "AMT, RFC 7450"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast, RFC 7526"),
    ("192.168.0.0/16", "private-use, RFC 1918"),
    ("192.175.48.0/24", "direct delegation AS112 service, RFC 7534"),
    ("198.18.0.0/15", "benchmarking, RFC 2544"),
    ("198.51.100.0/24", "documentation TEST-NET-2, RFC 5737"),
    ("203.0.113.0/24", "documentation TEST-NET-3, RFC 5737"),
    ("224.0.0.0/4", "multicast, RFC 5771"),
    ("255.255.255.255/32", "limited broadcast, RFC 8190 / RFC 919 §7"),
    ("240.0.0.0/4", "reserved, RFC 1112 §4"),
    # --- IANA IPv6 Special-Purpose Address Registry ---
    ("::/128", "unspecified address, RFC 4291"),
    ("::1/128", "loopback address, RFC 4291"),
    ("::/96", "IPv4-compatible (deprecated), RFC 4291 §2.5.5.1"),
    ("::ffff:0:0:0/96", "IPv4-translated, RFC 2765"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation, RFC 8215"),
    ("100::/64", "discard-only, RFC 6666"),
    ("100:0:0:1::/64", "dummy IPv6 prefix, RFC 9780"),
    ("2001::/32", "Teredo, RFC 4380"),
    ("2001::/23", "IETF protocol assignments, RFC 2928"),
    ("2001:db8::/32", "documentation, RFC 3849"),
    ("2002::/16", "6to4, RFC 3056"),
    ("2620:4f:8000::/48", "direct delegation AS112 service, RFC 7534"),
    ("3fff::/20", "documentation, RFC 9637"),
    ("5f00::/16", "segment routing (SRv6) SIDs, RFC 9602"),
    ("fc00::/7", "unique-local, RFC 4193"),
    ("fe80::/10", "link-local unicast, RFC 4291"),
    ("fec0::/10", "site-local (deprecated), RFC 3879"),
    ("ff00::/8", "multicast, RFC 4291"),
    # --- IANA IPv6 Address Space: only 2000::/3 is global unicast, the rest is
    # reserved by the IETF (what ``is_reserved`` used to catch, e.g. 4000::1) ---
    ("::/3", "outside global unicast 2000::/3, reserved by the IETF, RFC 4291"),
    ("4000::/2", "outside global unicast 2000::/3, reserved by the IETF, RFC 4291"),
    ("8000::/1", "outside global unicast 2000::/3, reserved by the IETF, RFC 4291"),
)

# IPv6 prefixes whose last 32 bits are an IPv4 address we judge instead.
EMBEDS_IPV4: tuple[tuple[str, str], ...] = (
    ("::ffff:0:0/96", "IPv4-mapped, RFC 4291 §2.5.5.2"),
    ("64:ff9b::/96", "IPv4/IPv6 translation well-known prefix (NAT64), RFC 6052"),
)

_BLOCKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), cidr) for cidr, _ in SPECIAL_PURPOSE
)
_EMBEDDING: tuple[ipaddress.IPv6Network, ...] = tuple(
    ipaddress.IPv6Network(cidr) for cidr, _ in EMBEDS_IPV4
)
_LOOPBACK: tuple[IPNetwork, ...] = (
    ipaddress.IPv4Network("127.0.0.0/8"),
    ipaddress.IPv6Network("::1/128"),
)


class UnsafeUrlError(ValueError):
    """The URL is not https, or is http on a host that is not loopback."""


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A plain IP literal, or ValueError (names, zone ids, packed bytes, ints)."""
    try:
        if isinstance(address, str) and "%" not in address:
            return ipaddress.ip_address(address)
    except ValueError:
        pass
    raise ValueError("not a plain IP literal")


def special_purpose_network(address: str) -> str | None:
    """The :data:`SPECIAL_PURPOSE` block (its CIDR) ``address`` falls in, or None.

    IPv4-mapped and NAT64 addresses are judged by the IPv4 address they carry,
    so ``::ffff:10.0.0.1`` names ``10.0.0.0/8``. Raises ValueError if
    ``address`` is not a plain IP literal (a name, or IPv6 with a zone id).
    """
    ip = _parse(address)
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _EMBEDDING):
        ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for network, cidr in _BLOCKS:
        if ip.version == network.version and ip in network:
            return cidr
    return None


def is_public_address(address: str) -> bool:
    """True if ``address`` is a plain IP literal outside every special-purpose block.

    This is the test for connecting somewhere on a client's behalf: anything
    that is not clearly a public unicast address, including garbage, is refused.
    """
    try:
        return special_purpose_network(address) is None
    except ValueError:
        return False


def is_loopback_address(address: str) -> bool:
    """True for a plain literal in 127.0.0.0/8 or ::1 (no mapped forms, no zone id)."""
    try:
        ip = _parse(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in _LOOPBACK)


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (brackets allowed)."""
    host = host.strip("[]").lower()
    return host == "localhost" or is_loopback_address(host)


def check_outbound_url(url: str) -> str:
    """Return the URL unchanged, or raise :class:`UnsafeUrlError` saying why."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise UnsafeUrlError(f"{url!r} is not a valid URL") from None
    if not host:
        raise UnsafeUrlError(f"{url!r} has no host")
    if parts.username or parts.password:
        raise UnsafeUrlError(f"{url!r} must not carry credentials")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and is_loopback_host(host):
        return url
    raise UnsafeUrlError(f"{url!r} must use https (http is allowed only for loopback hosts)")
