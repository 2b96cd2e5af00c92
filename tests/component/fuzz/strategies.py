"""What a hostile or broken client sends, as Hypothesis strategies of wire bytes.

Text is drawn with lone surrogates allowed and sent UTF-8-ish
(``surrogatepass``: U+D800 becomes ED A0 80, which no UTF-8 decoder accepts),
percent-encoded or raw; parameters repeat; JSON nests, repeats names, holds
NaN, huge numbers and ``\\ud800`` escapes; headers carry quotes, raw bytes
and junk. Real values (a registered client_id, our redirect URI, a PKCE
challenge) are mixed in so requests get past the first check and reach the
code behind it.
"""

from __future__ import annotations

import base64
import json
import os
import string
from collections.abc import Mapping, Sequence
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

TRICKY = (
    '"',
    "\\",
    "\x00",
    "\r\n",
    "\t",
    "\x7f",
    "%",
    "%zz",
    "%ff",
    "%ed%a0%80",
    "%00",
    "\ud800",
    "\udcff",
    "\udbff\udfff",
    "é",
    "\u2028",
    "\ufeff",
    "😀",
    "+",
    "&",
    "=",
    ";",
    ",",
    "'",
    "<b>x</b>",
    "../..",
    "[",
    "{",
    " ",
    "x" * 5000,
    "NaN",
    "-1",
    "1" * 400,
    "null",
    "https://example.com/cb",
    "http://127.0.0.1:1/",
)

ANY_CHAR = st.characters(codec=None, exclude_categories=())
# Valid text, odd only in what it says: it passes decoding and reaches the code behind.
PLAIN_CHAR = st.characters(exclude_categories=("Cc", "Cs"))
odd_text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(ANY_CHAR, max_size=24),
    st.text(PLAIN_CHAR, max_size=24),
    st.lists(st.sampled_from(TRICKY), min_size=2, max_size=4).map("".join),
)
# Raw bytes for a request line or a header value: anything but the line ending.
line_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))

OAUTH_NAMES = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "resource",
    "code_challenge",
    "code_challenge_method",
    "code",
    "code_verifier",
    "grant_type",
    "assertion",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "token",
    "token_type_hint",
    "form_token",
    "decision",
    "ticket",
    "error",
    "error_description",
    "prompt",
)
HEADER_NAMES = (
    "Cookie",
    "Content-Type",
    "Authorization",
    "Origin",
    "Accept",
    "X-Forwarded-Port",
    "X-Forwarded-Proto",
    "X-Forwarded-For",
    "MCP-Protocol-Version",
    "Mcp-Session-Id",
    "Accept-Encoding",
    "Referer",
    "User-Agent",
)


def fuzz_settings(max_examples: int) -> settings:
    """Bounded, no example database in the working tree, the stack fixture shared.

    ``GISTGATE_FUZZ_SCALE=20`` multiplies every test's examples, for a longer hunt.
    """
    return settings(
        max_examples=max_examples * int(os.environ.get("GISTGATE_FUZZ_SCALE", "1")),
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


def wire(text: str) -> bytes:
    """Text as a careless client would put it in bytes (surrogates included)."""
    return text.encode("utf-8", "surrogatepass")


@st.composite
def urlencoded(
    draw: st.DrawFn,
    names: Sequence[str] = OAUTH_NAMES,
    valid: Mapping[str, Sequence[str]] | None = None,
) -> bytes:
    """``a=b&c=d`` with odd names and values, repeats, raw or percent-encoded."""
    valid = valid or {}

    def value_for(name: str) -> st.SearchStrategy[str]:
        if name in valid:
            return st.one_of(st.sampled_from(tuple(valid[name])), odd_text)
        return odd_text

    pairs: list[tuple[str, str]] = []
    if valid and draw(st.booleans()):  # a well-formed request with a field or two changed
        pairs = [(name, draw(st.sampled_from(tuple(values)))) for name, values in valid.items()]
        for _ in range(draw(st.integers(0, 2))):
            index = draw(st.integers(0, len(pairs) - 1))
            pairs[index] = (pairs[index][0], draw(odd_text))
    for _ in range(draw(st.integers(0, 8 - min(len(pairs), 6)))):
        name = draw(st.one_of(st.sampled_from(tuple(names)), odd_text))
        pairs.append((name, draw(value_for(name))))
    if pairs and draw(st.booleans()):
        pairs.append((pairs[0][0], draw(value_for(pairs[0][0]))))  # a repeat
    raw = draw(st.booleans())
    parts = []
    for name, value in pairs:
        if raw:
            parts.append(wire(name) + b"=" + wire(value))
        else:
            parts.append(
                quote_from_bytes(wire(name), safe="").encode()
                + b"="
                + quote_from_bytes(wire(value), safe="").encode()
            )
    body = b"&".join(parts)
    if draw(st.integers(0, 4)) == 0:
        body += draw(st.binary(max_size=16))
    return body


@st.composite
def one_field_changed(draw: st.DrawFn, base: Mapping[str, str]) -> bytes:
    """A complete, valid request with one or two fields changed, dropped or repeated."""
    pairs = list(base.items())
    for _ in range(draw(st.integers(1, 2))):
        index = draw(st.integers(0, len(pairs) - 1))
        name = pairs[index][0]
        change = draw(st.sampled_from(["value", "drop", "repeat"]))
        if change == "value":
            pairs[index] = (name, draw(odd_text))
        elif change == "drop":
            pairs[index] = (name, "")
        else:
            pairs.append((name, draw(odd_text)))
    return b"&".join(
        quote_from_bytes(wire(name), safe="").encode()
        + b"="
        + quote_from_bytes(wire(value), safe="").encode()
        for name, value in pairs
    )


def query_target(path: bytes, query: bytes) -> bytes:
    """A request target: the path, then the query without anything that ends the line."""
    query = query.replace(b"\r", b"").replace(b"\n", b"").replace(b" ", b"+")
    return path + (b"?" + query if query else b"")


@st.composite
def headers(
    draw: st.DrawFn, extra: Sequence[tuple[bytes, bytes]] = ()
) -> list[tuple[bytes, bytes]]:
    """Odd values for the headers we read, and some we do not; ``extra`` mixed in."""
    found = list(extra)
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(HEADER_NAMES)).encode()
        value = draw(st.one_of(odd_text.map(wire), line_bytes))
        found.append((name, value.replace(b"\r", b"").replace(b"\n", b"")))
    return found


