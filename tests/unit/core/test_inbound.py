"""gistgate.core.inbound on hand-made Lambda proxy events: what passes, and the typed error
(one fixed 400 answer each) for what does not."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import pytest

from gistgate.core import inbound
from gistgate.core.inbound import (
    BadAuthority,
    BadEscape,
    BadNumber,
    MalformedRequest,
    NotJson,
    NotText,
    RepeatedHeader,
    RepeatedMember,
    RepeatedParameter,
    TooDeep,
    TooLarge,
)
from gistgate.core.inbound import errors as error_module

RFC6749_DESCRIPTION = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]+$")


def rest(**fields) -> dict:
    return {"resource": "/x", "path": "/x", "httpMethod": "GET", "requestContext": {}, **fields}


def form_event(body: bytes | str, *, b64: bool = False) -> dict:
    if b64:
        assert isinstance(body, bytes)
        return rest(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    if isinstance(body, bytes):  # as the local gateway carries bytes that are not UTF-8
        body = body.decode("utf-8", "surrogateescape")
    return rest(body=body, isBase64Encoded=False)


# -- the errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        cls
        for cls in vars(error_module).values()
        if isinstance(cls, type) and issubclass(cls, MalformedRequest)
    ],
)
def test_every_error_is_a_400_invalid_request_in_the_rfc6749_charset(error):
    exc = error("Authorization header")
    assert exc.status == 400
    assert exc.body()["error"] == "invalid_request"
    assert RFC6749_DESCRIPTION.match(exc.body()["error_description"])
    assert not isinstance(exc, ValueError)


# -- query ------------------------------------------------------------------------------------


def test_query_takes_every_value_from_the_multi_value_parameters():
    event = rest(
        queryStringParameters={"redirect_uri": "b"},  # API Gateway keeps the last here
        multiValueQueryStringParameters={"redirect_uri": ["a", "b"]},
    )
    with pytest.raises(RepeatedParameter):
        inbound.query(event)
    assert inbound.query_pairs(event) == [("redirect_uri", "a"), ("redirect_uri", "b")]


def test_query_omits_blank_values_so_a_blank_is_no_repeat():
    event = rest(multiValueQueryStringParameters={"state": ["", "s"], "scope": [""]})
    assert inbound.query(event) == {"state": "s"}


def test_query_falls_back_to_the_single_value_parameters():
    assert inbound.query(rest(queryStringParameters={"a": "1"})) == {"a": "1"}
    assert inbound.query(rest()) == {}


@pytest.mark.parametrize("value", ["\ud800", "a\x00b", "line\nbreak", "\x7f"])
def test_query_values_must_be_text(value):
    with pytest.raises(NotText):
        inbound.query(rest(multiValueQueryStringParameters={"state": [value]}))


def test_query_values_are_bounded():
    with pytest.raises(TooLarge):
        inbound.query(rest(queryStringParameters={"state": "x" * 5000}))
    many = {f"p{i}": ["v"] for i in range(100)}
    with pytest.raises(TooLarge):
        inbound.query(rest(multiValueQueryStringParameters=many))


def test_http_api_raw_query_is_decoded_strictly():
    def v2(raw: str) -> dict:
        return {"version": "2.0", "rawQueryString": raw, "requestContext": {}}

    assert inbound.query(v2("a=1&b=x+y%21")) == {"a": "1", "b": "x y!"}
    with pytest.raises(RepeatedParameter):
        inbound.query(v2("a=1&a=2"))
    with pytest.raises(NotText):
        inbound.query(v2("a=%ff"))
    with pytest.raises(BadEscape):
        inbound.query(v2("a=%zz"))


# -- form -------------------------------------------------------------------------------------


def test_form_decodes_percent_escapes_then_utf8():
    body = b"grant_type=authorization_code&code=a%2Bb+c&name=%C3%A9"
    expected = {"grant_type": "authorization_code", "code": "a+b c", "name": "é"}
    assert inbound.form(form_event(body)) == expected
    assert inbound.form(form_event(body, b64=True)) == expected


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"code=\xff", NotText),  # raw bytes that are not UTF-8
        (b"code=%ff", NotText),  # the same, percent-encoded
        (b"code=%ed%a0%80", NotText),  # a surrogate, UTF-8-ish encoded
        (b"code=\xed\xa0\x80", NotText),
        (b"code=%00", NotText),
        (b"code=%zz", BadEscape),
        (b"code=100%", BadEscape),
        (b"code=a&code=b", RepeatedParameter),
        (b"code=" + b"x" * 5000, TooLarge),
        (b"&".join(b"p%d=v" % i for i in range(100)), TooLarge),
        (b"x" * (70 * 1024), TooLarge),
    ],
)
def test_malformed_forms_are_refused(body, error):
    with pytest.raises(error):
        inbound.form(form_event(body))


def test_form_body_with_a_lone_surrogate_that_is_no_escaped_byte_is_refused():
    with pytest.raises(NotText):
        inbound.form(rest(body="code=\ud800", isBase64Encoded=False))


def test_form_body_that_is_not_base64_is_refused():
    with pytest.raises(MalformedRequest):
        inbound.form(rest(body="***", isBase64Encoded=True))
    with pytest.raises(MalformedRequest):
        inbound.form(rest(body="é", isBase64Encoded=True))


def test_form_omits_blanks_and_bare_names():
    assert inbound.form(form_event(b"a=&b&c=1&&=x")) == {"c": "1"}
    assert inbound.form(rest(body=None)) == {}


# -- JSON -------------------------------------------------------------------------------------


def json_event(raw: bytes) -> dict:
    return form_event(raw)


def test_json_body_passes_ordinary_documents():
    document = {"client_name": "Ünïcode 😀", "redirect_uris": ["http://127.0.0.1/cb"], "n": 1.5}
    assert inbound.json_body(json_event(json.dumps(document).encode())) == document


def test_a_surrogate_pair_escape_is_one_character_and_fine():
    assert inbound.json_body(json_event(b'{"a": "\\ud83d\\ude00"}')) == {"a": "😀"}


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"[" * 30_000 + b"]" * 30_000, TooDeep),
        (b"[" * 100_000 + b"]" * 100_000, TooLarge),
        (b'{"a":' * 33 + b"1" + b"}" * 33, TooDeep),
        (b'"' + b'\\"' * 30_000, NotJson),  # an unterminated string: the scan stays linear
        (b'{"a": 1, "a": 2}', RepeatedMember),
        (b'{"a": NaN}', BadNumber),
        (b"[Infinity]", BadNumber),
        (b"-Infinity", BadNumber),
        (b"1" * 5000, BadNumber),
        (b"1e999", BadNumber),
        (b'{"client_name": "\\ud800"}', NotText),
        (b'{"\\udcff": 1}', NotText),
        (b'["\\uDBFF"]', NotText),
        (b'{"a": "\xff"}', NotText),
        (b'{"a": "\xed\xa0\x80"}', NotText),
        (b"\xef\xbb\xbf{}", NotJson),  # a BOM (RFC 8259 §8.1: MUST NOT add one)
        (b"", NotJson),
        (b"{", NotJson),
        (b"{} []", NotJson),
    ],
)
def test_malformed_json_is_refused(raw, error):
    with pytest.raises(error):
        inbound.json_body(json_event(raw))


def test_depth_32_is_allowed():
    raw = b"[" * 32 + b"]" * 32
    assert inbound.json_body(json_event(raw)) is not None


def test_brackets_inside_strings_do_not_count_as_depth():
    raw = json.dumps({"a": "[" * 1000, "b": '\\"{'}).encode()
    assert inbound.json_body(json_event(raw))["a"] == "[" * 1000


# -- headers and cookies ---------------------------------------------------------------------


def test_header_is_case_insensitive_and_refused_when_repeated():
    event = rest(
        headers={"authorization": "Bearer b"},
        multiValueHeaders={"authorization": ["Bearer a", "Bearer b"]},
    )
    with pytest.raises(RepeatedHeader):
        inbound.header(event, "Authorization")
    one = rest(headers={"Authorization": "Basic x"}, multiValueHeaders=None)
    assert inbound.header(one, "authorization") == "Basic x"
    assert inbound.header(one, "host") is None


@pytest.mark.parametrize("value", ["Bearer \ud800", "Bearer a\r\nX-Injected: 1", "a\x00"])
def test_header_values_must_be_text(value):
    with pytest.raises(NotText):
        inbound.header(rest(headers={"Authorization": value}), "Authorization")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "a",
        ";;;",
        "=",
        "=x",
        "a=b; =c; ;d",
        'a="quoted"',
        "gg-flow=\ud800",
        "gg-flow=a\x00b",
        "bad name=1",
        "x" * 10_000,
        "gg-flow=" + "v" * 5000,
    ],
)
def test_cookie_parsing_never_raises(header):
    found = inbound.cookies(rest(headers={"Cookie": header}))
    assert all(inbound.check_headers(rest(headers={n: v})) is None for n, v in found.items())


def test_cookies_first_wins_quotes_stripped_odd_ones_skipped():
    event = rest(
        multiValueHeaders={"Cookie": ['gg-flow=first; other="q"', "gg-flow=second; x=\ud800"]}
    )
    assert inbound.cookies(event) == {"gg-flow": "first", "other": "q"}
    v2 = {"version": "2.0", "cookies": ["gg-flow=a", "b=c"], "headers": {}}
    assert inbound.cookies(v2) == {"gg-flow": "a", "b": "c"}


@pytest.mark.parametrize(
    "host", ["example.com", "127.0.0.1:8080", "[::1]", "[::1]:443", "a-b.example:1"]
)
def test_authority_accepts_host_and_port(host):
    assert inbound.authority(host) == host


@pytest.mark.parametrize(
    "host", ['a"b', "a b", "a:b", "a:99999", "", "a/b", "a\\b", "user@host", "é.com", None]
)
def test_authority_refuses_anything_else(host):
    with pytest.raises(BadAuthority):
        inbound.authority(host)


# -- cold start -------------------------------------------------------------------------------


def test_importing_it_loads_no_third_party_module():
    code = (
        "import sys; before = set(sys.modules); import gistgate.core.inbound; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['gistgate']"
