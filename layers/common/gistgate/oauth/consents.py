"""The per-user registry of approved clients (the confused-deputy protection).

Our GitHub OAuth App is one static client at GitHub serving every client that
registers here, so GitHub's own consent says nothing about *which* client the
user meant to let in. We therefore keep, per user, the clients they approved
and the scopes they approved them for, check it before anything is sent
upstream, and write it only after the user pressed Approve.
"""

from __future__ import annotations

from dataclasses import dataclass

from gistgate.storage import keys
from gistgate.storage.records import Record
from gistgate.storage.table import Table

__all__ = ["ConsentRecord", "Consents"]

REMEMBER_SECONDS = 30 * 86400


@dataclass(frozen=True)
class ConsentRecord(Record):
    """``USER#<sub>`` / ``CONSENT#<client_id>``: the scopes the user approved, and when."""

    scope: str
    approved_at: int


class Consents:
    """Remembered approvals, keyed by (subject, client id)."""

    def __init__(self, store: Table, ttl: int = REMEMBER_SECONDS) -> None:
        self._store = store
        self._ttl = ttl

    def covers(self, sub: str, client_id: str, scope: str) -> bool:
        """Did ``sub`` approve ``client_id`` for at least ``scope``?"""
        record = self._store.get(keys.user_consent(sub, client_id), ConsentRecord)
        return record is not None and set(scope.split()) <= set(record.scope.split())

    def remember(self, sub: str, client_id: str, scope: str) -> None:
        self._store.put(
            keys.user_consent(sub, client_id),
            ConsentRecord(scope, int(self._store.clock())),
            ttl=self._ttl,
            new=False,
        )

    def forget(self, sub: str, client_id: str) -> None:
        self._store.delete(keys.user_consent(sub, client_id))