hosts = st.one_of(
    st.sampled_from(
        [b'a"b', b"a b", b"a:b:c", b"[::1]:1", b"[::1]", b"", b"x" * 300, b"\xff", b"h\\o"]
    ),
    line_bytes,
)

_json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), odd_text
)
json_values = st.recursive(
    _json_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)
    ),
    max_leaves=12,
)

RAW_JSON = (
    b"[" * 50_000 + b"]" * 50_000,
    b"[" * 33 + b"]" * 33,
    b'{"a":' * 1000 + b"1" + b"}" * 1000,
    b'{"redirect_uris": [], "redirect_uris": ["http://127.0.0.1:1/cb"]}',
    b'{"client_name": NaN}',
    b'{"client_name": Infinity}',
    b'{"client_name": -Infinity}',
    b'{"client_name": ' + b"9" * 5000 + b"}",
    b'{"client_name": 1e999}',
    b'{"client_name": "\\ud800"}',
    b'{"\\udcff": 1}',
    b'{"client_name": "\xed\xa0\x80"}',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{}",
    b"",
    b"{",
    b'"' + b'\\"' * 10_000,
    b"null",
    b"[]",
)


@st.composite
def json_bodies(draw: st.DrawFn, template: Mapping[str, object] | None = None) -> bytes:
    """A JSON body: a mangled copy of ``template``, any JSON value, or raw near-JSON."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.sampled_from(RAW_JSON))
    value: object
    if kind == 1 and template is not None:
        document = dict(template)
        for _ in range(draw(st.integers(1, 3))):
            key = draw(st.one_of(st.sampled_from(tuple(template)), odd_text))
            document[key] = draw(json_values)
        value = document
    else:
        value = draw(json_values)
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 5)) == 0:
        text += draw(odd_text)
    return wire(text)


# -- JWT-shaped text: three base64url segments that are not a signed JWT -----------------

B64URL = string.ascii_letters + string.digits + "-_"
segments = st.one_of(
    st.text(B64URL, max_size=48),
    st.sampled_from(["", "=", "A", "AAAA=", "e30", "bnVsbA", "W10", "e30=", "+/+/", "%3D"]),
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Sizes around the assertion limit (8 KB), the form-field limit (4 KB) and the form's (64 KB).
HUGE_SIZES = (4095, 4097, 8191, 8192, 8193, 60_000, 70_000)


@st.composite
def jwt_shaped(draw: st.DrawFn, header: Mapping[str, object], claims: Mapping[str, object]) -> str:
    """Junk that looks like a compact JWS: base64url junk, the wrong number of segments,
    JSON (mangled ``header`` / ``claims``, or raw near-JSON) in them, or a huge one."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return ".".join(draw(st.lists(segments, min_size=3, max_size=3)))
    if kind == 1:
        return ".".join(draw(st.lists(st.one_of(segments, odd_text), min_size=1, max_size=6)))
    if kind == 2:
        size = draw(st.sampled_from(HUGE_SIZES))
        head = b64url(json.dumps(dict(header)).encode())
        body = b64url(json.dumps(dict(claims)).encode())
        return f"{head}.{body}.{'A' * max(size - len(head) - len(body) - 2, 0)}"
    head_json = draw(json_bodies(header))
    body_json = draw(json_bodies(claims))
    return f"{b64url(head_json)}.{b64url(body_json)}.{draw(segments)}"


# Claim values of every JSON type, and the ones a NumericDate check gets wrong: bools,
# digits in a string, NaN and infinities, integers past 2**53 and past any float.
HUGE_INTS = (2**53 - 1, 2**53, 2**53 + 1, 2**63, -(2**63), 2**64 + 1, 10**400, -(10**400))
claim_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(),  # NaN and the infinities included: PyJWT writes them as NaN, Infinity
    odd_text,
    st.lists(json_values, max_size=3),
    st.dictionaries(odd_text, json_values, max_size=3),
)
