"""The table adapter (gistgate/storage/table.py) over a recorded ``call``: records become
items and back, and an item that is expired or does not hold the record asked for counts
as absent. The same paths against moto run in every tests/component/oauth flow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from gistgate.storage.aws import AwsCallFailed
from gistgate.storage.records import Record
from gistgate.storage.table import Lost, Table

NOW = 1_800_000_000
KEY = {"pk": "THING#1", "sk": "THING"}
SECRET = "gho_a-value-that-never-reaches-a-log"


@dataclass(frozen=True)
class Thing(Record):
    sub: str
    count: int
    used_at: int | None = None


class FakeDynamo:
    """Answers the table's calls from canned responses and keeps what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answer: dict[str, Any] = {}
        self.fails: AwsCallFailed | None = None

    def __call__(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        self.calls.append((operation, params))
        if self.fails is not None:
            raise self.fails
        return self.answer


def _item(**values: Any) -> dict[str, Any]:
    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in {**KEY, **values}.items()}


@pytest.fixture
def dynamo(monkeypatch) -> FakeDynamo:
    fake = FakeDynamo()
    monkeypatch.setattr("gistgate.storage.table.call", fake)
    return fake


@pytest.fixture
def table(dynamo) -> Table:
    return Table("table", clock=lambda: NOW)


def test_put_writes_the_record_with_its_key_and_expiry_and_no_none(table, dynamo):
    table.put(KEY, Thing("user-1", 2), ttl=60)
    operation, params = dynamo.calls[0]
    assert operation == "put_item"
    assert params["Item"] == _item(sub="user-1", count=2, expires_at=NOW + 60)
    assert "attribute_not_exists(pk)" in params["ConditionExpression"]


def test_get_returns_the_record_with_numbers_as_int(table, dynamo):
    dynamo.answer = {"Item": _item(sub="user-1", count=2, used_at=5, expires_at=NOW + 1)}
    thing = table.get(KEY, Thing)
    assert thing == Thing("user-1", 2, used_at=5)
    assert type(thing.count) is int


def test_an_expired_item_is_absent(table, dynamo):
    dynamo.answer = {"Item": _item(sub="user-1", count=2, expires_at=NOW)}
    assert table.get(KEY, Thing) is None


@pytest.mark.parametrize(
    "item",
    [
        _item(count=2, expires_at=NOW + 60),  # sub missing
        _item(sub=SECRET, count=SECRET, expires_at=NOW + 60),  # count not a number
    ],
    ids=["missing", "wrong-type"],
)
def test_an_item_that_is_not_the_record_is_absent_and_logged_without_values(
    table, dynamo, log_output, item
):
    dynamo.answer = {"Item": item}
    assert table.get(KEY, Thing) is None
    logged = log_output.getvalue()
    assert "stored item does not match its record" in logged
    assert '"record":"Thing"' in logged.replace(" ", "")
    assert SECRET not in logged


def test_take_deletes_and_returns_the_live_record_once(table, dynamo):
    dynamo.answer = {"Attributes": _item(sub="user-1", count=2, expires_at=NOW + 60)}
    assert table.take(KEY, Thing) == Thing("user-1", 2)
    operation, params = dynamo.calls[0]
    assert operation == "delete_item"
    assert params["ConditionExpression"] == "attribute_exists(pk)"
    dynamo.fails = AwsCallFailed("dynamodb", "delete_item", "ConditionalCheckFailedException", {})
    assert table.take(KEY, Thing) is None


def test_take_of_an_item_that_is_not_the_record_is_absent(table, dynamo):
    dynamo.answer = {"Attributes": _item(sub="user-1", expires_at=NOW + 60)}
    assert table.take(KEY, Thing) is None


def test_update_sets_declared_attributes_and_a_new_expiry(table, dynamo):
    table.update(KEY, Thing, {"used_at": 7}, ttl=30)
    _, params = dynamo.calls[0]
    sets = {
        params["ExpressionAttributeNames"][name]: params["ExpressionAttributeValues"][value]
        for name, value in (("#0", ":0"), ("#1", ":1"))
    }
    assert sets == {"used_at": {"N": "7"}, "expires_at": {"N": str(NOW + 30)}}


def test_update_refuses_an_undeclared_attribute_before_any_call(table, dynamo):
    with pytest.raises(TypeError):
        table.update(KEY, Thing, {"owner": "someone"})
    assert dynamo.calls == []


def test_a_lost_update_carries_the_record_as_the_condition_found_it(table, dynamo):
    old = _item(sub="user-1", count=2, used_at=3, expires_at=NOW - 1)  # expired: still told
    dynamo.fails = AwsCallFailed(
        "dynamodb", "update_item", "ConditionalCheckFailedException", {"Item": old}
    )
    with pytest.raises(Lost) as lost:
        table.update(KEY, Thing, {"used_at": 7}, condition="attribute_not_exists(used_at)")
    assert lost.value.record == Thing("user-1", 2, used_at=3)


def test_a_lost_update_on_an_item_that_is_not_the_record_carries_none(table, dynamo):
    dynamo.fails = AwsCallFailed(
        "dynamodb", "update_item", "ConditionalCheckFailedException", {"Item": _item(count=1)}
    )
    with pytest.raises(Lost) as lost:
        table.update(KEY, Thing, {"used_at": 7})
    assert lost.value.record is None
