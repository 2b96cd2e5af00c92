"""What a client may call itself on our consent page.

The name is the one thing on the page the client chooses, so it must not be
able to rearrange what the user reads: no control or format characters (a
right-to-left override turns "ppA laiciffO" into "Official App"), no lone
surrogates, nothing blank, at most 200 characters. One rule for open
registrations and metadata documents alike.
"""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["client_name_problem"]

MAX_NAME = 200
# Cc control, Cf format (bidi overrides, zero-width joiners), Cs surrogates,
# Co private use, Cn unassigned, Zl/Zp line and paragraph separators.
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def client_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be shown as a client's name, or None."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        return "must be a non-blank string of at most 200 characters"
    if any(unicodedata.category(ch) in _REFUSED for ch in name):
        return "must not contain control, format or unassigned characters"
    return None
