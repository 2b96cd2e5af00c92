"""The single table, as typed records: the one adapter every item's module builds on.

Each module that owns an item declares its attributes as a record
(:mod:`gistgate.storage.records`); here records become items and items records.
Every item carries ``expires_at`` (epoch seconds, the table's TTL attribute).
DynamoDB deletes expired items only eventually (moto never does), so every read
here treats an expired item as absent, and likewise an item that does not hold
the record asked for (an attribute missing or of another type: corrupt, or not
ours), with a warning that names the record and the attribute, never a value.
Single-use items are taken with one conditional write, so two concurrent
requests can never both succeed.

A value storage cannot hold is the request's fault, not storage's: a string
that is not UTF-8-encodable (a lone surrogate) is refused before the call, and
DynamoDB's ``ValidationException`` (a key too long, an item too large) is
:class:`StorageRejected` (a 400), never the :class:`StorageUnavailable` (a 503)
that tells a client to retry the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gistgate.core.observability import logger
from gistgate.storage.aws import AwsCallFailed, call
from gistgate.storage.errors import (
    CONDITIONAL,
    Conflict,
    StorageRejected,
    StorageUnavailable,
    failure,
)
from gistgate.storage.keys import EXPIRES_AT
from gistgate.storage.records import Mismatch, Record, decode, encode, encode_changes

__all__ = ["Conflict", "Key", "Lost", "StorageRejected", "StorageUnavailable", "Table"]

Key = dict[str, str]
R = TypeVar("R", bound=Record)

UNSTORABLE = "a value in this request cannot be stored"


class Lost(Conflict):
    """A conditional update lost. ``record``: the item as the condition found it (None when
    it was absent or does not hold the record)."""

    def __init__(self, record: Record | None) -> None:
        super().__init__(None)
        self.record = record


def _storable(params: dict[str, Any]) -> bool:
    """Is every string in ``params`` (names included) encodable as UTF-8?"""
    stack: list[Any] = [params]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return True


def _serializers() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


class Table:
    """Records in, records out: the modules above own the records, this the items."""

    def __init__(self, table_name: str | None, clock: Callable[[], float] = time.time) -> None:
        self._table = table_name
        self.clock = clock
        self._ser, self._de = _serializers()

    def _call(self, operation: str, **params: Any) -> Any:
        if not self._table:
            raise StorageUnavailable("the table is not configured (TABLE_NAME)")
        if not _storable(params):
            raise StorageRejected(UNSTORABLE)
        try:
            return call("dynamodb", operation, TableName=self._table, **params)
        except AwsCallFailed as exc:
            if exc.code in CONDITIONAL:
                # The item as stored (ReturnValuesOnConditionCheckFailure), for update().
                raise Conflict(exc.response.get("Item")) from None
            if exc.code == "ValidationException":
                # Logged: a ValidationException from our own expression would be a bug.
                logger.warning("storage refused a value", extra={"operation": operation})
            raise failure(exc) from None

    def _encode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in values.items()}

    def _record(self, item: dict[str, Any] | None, kind: type[R], *, live: bool = True) -> R | None:
        """The record an item holds; None when absent, expired (``live``) or not a ``kind``."""
        if item is None:
            return None
        values = {k: self._de.deserialize(v) for k, v in item.items()}
        expires = values.get(EXPIRES_AT)
        if live and expires is not None and int(expires) <= self.clock():
            return None
        try:
            return decode(kind, values)
        except Mismatch as exc:
            # A corrupt or foreign item counts as absent. Names only: never a value.
            logger.warning(
                "stored item does not match its record",
                extra={"record": exc.record, "attribute": exc.attribute, "problem": exc.problem},
            )
            return None

    def expiry(self, seconds: float) -> int:
        return int(self.clock() + seconds)

    def put(self, key: Key, record: Record, *, ttl: float, new: bool = True) -> None:
        """Write ``record`` living ``ttl`` seconds; ``new`` refuses to overwrite a live one."""
        item = self._encode({**encode(record), **key, EXPIRES_AT: self.expiry(ttl)})
        params: dict[str, Any] = {"Item": item}
        if new:
            params["ConditionExpression"] = "attribute_not_exists(pk) OR expires_at <= :now"
            params["ExpressionAttributeValues"] = {":now": {"N": str(int(self.clock()))}}
        self._call("put_item", **params)

    def get(self, key: Key, kind: type[R]) -> R | None:
        """The live ``kind`` at ``key``, or None."""
        found = self._call("get_item", Key=self._encode(key), ConsistentRead=True)
        return self._record(found.get("Item"), kind)

    def take(self, key: Key, kind: type[R]) -> R | None:
        """Delete the item and return its live ``kind``; None if absent, expired or taken
        already (an item that is not a ``kind`` is deleted too, and None)."""
        try:
            old = self._call(
                "delete_item",
                Key=self._encode(key),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except Conflict:
            return None
        return self._record(old.get("Attributes"), kind)

    def update(
        self,
        key: Key,
        kind: type[Record],
        changes: Mapping[str, Any],
        *,
        condition: str = "attribute_exists(pk)",
        values: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> None:
        """SET ``changes`` (attributes of ``kind``) and, with ``ttl``, a new expiry, if
        ``condition`` holds; else :class:`Lost` with the item as it was. ``values`` binds
        the condition's placeholders."""
        sets = encode_changes(kind, changes)
        if ttl is not None:
            sets[EXPIRES_AT] = self.expiry(ttl)
        names = {f"#{i}": name for i, name in enumerate(sets)}
        bound = {f":{i}": value for i, value in enumerate(sets.values())}
        expression = "SET " + ", ".join(f"#{i} = :{i}" for i in range(len(sets)))
        try:
            self._call(
                "update_item",
                Key=self._encode(key),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=self._encode({**bound, **(values or {})}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Conflict as lost:
            raise Lost(self._record(lost.item, kind, live=False)) from None

    def delete(self, key: Key) -> None:
        self._call("delete_item", Key=self._encode(key))
