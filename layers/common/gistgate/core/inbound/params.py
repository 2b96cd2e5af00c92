"""OAuth parameters: ``application/x-www-form-urlencoded`` bytes and already-decoded
pairs, both to one ``{name: value}`` with RFC 6749 §3.1's rules.

Bytes are percent-decoded first and only then decoded as strict UTF-8
(``urllib.parse.parse_qsl`` would replace what is not UTF-8 and carry on,
so ``%ff`` and ``%ed%a0%80`` would become other, valid-looking text). A
``%`` that does not start an escape is refused rather than passed on as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

from gistgate.core.inbound.errors import BadEscape, NotText, RepeatedParameter, TooLarge
from gistgate.core.inbound.text import require_text

__all__ = ["checked", "unique", "urlencoded_pairs"]

MAX_FIELDS = 64
MAX_NAME = 128
# The longest value any of our parameters takes (a CIMD client_id is at most 2000
# characters; gistgate.oauth.service bounds its fields at 4096 too).
MAX_VALUE = 4096

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _decode(raw: bytes, part: str) -> str:
    if _BAD_ESCAPE.search(raw):
        raise BadEscape(part)
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise NotText(part) from None


def urlencoded_pairs(raw: bytes, part: str) -> list[tuple[str, str]]:
    """Every ``name=value`` of an urlencoded string, in order, repeats kept."""
    pairs: list[tuple[str, str]] = []
    for field in raw.split(b"&"):
        if not field:
            continue
        if len(pairs) == MAX_FIELDS:
            raise TooLarge(part)
        name, _, value = field.partition(b"=")
        pairs.append((_decode(name, part), _decode(value, part)))
    return checked(pairs, part)


def checked(pairs: Iterable[tuple[object, object]], part: str) -> list[tuple[str, str]]:
    """``pairs`` if every name and value is text of a bounded size."""
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        if len(out) == MAX_FIELDS:
            raise TooLarge(part)
        name, value = require_text(name, part), require_text(value, part)
        if len(name) > MAX_NAME or len(value) > MAX_VALUE:
            raise TooLarge(part)
        out.append((name, value))
    return out


def unique(pairs: Iterable[tuple[str, str]], part: str) -> dict[str, str]:
    """RFC 6749 §3.1: a parameter without a value is omitted, and none may repeat."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if not name or not value:
            continue
        if name in found:
            raise RepeatedParameter(part)
        found[name] = value
    return found
