"""gistgate/core/netguard.py: https everywhere, plain http only on loopback, and the
special-purpose address fence for fetches made on a client's behalf."""

from __future__ import annotations

import ipaddress

import pytest

from gistgate.core.netguard import (
    EMBEDS_IPV4,
    SPECIAL_PURPOSE,
    UnsafeUrlError,
    check_outbound_url,
    is_loopback_address,
    is_loopback_host,
    is_public_address,
    special_purpose_network,
)

SAFE_URLS = [
    "https://idp.example.com",
    "https://idp.example.com:8443/oauth2/v1/keys?x=1",
    "HTTPS://IDP.EXAMPLE.COM/keys",
    "https://10.0.0.5/jwks.json",
    "http://127.0.0.1:8080/jwks.json",
    "http://127.10.20.30/",
    "http://localhost:9000/realms/dev",
    "http://LocalHost/keys",
    "http://[::1]:8443/keys",
]

UNSAFE_URLS = [
    pytest.param("http://idp.example.com/jwks.json", "must use https", id="http-public"),
    pytest.param("http://10.0.0.5/jwks.json", "must use https", id="http-private-ip"),
    pytest.param("http://169.254.169.254/latest/", "must use https", id="http-metadata-ip"),
    pytest.param("http://0.0.0.0:8080/", "must use https", id="http-unspecified"),
    pytest.param("http://[::]/", "must use https", id="http-ipv6-unspecified"),
    pytest.param("http://localhost.evil.example/", "must use https", id="http-localhost-prefix"),
    pytest.param("http://127.0.0.1.nip.io/", "must use https", id="http-loopback-lookalike"),
    pytest.param("ftp://idp.example.com/keys", "must use https", id="ftp"),
    pytest.param("file:///etc/passwd", "has no host", id="file"),
    pytest.param("https:///keys", "has no host", id="no-host"),
    pytest.param("idp.example.com/keys", "has no host", id="no-scheme"),
    pytest.param("", "has no host", id="empty"),
    pytest.param("https://user:pw@idp.example.com/", "credentials", id="userinfo"),
    pytest.param("https://user@idp.example.com/", "credentials", id="username-only"),
    pytest.param("http://user:pw@127.0.0.1/", "credentials", id="userinfo-loopback"),
    pytest.param("https://idp.example.com:99999/", "not a valid URL", id="port-out-of-range"),
    pytest.param("https://idp.example.com:abc/", "not a valid URL", id="port-not-numeric"),
    pytest.param("http://[::1/", "not a valid URL", id="broken-ipv6"),
]


@pytest.mark.parametrize("url", SAFE_URLS)
def test_safe_url_is_returned_unchanged(url):
    assert check_outbound_url(url) == url


@pytest.mark.parametrize(("url", "why"), UNSAFE_URLS)
def test_unsafe_url_is_rejected_with_the_reason(url, why):
    with pytest.raises(UnsafeUrlError, match=why):
        check_outbound_url(url)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("0:0:0:0:0:0:0:1", True),
        ("example.com", False),
        ("localhost.example.com", False),
        ("127.0.0.1.example.com", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("::ffff:127.0.0.1", False),  # a mapped form: not loopback, whatever the Python version
        ("::1%lo", False),  # zone id
        ("[::1%25lo]", False),
    ],
)
def test_is_loopback_host(host, loopback):
    assert is_loopback_host(host) is loopback


# --- the special-purpose address fence -------------------------------------------------

