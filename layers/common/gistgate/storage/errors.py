"""The failures of the table, the same for every item that lives in it.

Three kinds, each answered one way by every function: the table (or the KMS
key behind the vault) did not answer, which is worth retrying; the table
refused what it was given, which is the request's fault; and a conditional
write lost, which the caller decides about.
"""

from __future__ import annotations

from typing import Any

from gistgate.storage.aws import AwsCallFailed

__all__ = ["CONDITIONAL", "Conflict", "StorageRejected", "StorageUnavailable", "failure"]

CONDITIONAL = ("ConditionalCheckFailedException", "TransactionCanceledException")


class StorageUnavailable(Exception):
    """Storage did not answer, or is not configured: retryable, and nothing was stored."""


class StorageRejected(Exception):
    """Storage cannot hold a value of this request (not UTF-8, too large): a 400, not a 503."""


class Conflict(Exception):
    """A conditional write lost: the item was absent, taken or changed."""

    def __init__(self, item: dict[str, Any] | None = None) -> None:
        super().__init__("condition failed")
        self.item = item


def failure(exc: AwsCallFailed) -> StorageUnavailable | StorageRejected:
    """What a failed (non-conditional) AWS call means to the caller."""
    if exc.code == "ValidationException":
        return StorageRejected("a value in this request cannot be stored")
    return StorageUnavailable(str(exc))
