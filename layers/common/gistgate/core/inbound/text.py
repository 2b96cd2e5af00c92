"""What counts as text in a request value.

A lone surrogate cannot be encoded as UTF-8, so it fails wherever the value
is hashed, stored or rendered; it is refused before any of that. Control
characters (C0 except TAB, and DEL) appear in no OAuth parameter's grammar
(RFC 6749 Appendix A) and no header value (RFC 9110 §5.5), so parameters
and headers refuse them too. JSON strings may hold control characters
(escaped, they are legitimate content) but not lone surrogates.
"""

from __future__ import annotations

import re

from gistgate.core.inbound.errors import NotText

__all__ = ["has_surrogate", "is_text", "require_text"]

_NOT_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def is_text(value: str) -> bool:
    """UTF-8-encodable and free of control characters (TAB allowed)."""
    return _NOT_TEXT.search(value) is None


def has_surrogate(value: str) -> bool:
    """Does ``value`` hold a lone surrogate (so it cannot be encoded as UTF-8)?"""
    return _SURROGATE.search(value) is not None


def require_text(value: object, part: str) -> str:
    """``value`` if it is a text string, else :class:`NotText` for ``part``."""
    if not isinstance(value, str) or not is_text(value):
        raise NotText(part)
    return value
