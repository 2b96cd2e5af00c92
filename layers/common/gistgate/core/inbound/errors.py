"""Why a request could not be read: one class per answer, all of them a 400.

``invalid_request`` is the code both RFC 6749 §5.2 (the token endpoint and
friends) and RFC 6750 §3.1 (a protected resource) give a request that
"repeats the same parameter ... or is otherwise malformed". The description
is fixed text naming the part of the request at fault (words from our code,
never from the request), inside §5.2's ``error_description`` charset:
printable ASCII without ``"`` and ``\\``.
"""

from __future__ import annotations

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
]


class MalformedRequest(Exception):
    """Base: answered 400 ``{"error": "invalid_request", "error_description": …}``.

    Not a ValueError on purpose: a broad ``except ValueError`` somewhere on the
    way must not turn it into another answer.
    """

    status = 400
    error = "invalid_request"
    reason = "is malformed"

    def __init__(self, part: str) -> None:
        self.part = part
        self.description = f"the {part} {self.reason}"
        super().__init__(self.description)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class RepeatedParameter(MalformedRequest):
    """RFC 6749 §3.1: parameters "MUST NOT be included more than once"."""

    reason = "has a parameter more than once"


class RepeatedHeader(MalformedRequest):
    """A header that is one value by definition (Host, Authorization) sent twice."""

    reason = "is sent more than once"


class NotText(MalformedRequest):
    """Not UTF-8, a lone surrogate, or a control character: not text we can pass on."""

    reason = "is not valid UTF-8 text without control characters"


class BadEscape(MalformedRequest):
    """A ``%`` not followed by two hex digits (RFC 3986 §2.1)."""

    reason = "has an invalid percent-escape"


class TooLarge(MalformedRequest):
    reason = "is too large"


class TooDeep(MalformedRequest):
    reason = "is nested too deeply"


class NotJson(MalformedRequest):
    reason = "is not valid JSON"


class RepeatedMember(MalformedRequest):
    """RFC 8259 §4: names "SHOULD be unique"; which one would win is undefined."""

    reason = "has a member name more than once"


class BadNumber(MalformedRequest):
    """NaN, Infinity, or a number too long to be a value anyone meant."""

    reason = "has a number that is not finite or is too long"


class BadAuthority(MalformedRequest):
    """RFC 9112 §3.2: a Host that is not ``host[:port]`` is answered 400."""

    reason = "is not a host name with an optional port"
