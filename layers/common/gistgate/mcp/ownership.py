"""Who created which gist with the service credential.

In service mode every gist belongs to the one service account on GitHub, so
GitHub cannot tell users apart: this table can. Each gist has two items,
written and removed together in one transaction (STORAGE.md):

* ``GIST#<id>`` / ``OWNER``: the owner's sub (the check before get, update,
  delete);
* ``USER#<sub>`` / ``GIST#<created_at>#<id>``: a summary, so ``list_gists``
  is one Query, newest first, with no GitHub call.
"""

from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple

from gistgate.core.inbound import MalformedRequest
from gistgate.core.inbound.jsontext import decode_json
from gistgate.storage import keys
from gistgate.storage.aws import AwsCallFailed, call
from gistgate.storage.errors import StorageUnavailable, failure

__all__ = ["BadCursor", "OwnedGist", "Owner", "Ownership", "decode_cursor", "encode_cursor"]


class BadCursor(ValueError):
    """A paging cursor this server did not issue."""


class Owner(NamedTuple):
    """The ownership record of one gist."""

    sub: str
    created_at: int


class OwnedGist(NamedTuple):
    """A listing row kept next to the ownership."""

    gist_id: str
    description: str
    public: bool
    html_url: str
    files: list[str]
    created_at: int
    updated_at: int


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _key(parts: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {k: _s(v) for k, v in parts.items()}


def encode_cursor(last_key: dict[str, Any]) -> str:
    """An opaque cursor for a DynamoDB LastEvaluatedKey."""
    plain = {k: v["S"] for k, v in last_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sub: str) -> dict[str, Any]:
    """The start key a cursor stands for; it must point into ``sub``'s own items."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        plain = decode_json(base64.urlsafe_b64decode(padded.encode()), "cursor")
        pk, sk = plain[keys.PK], plain[keys.SK]
    except (ValueError, KeyError, TypeError, MalformedRequest):
        raise BadCursor("the cursor is not one this server issued") from None
    prefix_pk, prefix_sk = keys.user_gists_prefix(sub)
    if pk != prefix_pk or not isinstance(sk, str) or not sk.startswith(prefix_sk):
        raise BadCursor("the cursor is not one this server issued")
    return {keys.PK: _s(pk), keys.SK: _s(sk)}


class Ownership:
    """Ownership records in the table."""

    def __init__(self, table_name: str | None) -> None:
        self._table = table_name

    def _call(self, operation: str, **params: Any) -> Any:
        if not self._table:
            raise StorageUnavailable("gist ownership needs TABLE_NAME")
        try:
            return call("dynamodb", operation, **params)
        except AwsCallFailed as exc:
            raise failure(exc) from None  # refused rather than guessed

    def owner(self, gist_id: str) -> Owner | None:
        """The ownership record of ``gist_id``, or None."""
        item = self._call(
            "get_item",
            TableName=self._table,
            Key=_key(keys.gist_owner(gist_id)),
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return Owner(item["owner"]["S"], int(item["created_at"]["N"]))

    def _summary_item(self, sub: str, row: OwnedGist) -> dict[str, Any]:
        item = _key(keys.user_gist(sub, row.created_at, row.gist_id))
        item.update(
            gist_id=_s(row.gist_id),
            description=_s(row.description),
            public={"BOOL": row.public},
            html_url=_s(row.html_url),
            files={"L": [_s(f) for f in row.files]},
            created_at={"N": str(row.created_at)},
            updated_at={"N": str(row.updated_at)},
        )
        return item

    def record(self, sub: str, row: OwnedGist) -> None:
        """Write both items of a new gist atomically."""
        owner = _key(keys.gist_owner(row.gist_id))
        owner.update(owner=_s(sub), created_at={"N": str(row.created_at)})
        self._call(
            "transact_write_items",
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": owner,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": {"TableName": self._table, "Item": self._summary_item(sub, row)}},
            ],
        )

    def refresh(self, sub: str, row: OwnedGist) -> None:
        """Replace the listing row after an update."""
        self._call("put_item", TableName=self._table, Item=self._summary_item(sub, row))

    def remove(self, gist_id: str, owner: Owner) -> None:
        """Delete both items of ``gist_id`` atomically."""
        self._call(
            "transact_write_items",
            TransactItems=[
                {"Delete": {"TableName": self._table, "Key": _key(keys.gist_owner(gist_id))}},
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _key(keys.user_gist(owner.sub, owner.created_at, gist_id)),
                    }
                },
            ],
        )

    def list(
        self, sub: str, *, limit: int, since: int | None = None, cursor: str | None = None
    ) -> tuple[list[OwnedGist], str | None]:
        """``sub``'s gists, newest first, ``limit`` per page."""
        pk, prefix = keys.user_gists_prefix(sub)
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(pk), ":prefix": _s(prefix)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if since is not None:
            params["FilterExpression"] = "updated_at >= :since"
            params["ExpressionAttributeValues"][":since"] = {"N": str(since)}
        if cursor:
            params["ExclusiveStartKey"] = decode_cursor(cursor, sub)
        rows: list[OwnedGist] = []
        while True:
            result = self._call("query", **params)
            for item in result.get("Items", []):
                rows.append(
                    OwnedGist(
                        item["gist_id"]["S"],
                        item["description"]["S"],
                        item["public"]["BOOL"],
                        item["html_url"]["S"],
                        [f["S"] for f in item["files"]["L"]],
                        int(item["created_at"]["N"]),
                        int(item["updated_at"]["N"]),
                    )
                )
            last = result.get("LastEvaluatedKey")
            if len(rows) >= limit or not last:
                break
            params["ExclusiveStartKey"] = last
            params["Limit"] = limit - len(rows)
        return rows[:limit], encode_cursor(last) if last else None
