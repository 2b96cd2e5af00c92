"""Typed records: each kind of item declares its attributes once, as a frozen dataclass.

The module that owns an item (STORAGE.md) declares its record beside its logic;
:class:`gistgate.storage.table.Table` turns records into items and back, so no
module above storage reads or writes attributes by name. A record's fields are
the item's attributes; the key (``pk``/``sk``) and the TTL (``expires_at``)
belong to the table and cannot be fields.

Field types: ``str``, ``int``, ``bool``, ``tuple[str, ...]`` (a list), another
record (its attributes stored flat beside the outer ones, so two items can share
a part), and any of these ``| None``. Encoding leaves out ``None``. Decoding turns
DynamoDB's numbers (``Decimal``) back into ``int`` and fills a missing attribute
with the field's default (``None`` for an optional field); an attribute that is
missing with no default, or of another type, is a :class:`Mismatch`: the item is
corrupt or not ours, and the table treats it as absent. Neither error ever holds
a value, only the record's and the attribute's names.

Types are read with :func:`typing.get_type_hints`, so every name a field's type
uses must be importable from the record's module at run time.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar, cast

from gistgate.storage.keys import EXPIRES_AT, PK, SK

__all__ = ["RESERVED", "Mismatch", "Record", "decode", "encode", "encode_changes"]

# The table's own attributes: the key and the TTL are never a record's.
RESERVED = frozenset({PK, SK, EXPIRES_AT})

R = TypeVar("R", bound="Record")


class Record:
    """Base of every record; each subclass is a ``@dataclass(frozen=True)``."""

    __slots__ = ()


class Mismatch(ValueError):
    """An item does not hold a record of this kind: an attribute is missing or mistyped."""

    def __init__(self, record: str, attribute: str, problem: str) -> None:
        super().__init__(f"{record}.{attribute}: {problem}")
        self.record = record
        self.attribute = attribute
        self.problem = problem


class _Field(NamedTuple):
    name: str
    kind: type  # str, int, bool, tuple (of str) or a Record subclass
    optional: bool
    default: Any  # dataclasses.MISSING when there is none


# Per record class, computed on first use (a race only computes the same thing twice).
_FIELDS: dict[type[Record], tuple[_Field, ...]] = {}
_FLAT: dict[type[Record], dict[str, _Field]] = {}


def _fields(record: type[Record]) -> tuple[_Field, ...]:
    """The declared fields of ``record``, checked once (TypeError: not a valid record)."""
    known = _FIELDS.get(record)
    if known is not None:
        return known
    params = vars(record).get("__dataclass_params__")  # its own, not a base class's
    if not (issubclass(record, Record) and params is not None and params.frozen):
        raise TypeError(f"{record.__name__} is not a frozen dataclass Record")
    hints = typing.get_type_hints(record)
    found = []
    for spec in dataclasses.fields(cast(Any, record)):
        kind, optional = _unwrap(hints[spec.name], record.__name__, spec.name)
        if spec.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{record.__name__}.{spec.name}: use a plain default")
        found.append(_Field(spec.name, kind, optional, spec.default))
    _FLAT[record] = _attributes(record, tuple(found))  # the flat names must not clash
    _FIELDS[record] = tuple(found)
    return _FIELDS[record]


def _unwrap(hint: Any, record: str, name: str) -> tuple[type, bool]:
    """(the field's kind, whether it may be None) from its annotation."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"{record}.{name}: only X | None unions are supported")
        hint, optional = args[0], True
    if typing.get_origin(hint) is tuple:
        if typing.get_args(hint) != (str, ...):
            raise TypeError(f"{record}.{name}: the only tuple is tuple[str, ...]")
        return tuple, optional
    if hint in (str, int, bool):
        return cast(type, hint), optional
    if isinstance(hint, type) and issubclass(hint, Record):
        _fields(hint)
        return hint, optional
    raise TypeError(f"{record}.{name}: unsupported type {hint!r}")


def _flat(record: type[Record]) -> dict[str, _Field]:
    """Every stored attribute of ``record``, nested records' included, by name."""
    _fields(record)
    return _FLAT[record]


def _attributes(record: type[Record], fields: tuple[_Field, ...]) -> dict[str, _Field]:
    flat: dict[str, _Field] = {}
    for field in fields:
        inner = _flat(field.kind) if issubclass(field.kind, Record) else {field.name: field}
        for name, leaf in inner.items():
            if name in flat or name in RESERVED:
                raise TypeError(f"{record.__name__}.{name}: reserved or declared twice")
            flat[name] = leaf
    return flat


def _fits(field: _Field, value: Any) -> bool:
    """Is ``value`` (not None) of the field's kind, as Python code holds it?"""
    if field.kind is tuple:
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    if field.kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, field.kind)


def encode(record: Record) -> dict[str, Any]:
    """The item's attributes (without key and TTL); ``None`` is left out, tuples are lists."""
    values: dict[str, Any] = {}
    for field in _fields(type(record)):
        value = getattr(record, field.name)
        if value is None:
            if not field.optional:
                raise TypeError(f"{type(record).__name__}.{field.name} may not be None")
        elif issubclass(field.kind, Record):
            if not isinstance(value, field.kind):
                raise TypeError(f"{type(record).__name__}.{field.name} has the wrong type")
            values.update(encode(value))
        else:
            values[field.name] = _stored(type(record), field, value)
    return values


def encode_changes(record: type[Record], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute changes for an update, checked against ``record``'s declared attributes."""
    flat = _flat(record)
    values = {}
    for name, value in changes.items():
        field = flat.get(name)
        if field is None or issubclass(field.kind, Record):
            raise TypeError(f"{record.__name__} has no attribute {name!r}")
        if value is None:
            raise TypeError(f"{record.__name__}.{name}: an update cannot store None")
        values[name] = _stored(record, field, value)
    return values


def _stored(record: type[Record], field: _Field, value: Any) -> Any:
    if not _fits(field, value):
        raise TypeError(f"{record.__name__}.{field.name} has the wrong type")
    return list(value) if field.kind is tuple else value


def decode(record: type[R], values: Mapping[str, Any]) -> R:
    """The record ``values`` (an item's deserialized attributes) hold, else :class:`Mismatch`.

    Attributes the record does not declare (the key, the TTL, anything else) are ignored.
    """
    found: dict[str, Any] = {}
    for field in _fields(record):
        if issubclass(field.kind, Record):
            present = any(values.get(name) is not None for name in _flat(field.kind))
            if present or not field.optional:
                found[field.name] = decode(field.kind, values)
            else:
                found[field.name] = None
            continue
        value = values.get(field.name)
        if value is None:
            if field.default is not dataclasses.MISSING:
                found[field.name] = field.default
            elif field.optional:
                found[field.name] = None
            else:
                raise Mismatch(record.__name__, field.name, "missing")
            continue
        found[field.name] = _read(record, field, value)
    return record(**found)


def _read(record: type[Record], field: _Field, value: Any) -> Any:
    """One stored value as the field's kind (a DynamoDB number is a Decimal)."""
    if field.kind is int and isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
    elif field.kind is tuple and isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return tuple(value)
    elif _fits(field, value):
        return value
    raise Mismatch(record.__name__, field.name, "wrong type")
