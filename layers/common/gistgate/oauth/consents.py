"""The per-user registry of approved clients (the confused-deputy protection).

Our GitHub OAuth App is one static client at GitHub serving every client that
registers here, so GitHub's own consent says nothing about *which* client the
user meant to let in. We therefore keep, per user, the clients they approved
and the scopes they approved them for, check it before anything is sent
upstream, and write it only after the user pressed Approve.
"""

from __future__ import annotations

from gistgate.storage import keys
from gistgate.storage.table import Table

__all__ = ["Consents"]

REMEMBER_SECONDS = 30 * 86400


class Consents:
    """Remembered approvals, keyed by (subject, client id)."""

    def __init__(self, store: Table, ttl: int = REMEMBER_SECONDS) -> None:
        self._store = store
        self._ttl = ttl

    def covers(self, sub: str, client_id: str, scope: str) -> bool:
        """Did ``sub`` approve ``client_id`` for at least ``scope``?"""
        item = self._store.get(keys.user_consent(sub, client_id))
        return item is not None and set(scope.split()) <= set(str(item.get("scope")).split())

    def remember(self, sub: str, client_id: str, scope: str) -> None:
        self._store.put(
            keys.user_consent(sub, client_id),
            {"scope": scope, "approved_at": int(self._store.clock())},
            ttl=self._ttl,
            new=False,
        )

    def forget(self, sub: str, client_id: str) -> None:
        self._store.delete(keys.user_consent(sub, client_id))
