"""gistgate browser sessions: who signed in, in this browser, through our sign-in.

A session is what lets a browser prove who it is without a new upstream login:
the consent page names the signed-in user, a remembered approval is honoured
only for that user, and a GitHub connect link is followed only when the
session's subject is the one the link was made for. The cookie holds 32
random bytes; the table holds only their hash, with the subject and a bounded
lifetime, so deleting the item ends the session (revocable server-side).
A new sign-in always starts a new session id (no fixation).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from gistgate.oauth.web import Cookie, cookie, cookie_name
from gistgate.storage import keys
from gistgate.storage.records import Record
from gistgate.storage.table import Table

__all__ = ["Session", "SessionRecord", "Sessions"]

SESSION_TTL = 12 * 3600
COOKIE = "session"
MAX_COOKIE = 128


@dataclass(frozen=True)
class SessionRecord(Record):
    """``SESSION#<sha256(cookie)>``: who signed in in this browser, and when."""

    sub: str
    name: str  # to display; the subject when empty
    created_at: int


class Session(NamedTuple):
    """The signed-in user of a browser."""

    session_id: str
    sub: str
    name: str

    def __repr__(self) -> str:
        return f"Session(sub={self.sub!r}, name={self.name!r})"

    @property
    def digest(self) -> str:
        return keys.digest(self.session_id)


class Sessions:
    """Open, find and end browser sessions."""

    def __init__(self, store: Table, ttl: int = SESSION_TTL) -> None:
        self._store = store
        self._ttl = ttl

    def current(self, cookies: Mapping[str, str], base: str) -> Session | None:
        """The live session this browser's cookie names, or None."""
        session_id = cookies.get(cookie_name(base, COOKIE)) or ""
        if not session_id or len(session_id) > MAX_COOKIE:
            return None
        record = self._store.get(keys.browser_session(session_id), SessionRecord)
        if record is None:
            return None
        return Session(session_id, record.sub, record.name or record.sub)

    def open(
        self, sub: str, name: str, base: str, replaces: Session | None = None
    ) -> tuple[Session, Cookie]:
        """A new session for ``sub`` (any previous one in this browser ends)."""
        if replaces is not None:
            self.end(replaces)
        session_id = secrets.token_urlsafe(32)
        self._store.put(
            keys.browser_session(session_id),
            SessionRecord(sub, name, int(self._store.clock())),
            ttl=self._ttl,
        )
        return Session(session_id, sub, name), cookie(base, COOKIE, session_id, self._ttl)

    def end(self, session: Session) -> None:
        """Revoke a session: its cookie no longer names anyone."""
        self._store.delete(keys.browser_session(session.session_id))
