"""Typed records (gistgate/storage/records.py): what a record stores, what an item must hold
to be read as one, and the record declarations the mechanism refuses."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from gistgate.storage.records import Mismatch, Record, decode, encode, encode_changes


@dataclass(frozen=True)
class Part(Record):
    sub: str
    scope: str


@dataclass(frozen=True)
class Extra(Record):
    ticket: str
    note: str | None = None


@dataclass(frozen=True)
class Sample(Record):
    part: Part
    count: int
    names: tuple[str, ...]
    flag: bool = False
    label: str = "none"
    used_at: int | None = None
    extra: Extra | None = None


SAMPLE = Sample(Part("user-1", "read"), 3, ("a", "b"), flag=True, used_at=1_800_000_000)


def _as_dynamodb_returns(values: dict[str, Any]) -> dict[str, Any]:
    """What boto3's TypeDeserializer hands back: every number a Decimal, lists as lists."""
    return {
        k: Decimal(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in values.items()
    }


def _problem(values: dict[str, Any]) -> Mismatch:
    with pytest.raises(Mismatch) as caught:
        decode(Sample, values)
    return caught.value


# -- encode / decode --------------------------------------------------------------------


def test_a_record_round_trips_through_its_item():
    stored = _as_dynamodb_returns(encode(SAMPLE))
    assert decode(Sample, stored) == SAMPLE


def test_a_nested_record_is_stored_flat_beside_the_outer_attributes():
    item = encode(Sample(Part("user-1", "read"), 1, (), extra=Extra("t-digest")))
    assert item["sub"] == "user-1"
    assert item["scope"] == "read"
    assert item["ticket"] == "t-digest"
    assert "part" not in item
    assert "extra" not in item
    assert decode(Sample, _as_dynamodb_returns(item)).extra == Extra("t-digest")


def test_tuples_are_stored_as_lists_and_read_back_as_tuples():
    item = encode(SAMPLE)
    assert item["names"] == ["a", "b"]
    assert decode(Sample, _as_dynamodb_returns(item)).names == ("a", "b")


def test_none_attributes_are_left_out_of_the_item():
    item = encode(Sample(Part("user-1", "read"), 1, ()))
    assert "used_at" not in item
    assert "ticket" not in item
    assert "note" not in item
    assert None not in item.values()


def test_dynamodb_numbers_are_read_as_int():
    record = decode(Sample, _as_dynamodb_returns(encode(SAMPLE)))
    assert type(record.count) is int
    assert record.count == 3
    assert type(record.used_at) is int
    assert record.used_at == 1_800_000_000


def test_a_number_with_a_fraction_is_not_an_int():
    values = _as_dynamodb_returns(encode(SAMPLE))
    problem = _problem({**values, "count": Decimal("3.5")})
    assert (problem.attribute, problem.problem) == ("count", "wrong type")


def test_the_key_the_ttl_and_unknown_attributes_are_ignored():
    values = {
        **_as_dynamodb_returns(encode(SAMPLE)),
        "pk": "X#1",
        "sk": "X",
        "expires_at": Decimal(1_800_000_600),
        "something_else": "ours no more",
    }
    assert decode(Sample, values) == SAMPLE


# -- missing and mistyped attributes ------------------------------------------------------


def test_a_missing_attribute_with_a_default_takes_the_default():
    values = _as_dynamodb_returns(encode(SAMPLE))
    del values["flag"], values["used_at"]
    record = decode(Sample, values)
    assert record.flag is False
    assert record.used_at is None
    assert record.label == "none"


@pytest.mark.parametrize("attribute", ["count", "names", "sub", "scope"])
def test_a_missing_required_attribute_is_a_mismatch(attribute):
    values = _as_dynamodb_returns(encode(SAMPLE))
    del values[attribute]
    problem = _problem(values)
    assert (problem.attribute, problem.problem) == (attribute, "missing")


def test_a_null_attribute_counts_as_missing():
    values = {**_as_dynamodb_returns(encode(SAMPLE)), "count": None}
    assert _problem(values).problem == "missing"


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("count", "3"),  # a string where a number belongs
        ("count", True),  # a bool is not a number
        ("flag", Decimal(1)),  # nor a number a bool
        ("sub", Decimal(7)),
        ("names", "a b"),  # a string is not a list of strings
        ("names", ["a", Decimal(1)]),
        ("label", ["x"]),
    ],
)
def test_an_attribute_of_another_type_is_a_mismatch(attribute, value):
    values = {**_as_dynamodb_returns(encode(SAMPLE)), attribute: value}
    problem = _problem(values)
    assert (problem.attribute, problem.problem) == (attribute, "wrong type")


def test_a_nested_record_present_in_part_is_a_mismatch():
    values = {**_as_dynamodb_returns(encode(SAMPLE)), "note": "half a ticket"}
    problem = _problem(values)
    assert (problem.record, problem.attribute) == ("Extra", "ticket")


def test_a_mismatch_names_the_attribute_but_never_its_value():
    secret = "gho_the-token-that-must-not-leak"
    problem = _problem({**_as_dynamodb_returns(encode(SAMPLE)), "count": secret})
    assert secret not in str(problem)
    assert secret not in repr(problem.args)
    assert str(problem) == "Sample.count: wrong type"


# -- what is written must be what the record declares ---------------------------------------


def test_encoding_refuses_a_value_of_another_type():
    with pytest.raises(TypeError):
        encode(Sample(Part("user-1", "read"), "3", ()))  # type: ignore[arg-type]


def test_encoding_refuses_none_for_a_required_attribute():
    with pytest.raises(TypeError):
        encode(Sample(Part("user-1", None), 3, ()))  # type: ignore[arg-type]


def test_changes_are_checked_against_the_declared_attributes():
    assert encode_changes(Sample, {"used_at": 5, "names": ("x",), "scope": "write"}) == {
        "used_at": 5,
        "names": ["x"],
        "scope": "write",
    }
    for bad in ({"nope": 1}, {"part": "x"}, {"used_at": "5"}, {"used_at": None}):
        with pytest.raises(TypeError):
            encode_changes(Sample, bad)


# -- declarations the mechanism refuses ------------------------------------------------------


def test_the_key_and_the_ttl_cannot_be_record_fields():
    @dataclass(frozen=True)
    class Keyed(Record):
        expires_at: int

    with pytest.raises(TypeError, match="reserved"):
        encode(Keyed(1))


def test_two_parts_cannot_declare_the_same_attribute():
    @dataclass(frozen=True)
    class Twice(Record):
        part: Part
        sub: str

    with pytest.raises(TypeError, match="declared twice"):
        encode(Twice(Part("a", "b"), "c"))


def test_a_record_must_be_a_frozen_dataclass_of_supported_types():
    @dataclass
    class Mutable(Record):
        sub: str

    class Undecorated(Sample):
        more: str

    @dataclass(frozen=True)
    class Floaty(Record):
        ratio: float

    for record in (Mutable("a"), Undecorated(Part("a", "b"), 1, ()), Floaty(0.5)):
        with pytest.raises(TypeError):
            encode(record)