# One row per SPECIAL_PURPOSE entry: an address inside it, and the block it must be
# reported as (the first, most specific entry that contains it).
SPECIAL_ADDRESSES = [
    ("0.0.0.1", "0.0.0.0/8"),
    ("10.0.0.1", "10.0.0.0/8"),
    ("100.64.0.1", "100.64.0.0/10"),
    ("127.0.0.1", "127.0.0.0/8"),
    ("169.254.169.254", "169.254.0.0/16"),
    ("172.16.5.4", "172.16.0.0/12"),
    ("192.0.0.8", "192.0.0.0/24"),
    ("192.0.2.10", "192.0.2.0/24"),
    ("192.31.196.1", "192.31.196.0/24"),
    ("192.52.193.1", "192.52.193.0/24"),
    ("192.88.99.1", "192.88.99.0/24"),
    ("192.168.1.1", "192.168.0.0/16"),
    ("192.175.48.1", "192.175.48.0/24"),
    ("198.19.255.254", "198.18.0.0/15"),
    ("198.51.100.7", "198.51.100.0/24"),
    ("203.0.113.9", "203.0.113.0/24"),
    ("224.0.0.1", "224.0.0.0/4"),
    ("240.0.0.1", "240.0.0.0/4"),
    ("255.255.255.255", "255.255.255.255/32"),
    ("::", "::/128"),
    ("::1", "::1/128"),
    ("::a00:1", "::/96"),  # IPv4-compatible 10.0.0.1
    ("::ffff:0:808:808", "::ffff:0:0:0/96"),  # IPv4-translated 8.8.8.8: refused all the same
    ("64:ff9b:1::808:808", "64:ff9b:1::/48"),
    ("100::1", "100::/64"),
    ("100:0:0:1::1", "100:0:0:1::/64"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32"),  # Teredo
    ("2001:4:112::1", "2001::/23"),  # AS112-v6, globally reachable per IANA: refused here
    ("2001:db8::1", "2001:db8::/32"),
    ("2002:808:808::1", "2002::/16"),  # 6to4 of a public address: refused all the same
    ("2620:4f:8000::1", "2620:4f:8000::/48"),
    ("3fff::1", "3fff::/20"),
    ("5f00::1", "5f00::/16"),
    ("fd00::1", "fc00::/7"),
    ("fe80::1", "fe80::/10"),
    ("fec0::1", "fec0::/10"),
    ("ff02::1", "ff00::/8"),
    ("1::1", "::/3"),
    ("4000::1", "4000::/2"),
    ("8000::1", "8000::/1"),
]


def test_every_special_purpose_block_has_a_test_row():
    assert sorted(cidr for _, cidr in SPECIAL_ADDRESSES) == sorted(c for c, _ in SPECIAL_PURPOSE)


def test_the_list_holds_valid_networks_each_with_a_name():
    for cidr, name in SPECIAL_PURPOSE + EMBEDS_IPV4:
        assert str(ipaddress.ip_network(cidr)) == cidr
        assert "RFC" in name


@pytest.mark.parametrize(("address", "cidr"), SPECIAL_ADDRESSES)
def test_each_special_purpose_block_is_refused_and_named(address, cidr):
    assert special_purpose_network(address) == cidr
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "140.82.112.3",
        "93.184.215.14",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "::ffff:8.8.8.8",  # IPv4-mapped public
        "::ffff:808:808",
        "64:ff9b::808:808",  # NAT64 of a public address
        "64:ff9b::8.8.8.8",
        "2001:200::1",  # just outside 2001::/23
        "2003::1",  # just outside 2002::/16
    ],
)
def test_public_addresses_are_accepted(address):
    assert special_purpose_network(address) is None
    assert is_public_address(address)


@pytest.mark.parametrize(
    ("address", "cidr"),
    [
        ("::ffff:127.0.0.1", "127.0.0.0/8"),
        ("::ffff:10.0.0.1", "10.0.0.0/8"),
        ("::ffff:169.254.169.254", "169.254.0.0/16"),
        ("::ffff:a9fe:a9fe", "169.254.0.0/16"),
        ("::ffff:0.0.0.0", "0.0.0.0/8"),
        ("::ffff:192.0.0.170", "192.0.0.0/24"),
        ("64:ff9b::a9fe:a9fe", "169.254.0.0/16"),  # NAT64 of instance metadata
        ("64:ff9b::10.0.0.1", "10.0.0.0/8"),
        ("64:ff9b::127.0.0.1", "127.0.0.0/8"),
    ],
)
def test_mapped_and_nat64_forms_are_judged_by_the_ipv4_they_carry(address, cidr):
    assert special_purpose_network(address) == cidr
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:808:808::",  # 6to4 of 8.8.8.8: refused too, the relay is not ours to judge
        "2001::1",  # Teredo
        "2001:0:5ef5:79fd:0:59d:a0e5:ba1",
    ],
)
def test_6to4_and_teredo_are_refused_outright(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["192.0.0.8", "192.0.0.9", "192.0.0.170", "3fff::1"])
def test_blocks_some_python_versions_call_global_are_refused(address):
    """Python 3.11's ``is_global`` is True for 192.0.0.8, 192.0.0.9 and 3fff::1."""
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "fe80::1%eth0",
        "fe80::1%1",
        "2606:4700:4700::1111%eth0",  # a public address, but with a zone id
        "::1%lo",
    ],
)
def test_zone_ids_are_refused(address):
    assert not is_public_address(address)
    with pytest.raises(ValueError, match="not a plain IP literal"):
        special_purpose_network(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "localhost",
        "example.com",
        "8.8.8.8.nip.io",
        "2130706433",  # 127.0.0.1 as a number
        "0x7f.1",
        "010.0.0.1",  # leading zeros: octal to some parsers
        "8.8.8",
        "8.8.8.8/32",
        " 8.8.8.8",
        "8.8.8.8\n",
        "[2606:4700:4700::1111]",
        "2606:4700:4700::1111:",
        "256.1.1.1",
        b"\x08\x08\x08\x08",  # packed bytes parse as 8.8.8.8
        134744072,  # an int parses as 8.8.8.8
        None,
    ],
)
def test_anything_but_a_plain_ip_literal_is_refused(address):
    assert not is_public_address(address)
    with pytest.raises(ValueError, match="not a plain IP literal"):
        special_purpose_network(address)


@pytest.mark.parametrize(
    "address",
    [
        # What the CIMD fence refused before the explicit list, still refused.
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "127.1.2.3",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.10",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::",
        "64:ff9b::a9fe:a9fe",
        "2001:db8::1",
    ],
)
def test_what_was_refused_before_is_still_refused(address):
    assert not is_public_address(address)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("0:0:0:0:0:0:0:1", True),
        ("::ffff:127.0.0.1", False),
        ("::1%lo", False),
        ("localhost", False),  # a name, not an address
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("", False),
    ],
)
def test_is_loopback_address(address, loopback):
    assert is_loopback_address(address) is loopback
