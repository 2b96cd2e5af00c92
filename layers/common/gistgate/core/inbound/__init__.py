"""Request decoding: every input a handler reads passes through here first.

A Lambda proxy event carries what the client sent with little checking:
bytes that are not UTF-8, lone surrogates, repeated parameters, JSON nested
past the recursion limit. Read raw, each of these once crashed a handler
(a 5xx) or was silently reinterpreted (the last ``redirect_uri`` won). Here
each becomes a :class:`MalformedRequest` subclass, answered 400
``invalid_request`` by the handler's one exception mapping; what passes is
text that can be hashed, stored and rendered.

    query(event)        {name: value} of the query string (no repeats, RFC 6749 §3.1)
    query_pairs(event)  every query parameter, repeats kept, each checked as text
    form(event)         {name: value} of an urlencoded body (strict UTF-8, no repeats)
    json_body(event)    a JSON body (depth, repeats, NaN, numbers, surrogates checked)
    body(event)         the body's bytes (base64 and the local gateway's escapes undone)
    body_text(event)    the body as strict UTF-8 text
    header(event, name) one header's value (refused if sent twice or not text)
    check_headers(event) every header is text
    cookies(event)      {name: value} of the well-formed cookies (never raises)
    authority(value)    a Host value that is ``host[:port]``

Standard library only: this is on every function's cold-start path.
"""

from gistgate.core.inbound.errors import (
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
from gistgate.core.inbound.event import body, body_text, form, json_body, query, query_pairs
from gistgate.core.inbound.headers import authority, check_headers, cookies, header

__all__ = [
    "BadAuthority",
    "BadEscape",
    "BadNumber",
    "MalformedRequest",
    "NotJson",
    "NotText",
    "RepeatedHeader",
    "RepeatedMember",
    "RepeatedParameter",
    "TooDeep",
    "TooLarge",
    "authority",
    "body",
    "body_text",
    "check_headers",
    "cookies",
    "form",
    "header",
    "json_body",
    "query",
    "query_pairs",
]
