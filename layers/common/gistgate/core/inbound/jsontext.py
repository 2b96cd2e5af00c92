"""A JSON request body, decoded strictly (RFC 8259 plus the I-JSON limits of RFC 7493).

``json.loads`` alone accepts what we must not pass on: NaN and Infinity,
repeated member names (the last silently wins), numbers of thousands of
digits (Python then raises a ValueError of its own), ``\\ud800`` escapes
that decode to a lone surrogate, and nesting deep enough to exhaust the
recursion limit (RecursionError, not ValueError). The nesting depth is
counted in one linear scan before the parser runs, so the parser never
recurses more than :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from gistgate.core.inbound.errors import (
    BadNumber,
    MalformedRequest,
    NotJson,
    NotText,
    RepeatedMember,
    TooDeep,
)
from gistgate.core.inbound.text import has_surrogate

__all__ = ["decode_json"]

MAX_DEPTH = 32
MAX_NUMBER_CHARS = 40  # an I-JSON double has 17 significant digits; room for sign and exponent

# A string (to its closing quote, or to the end when there is none) or a bracket. The
# alternatives inside a string are exclusive, so the scan is linear whatever the input.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_depth(text: str, limit: int, part: str) -> None:
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                raise TooDeep(part)
        elif token in ("]", "}"):
            depth -= 1


class _Strict:
    """The parser hooks for one body; they raise the typed error for ``part``."""

    def __init__(self, part: str) -> None:
        self.part = part

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            raise RepeatedMember(self.part)
        return found

    def integer(self, text: str) -> int:
        if len(text) > MAX_NUMBER_CHARS:
            raise BadNumber(self.part)
        return int(text)

    def real(self, text: str) -> float:
        value = float(text)
        if len(text) > MAX_NUMBER_CHARS or not math.isfinite(value):
            raise BadNumber(self.part)
        return value

    def constant(self, text: str) -> Any:
        raise BadNumber(self.part)  # NaN, Infinity, -Infinity


def _strings(value: Any) -> Iterator[str]:
    """Every string in ``value``, member names included (depth already bounded)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def decode_json(raw: bytes, part: str = "JSON body", *, max_depth: int = MAX_DEPTH) -> Any:
    """The value of ``raw``, or the :class:`MalformedRequest` that says what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotText(part) from None
    _check_depth(text, max_depth, part)
    hooks = _Strict(part)
    try:
        value = json.loads(
            text,
            object_pairs_hook=hooks.object,
            parse_int=hooks.integer,
            parse_float=hooks.real,
            parse_constant=hooks.constant,
        )
    except MalformedRequest:
        raise
    except (ValueError, RecursionError):
        raise NotJson(part) from None
    if _SURROGATE_ESCAPE.search(text) and any(has_surrogate(s) for s in _strings(value)):
        raise NotText(part)
    return value
