"""Counting stand-ins for AWS and GitHub, for the capacity model (bench/capacity.py).

The simulation runs gistgate's own cache, lease and token code; only the calls that
would leave the process land here. Each fake *counts* what it is asked and keeps no
more state than the real code reads back, so the decisions stay the code's:

* the rate-limit bucket ``RATE#<sub>`` keeps its one number, ``tat``, and the two
  conditional updates of ``storage/ratelimit.py`` are evaluated as DynamoDB would
  (a lease is granted or refused by the same condition);
* items written through ``storage/table.py`` (clients, codes, refresh families) and
  the vault's ``USER#<sub>/GITHUB`` are kept, because the token endpoint and the
  vault read them back;
* gist ownership, listing rows and everything else are counted, not kept (an owner
  lookup answers "the caller": the workload only touches its own gists).

An expression the fake does not recognise raises: if the limiter's update changes,
the model must change with it rather than count something else.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gistgate.mcp.github import Page
from gistgate.storage.aws import AwsCallFailed

__all__ = [
    "CALL_SITES",
    "FakeAws",
    "FakeGitHub",
    "SimClock",
    "Tally",
    "capacity_units",
    "item_kind",
    "patched_aws",
]

# Every module that imported ``call`` from gistgate.storage.aws (grep: "storage.aws import").
CALL_SITES = (
    "gistgate.storage.aws",
    "gistgate.storage.ratelimit",
    "gistgate.storage.table",
    "gistgate.storage.vault",
    "gistgate.mcp.ownership",
    "gistgate.oauth.signing",
)

# The limiter's two updates (storage/ratelimit.py), verbatim.
_IDLE = ("SET tat = :tat, expires_at = :exp", "attribute_not_exists(tat) OR tat < :now")
_BUSY = ("SET tat = tat + :interval, expires_at = :exp", "tat >= :now AND tat <= :latest")
# storage/table.py's generic update: "SET #0 = :0, #1 = :1, ...".
_TABLE_SET = re.compile(r"^SET #\d+ = :\d+(, #\d+ = :\d+)*$")
_DATA_KEY = bytes(range(32))  # what the fake KMS hands out as a data key
_SIGNATURE = encode_dss_signature(2**200 + 12345, 2**200 + 67890)


class SimClock:
    """The simulated time (epoch seconds); every cache under test reads it."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        """So the clock can stand in for the ``time`` module (``time.time()``)."""
        return self.now


class Tally:
    """Calls per (hour, service, operation), and writes per second on each hot key."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self.calls: Counter[tuple[int, str, str]] = Counter()
        self.units: defaultdict[tuple[int, str], float] = defaultdict(float)  # (hour, RCU|WCU)
        self.key_seconds: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.enabled = True

    def hour(self) -> int:
        return int(self._clock.now // 3600)

    def add(self, service: str, operation: str, n: int = 1) -> None:
        if self.enabled:
            self.calls[(self.hour(), service, operation)] += n

    def unit(self, kind: str, n: float) -> None:
        if self.enabled:
            self.units[(self.hour(), kind)] += n

    def key_write(self, key: str) -> None:
        if self.enabled:
            self.key_seconds[key][int(self._clock.now)] += 1

    def total(self, service: str, operation: str | None = None, hour: int | None = None) -> int:
        return sum(
            n
            for (h, s, o), n in self.calls.items()
            if s == service and (operation is None or o == operation) and (hour in (None, h))
        )


def capacity_units(operation: str, params: dict[str, Any]) -> tuple[str, float]:
    """DynamoDB on-demand units of one call of our (small, < 1 KB) items.

    A strongly consistent read of up to 4 KB is one read unit; a write (also a
    conditional one that fails) of up to 1 KB is one write unit; each item of a
    transaction costs two; a Query of a few small rows, eventually consistent, half
    a read unit.
    """
    if operation == "get_item":
        return "RCU", 1.0 if params.get("ConsistentRead") else 0.5
    if operation == "query":
        return "RCU", 0.5
    if operation == "transact_write_items":
        return "WCU", 2.0 * len(params.get("TransactItems", ()))
    return "WCU", 1.0


def _conditional_failure(operation: str, item: dict[str, Any] | None) -> AwsCallFailed:
    response: dict[str, Any] = {"Error": {"Code": "ConditionalCheckFailedException"}}
    if item is not None:
        response["Item"] = item
    return AwsCallFailed("dynamodb", operation, "ConditionalCheckFailedException", response)


def item_kind(pk: str, sk: str) -> str:
    """The STORAGE.md item a key belongs to, e.g. ``USER#<sub>/GITHUB`` (the vault)."""
    if pk.startswith("RATE#register:"):
        return "RATE#register:<ip>/MINUTE"
    head = pk.split("#", 1)[0]
    tail = sk.split("#", 1)[0]
    variable = {"USER": "<sub>", "RATE": "<sub>", "GIST": "<id>", "CLIENT": "<id>"}
    return f"{head}#{variable.get(head, '<hash>')}/{tail}"


def _keys(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (pk, sk) each call touches."""
    if operation == "transact_write_items":
        found = []
        for action in params.get("TransactItems", ()):
            for body in action.values():
                key = body.get("Item") or body.get("Key")
                found.append((key["pk"]["S"], key["sk"]["S"]))
        return found
    if operation == "query":
        values = params["ExpressionAttributeValues"]
        return [(values[":pk"]["S"], values.get(":prefix", {"S": ""})["S"])]
    key = params.get("Key") or params.get("Item") or {}
    return [(key["pk"]["S"], key["sk"]["S"])]


def _num(value: dict[str, str]) -> float:
    return float(value["N"])


class FakeAws:
    """``gistgate.storage.aws.call`` for DynamoDB and KMS: counts, and keeps read-backs."""

    def __init__(self, clock: SimClock, tally: Tally) -> None:
        self._clock = clock
        self.tally = tally
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.tats: dict[str, float] = {}
        private = ec.generate_private_key(ec.SECP256R1())
        self.public_der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def __call__(self, service: str, operation: str, **params: Any) -> Any:
        self.tally.add(service, operation)
        if service == "dynamodb":
            kind, units = capacity_units(operation, params)
            self.tally.unit(kind, units)
            for pk, sk in _keys(operation, params):
                self.tally.add("item", f"{operation} {item_kind(pk, sk)}")
            return getattr(self, f"_ddb_{operation}")(params)
        if service == "kms":
            return getattr(self, f"_kms_{operation}")(params)
        raise AssertionError(f"the capacity model does not fake {service} {operation}")

    # -- DynamoDB -------------------------------------------------------------------

    @staticmethod
    def _key(params: dict[str, Any]) -> tuple[str, str]:
        key = params["Key"]
        return key["pk"]["S"], key["sk"]["S"]

    @staticmethod
    def _kept(pk: str, sk: str) -> bool:
        """Items the code reads back; gist ownership and listing rows are only counted."""
        return not (pk.startswith("GIST#") or sk.startswith("GIST#"))

    def _ddb_get_item(self, params: dict[str, Any]) -> dict[str, Any]:
        pk, sk = self._key(params)
        if pk.startswith("GIST#"):
            # The workload touches only its callers' own gists: g<uid>n<k> -> github|<uid>.
            owner = "github|" + pk[len("GIST#g") :].split("n", 1)[0]
            return {"Item": {"owner": {"S": owner}, "created_at": {"N": "1700000000"}}}
        item = self.items.get((pk, sk))
        return {"Item": item} if item is not None else {}

    def _ddb_put_item(self, params: dict[str, Any]) -> dict[str, Any]:
        item = params["Item"]
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if params.get("ConditionExpression") == "attribute_not_exists(pk) OR expires_at <= :now":
            old = self.items.get((pk, sk))
            if old is not None and _num(old.get("expires_at", {"N": "0"})) > self._clock.now:
                raise _conditional_failure("put_item", old)
        if self._kept(pk, sk):
            self.items[(pk, sk)] = item
        return {}

    def _ddb_delete_item(self, params: dict[str, Any]) -> dict[str, Any]:
        old = self.items.pop(self._key(params), None)
        if old is None and params.get("ConditionExpression") == "attribute_exists(pk)":
            raise _conditional_failure("delete_item", None)
        return {"Attributes": old} if old is not None and params.get("ReturnValues") else {}

    def _ddb_query(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Items": []}

    def _ddb_transact_write_items(self, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _ddb_update_item(self, params: dict[str, Any]) -> dict[str, Any]:
        pk, sk = self._key(params)
        if pk.startswith("RATE#"):
            self.tally.key_write(pk)
            return self._rate_update(pk, params)
        expression = params["UpdateExpression"]
        if not _TABLE_SET.match(expression):
            raise AssertionError(f"unmodelled update expression: {expression!r}")
        item = self.items.get((pk, sk))
        if item is None:
            # Every Table.update condition starts with (or implies) attribute_exists(pk).
            raise _conditional_failure("update_item", None)
        # Other conditions (the rotation's cur_hash check) hold: the replay is sequential.
        names, values = params["ExpressionAttributeNames"], params["ExpressionAttributeValues"]
        updated = dict(item)
        for placeholder, name in names.items():
            updated[name] = values[":" + placeholder[1:]]
        self.items[(pk, sk)] = updated
        return {}

    def _rate_update(self, pk: str, params: dict[str, Any]) -> dict[str, Any]:
        """The limiter's conditional updates, evaluated on the bucket's ``tat``."""
        shape = (params["UpdateExpression"], params["ConditionExpression"])
        values = params["ExpressionAttributeValues"]
        tat = self.tats.get(pk)
        now = _num(values[":now"])
        if shape == _IDLE:
            if tat is not None and not tat < now:
                raise _conditional_failure("update_item", {"tat": {"N": repr(tat)}})
            new = _num(values[":tat"])
        elif shape == _BUSY:
            if tat is None or not now <= tat <= _num(values[":latest"]):
                old = None if tat is None else {"tat": {"N": repr(tat)}}
                raise _conditional_failure("update_item", old)
            new = tat + _num(values[":interval"])
        else:
            raise AssertionError(f"unmodelled rate-limit update: {shape!r}")
        self.tats[pk] = new
        return {"Attributes": {"tat": {"N": repr(new)}, "expires_at": values[":exp"]}}

    # -- KMS ------------------------------------------------------------------------

    def _kms_sign(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Signature": _SIGNATURE, "KeyId": params["KeyId"]}

    def _kms_get_public_key(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "KeyId": f"arn:aws:kms:eu-west-1:111122223333:key/{params['KeyId']}",
            "PublicKey": self.public_der,
            "KeySpec": "ECC_NIST_P256",
            "KeyUsage": "SIGN_VERIFY",
            "SigningAlgorithms": ["ECDSA_SHA_256"],
        }

    def _kms_generate_data_key(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Plaintext": _DATA_KEY, "CiphertextBlob": b"encrypted-data-key"}

    def _kms_decrypt(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Plaintext": _DATA_KEY}


@contextlib.contextmanager
def patched_aws(fake: Callable[..., Any], vault_clock: SimClock) -> Iterator[None]:
    """Route every ``call`` to ``fake`` and the vault's ``time.time()`` to the sim clock.

    Restored on exit, so the rest of the process (and other tests) see the real ones.
    """
    saved: list[tuple[Any, str, Any]] = []
    try:
        for name in CALL_SITES:
            module = sys.modules.get(name) or __import__(name, fromlist=["call"])
            saved.append((module, "call", getattr(module, "call")))  # noqa: B009
            setattr(module, "call", fake)  # noqa: B010
        vault = sys.modules["gistgate.storage.vault"]
        saved.append((vault, "time", vault.time))
        vault.time = vault_clock  # type: ignore[attr-defined]
        yield
    finally:
        for module, attribute, value in reversed(saved):
            setattr(module, attribute, value)


class FakeGitHub:
    """Stands in for ``GitHubClient``: counts requests per token and method.

    The service token is one token for the whole deployment; every other token is a
    user's own (``gho_<uid>``), each with its own GitHub rate limit.
    """

    SERVICE_TOKEN = "ghp_service"

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.user_requests: Counter[tuple[str, int]] = Counter()  # (token, hour)
        self._created = 0

    def _count(self, token: str, method: str) -> None:
        who = "service" if token == self.SERVICE_TOKEN else "user"
        self.tally.add("github", f"{who} {method}")
        if who == "user":
            self.user_requests[(token, self.tally.hour())] += 1

    @staticmethod
    def _gist(gist_id: str) -> dict[str, Any]:
        return {
            "id": gist_id,
            "description": "sim",
            "public": False,
            "html_url": f"https://gist.github.com/{gist_id}",
            "files": {"a.txt": {"content": "x", "size": 1}},
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "owner": {"login": "sim"},
        }

    def user(self, token: str) -> dict[str, Any]:
        self._count(token, "GET")
        return {"login": "sim", "public_gists": 1}

    def create_gist(self, token: str, body: Any) -> dict[str, Any]:
        self._count(token, "POST")
        self._created += 1
        return self._gist(f"c{self._created}")

    def get_gist(self, token: str, gist_id: str) -> dict[str, Any]:
        self._count(token, "GET")
        return self._gist(gist_id)

    def update_gist(self, token: str, gist_id: str, body: Any) -> dict[str, Any]:
        self._count(token, "PATCH")
        return self._gist(gist_id)

    def delete_gist(self, token: str, gist_id: str) -> None:
        self._count(token, "DELETE")

    def list_gists(
        self, token: str, *, per_page: int, page: int = 1, since: str | None = None
    ) -> Page:
        self._count(token, "GET")
        return Page([self._gist("g0n0")], None)
