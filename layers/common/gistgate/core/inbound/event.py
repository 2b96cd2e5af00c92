"""The body and query of a Lambda proxy event, REST (v1) or HTTP API (v2).

REST events carry the query decoded by API Gateway: every value of a
repeated parameter is in ``multiValueQueryStringParameters`` (the
single-valued ``queryStringParameters`` keeps only the last, which is how a
repeat slipped through). HTTP API events carry ``rawQueryString``, which is
decoded here like a form.

A body is bytes after ``isBase64Encoded``. A text body that holds lone
surrogates is encoded back with ``surrogateescape``: that is how the local
gateway (like ``os.fsdecode``) carries bytes that were not UTF-8, and strict
UTF-8 decoding later refuses them; any other lone surrogate is refused here.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from gistgate.core.inbound.errors import MalformedRequest, NotText, TooLarge
from gistgate.core.inbound.jsontext import decode_json
from gistgate.core.inbound.params import checked, unique, urlencoded_pairs

__all__ = ["body", "body_text", "form", "json_body", "query", "query_pairs"]

MAX_FORM_BYTES = 64 * 1024
MAX_JSON_BYTES = 64 * 1024


def body(event: Mapping[str, Any], max_bytes: int | None = None) -> bytes:
    """The body's bytes (``b""`` when there is none), at most ``max_bytes`` of them."""
    raw = event.get("body")
    if raw is None or raw == "":
        return b""
    if not isinstance(raw, str):
        raise MalformedRequest("body")
    if max_bytes is not None and len(raw) > (max_bytes + 2) // 3 * 4 + 4:
        raise TooLarge("body")  # too long even as base64: not worth decoding
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except ValueError:  # binascii.Error, and a str that is not ASCII
            raise MalformedRequest("body") from None
    else:
        try:
            data = raw.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise NotText("body") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLarge("body")
    return data


def body_text(event: Mapping[str, Any], max_bytes: int | None = None) -> str:
    """The body as text: strict UTF-8 (JSON, RFC 8259 §8.1, must be)."""
    try:
        return body(event, max_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise NotText("body") from None


def query_pairs(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every query parameter, in order, repeats and blanks kept; each checked as text."""
    if event.get("version") == "2.0":
        raw = event.get("rawQueryString") or ""
        try:
            encoded = str(raw).encode("utf-8")
        except UnicodeEncodeError:
            raise NotText("query") from None
        return urlencoded_pairs(encoded, "query")
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, Mapping) and multi:
        pairs = [
            (name, value)
            for name, values in multi.items()
            for value in (values if isinstance(values, list) else [values])
        ]
        return checked(pairs, "query")
    single = event.get("queryStringParameters")
    return checked(single.items() if isinstance(single, Mapping) else (), "query")


def query(event: Mapping[str, Any]) -> dict[str, str]:
    """The query's OAuth parameters: no repeats, blanks omitted (RFC 6749 §3.1)."""
    return unique(query_pairs(event), "query")


def form(event: Mapping[str, Any]) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body's parameters, as :func:`query`."""
    return unique(urlencoded_pairs(body(event, MAX_FORM_BYTES), "form"), "form")


def json_body(event: Mapping[str, Any]) -> Any:
    """A JSON body's value (see gistgate.core.inbound.jsontext for what is refused)."""
    return decode_json(body(event, MAX_JSON_BYTES))
