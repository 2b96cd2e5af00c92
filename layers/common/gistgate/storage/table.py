"""The single table, as plain dicts: the one adapter every item's module builds on.

Every item carries ``expires_at`` (epoch seconds, the table's TTL attribute).
DynamoDB deletes expired items only eventually (moto never does), so every read
here treats an expired item as absent. Single-use items are taken with one
conditional write, so two concurrent requests can never both succeed.

A value storage cannot hold is the request's fault, not storage's: a string
that is not UTF-8-encodable (a lone surrogate) is refused before the call, and
DynamoDB's ``ValidationException`` (a key too long, an item too large) is
:class:`StorageRejected` (a 400), never the :class:`StorageUnavailable` (a 503)
that tells a client to retry the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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

__all__ = ["Conflict", "Key", "StorageRejected", "StorageUnavailable", "Table"]

Key = dict[str, str]

UNSTORABLE = "a value in this request cannot be stored"


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
    """Typed-free access to the table: the modules above it own the item shapes."""

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
                old = exc.response.get("Item")
                raise Conflict(self._decode(old) if old else None) from None
            if exc.code == "ValidationException":
                # Logged: a ValidationException from our own expression would be a bug.
                logger.warning("storage refused a value", extra={"operation": operation})
            raise failure(exc) from None

    def _encode(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in values.items() if v is not None}

    def _decode(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._de.deserialize(v) for k, v in item.items()}

    def _live(self, item: dict[str, Any] | None) -> dict[str, Any] | None:
        if item is None:
            return None
        decoded = self._decode(item)
        expires = decoded.get(EXPIRES_AT)
        if expires is not None and int(expires) <= self.clock():
            return None
        return decoded

    def expiry(self, seconds: float) -> int:
        return int(self.clock() + seconds)

    def put(self, key: Key, values: dict[str, Any], *, ttl: float, new: bool = True) -> None:
        """Write an item living ``ttl`` seconds; ``new`` refuses to overwrite a live one."""
        item = self._encode({**values, **key, EXPIRES_AT: self.expiry(ttl)})
        params: dict[str, Any] = {"Item": item}
        if new:
            params["ConditionExpression"] = "attribute_not_exists(pk) OR expires_at <= :now"
            params["ExpressionAttributeValues"] = {":now": {"N": str(int(self.clock()))}}
        self._call("put_item", **params)

    def get(self, key: Key) -> dict[str, Any] | None:
        """The live item, or None."""
        found = self._call("get_item", Key=self._encode(key), ConsistentRead=True)
        return self._live(found.get("Item"))

    def take(self, key: Key) -> dict[str, Any] | None:
        """Delete and return the live item; None if absent, expired or taken already."""
        try:
            old = self._call(
                "delete_item",
                Key=self._encode(key),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except Conflict:
            return None
        return self._live(old.get("Attributes"))

    def update(
        self,
        key: Key,
        changes: dict[str, Any],
        *,
        condition: str = "attribute_exists(pk)",
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """SET ``changes`` if ``condition`` holds (else :class:`Conflict` with the item)."""
        names = {f"#{i}": name for i, name in enumerate(changes)}
        bound = {f":{i}": value for i, value in enumerate(changes.values())}
        expression = "SET " + ", ".join(f"#{i} = :{i}" for i in range(len(changes)))
        result = self._call(
            "update_item",
            Key=self._encode(key),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=self._encode({**bound, **(values or {})}),
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return self._decode(result["Attributes"])

    def delete(self, key: Key) -> None:
        self._call("delete_item", Key=self._encode(key))
