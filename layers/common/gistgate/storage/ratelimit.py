"""Per-user tool-call rate limit: a token bucket kept in DynamoDB.

The bucket is stored the GCRA way (the "virtual scheduling" form of a token
bucket): one number, the theoretical arrival time ``tat`` of the next call.
A bucket of ``limit`` tokens refilled at ``limit`` per minute admits a call at
``now`` when ``tat - now <= window - interval``; admitting it moves ``tat`` to
``max(tat, now) + interval``. Each branch of that ``max`` is one conditional
``UpdateItem``, so a decision is atomic across concurrent Lambdas and costs a
single round trip when the bucket's state is known (the last ``tat`` seen by
this process is the hint), two when it is not. The item expires (TTL) once
the bucket would be full again anyway.

A limiter may *lease* up to ``lease`` tokens in one update and hand them out
from memory: a burst of calls on one warm instance then costs one DynamoDB
write per ``lease`` calls instead of one per call. It never admits more than
the bucket holds (a lease takes only the tokens that are left). A lease is
earned: an instance takes one token for a subject it has not served in the
last ``STREAK_SECONDS``, and doubles what it takes (up to ``lease``) while the
same subject keeps coming back to it. A caller spread over many instances,
which rarely reaches the same one twice, so leases nothing it would strand;
tokens leased by an instance that then sees no more calls from that subject
are lost to it for at most a minute, so a caller may be limited a little
early, never late (bench/capacity.py measures how little). A bucket this
instance last saw empty is refused from memory until it refills: ``tat`` only
moves forward, so that answer is exact, and a flood of refused calls costs no
write.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from gistgate.storage import keys
from gistgate.storage.aws import AwsCallFailed, call
from gistgate.storage.errors import StorageUnavailable, failure

__all__ = ["STREAK_SECONDS", "WINDOW_SECONDS", "Decision", "RateLimited", "RateLimiter"]

WINDOW_SECONDS = 60.0
# A subject this instance served less than this long ago is "coming back": its lease grows.
STREAK_SECONDS = 10.0


class RateLimited(Exception):
    """The caller has used up the bucket; ``retry_after`` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit reached; retry after {retry_after} s")
        self.retry_after = retry_after


class Decision(NamedTuple):
    """Admitted, with the tokens left after this call (with a lease: as last seen)."""

    remaining: int


class RateLimiter:
    """``limit`` calls per minute per subject, with bursts of up to ``limit``."""

    def __init__(
        self,
        table_name: str | None,
        limit: int,
        clock: Callable[[], float] = time.time,
        *,
        lease: int = 1,
    ) -> None:
        self._table = table_name
        self._limit = limit
        self._interval = WINDOW_SECONDS / limit
        self._tolerance = WINDOW_SECONDS - self._interval
        self._clock = clock
        self._hints: dict[str, float] = {}
        self._lease = max(1, min(lease, limit))
        # sub -> (leased tokens left, usable until, tokens left in the table at lease time)
        self._leases: dict[str, tuple[int, float, int]] = {}
        # sub -> (tokens the last update took, when): the lease a returning subject earns
        self._streaks: dict[str, tuple[int, float]] = {}

    def _update(self, sub: str, expression: str, condition: str, values: dict[str, Any]) -> Any:
        try:
            return call(
                "dynamodb",
                "update_item",
                TableName=self._table,
                Key={k: {"S": v} for k, v in keys.rate_bucket(sub).items()},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except AwsCallFailed as exc:
            if exc.code == "ConditionalCheckFailedException":
                old = exc.response.get("Item") or {}
                return {"failed": float(old["tat"]["N"]) if "tat" in old else None}
            raise failure(exc) from None  # the limiter fails closed

    def _from_idle(self, sub: str, now: float, count: int) -> Any:
        """The bucket is full (no item, or ``tat`` in the past): ``tat = now + count·interval``."""
        tat = now + count * self._interval
        return self._update(
            sub,
            "SET tat = :tat, expires_at = :exp",
            "attribute_not_exists(tat) OR tat < :now",
            {
                ":tat": {"N": repr(tat)},
                ":now": {"N": repr(now)},
                ":exp": {"N": str(math.ceil(tat + WINDOW_SECONDS))},
            },
        )

    def _from_busy(self, sub: str, now: float, count: int) -> Any:
        """Tokens were taken recently (``now <= tat``): ``tat += count·interval`` if that
        many are left."""
        return self._update(
            sub,
            "SET tat = tat + :interval, expires_at = :exp",
            "tat >= :now AND tat <= :latest",
            {
                ":interval": {"N": repr(count * self._interval)},
                ":now": {"N": repr(now)},
                ":latest": {"N": repr(now + self._tolerance - (count - 1) * self._interval)},
                ":exp": {"N": str(math.ceil(now + 2 * WINDOW_SECONDS))},
            },
        )

    def _available(self, tat: float, now: float) -> int:
        """Tokens left at ``now`` in a bucket whose theoretical arrival time is ``tat``."""
        return math.floor((now + self._tolerance - tat) / self._interval) + 1

    def acquire(self, sub: str) -> Decision:
        """Take one token for ``sub`` or raise :class:`RateLimited`."""
        if not self._table:
            raise StorageUnavailable("the rate limiter needs TABLE_NAME")
        now = self._clock()
        held = self._leases.get(sub)
        streak = self._streaks.get(sub)
        if held is not None and held[0] > 0 and held[1] > now:
            left = held[0] - 1
            self._leases[sub] = (left, held[1], held[2])
            if streak is not None:
                self._streaks[sub] = (streak[0], now)  # still coming back
            return Decision(held[2] + left)
        returning = streak is not None and now - streak[1] <= STREAK_SECONDS
        count = min(self._lease, 2 * streak[0]) if returning and streak is not None else 1
        hint = self._hints.get(sub)
        if hint is not None and self._available(hint, now) < 1:
            # tat only moves forward: a bucket we saw empty until t is empty now, so the
            # refusal needs no write (a flood of refused calls costs no WCU).
            raise RateLimited(max(1, math.ceil(hint - self._tolerance - now)))
        attempt = self._from_busy if hint is not None and hint >= now else self._from_idle
        for _ in range(3):
            result = attempt(sub, now, count)
            if "failed" not in result:
                tat = float(result["Attributes"]["tat"]["N"])
                if len(self._hints) >= 4096:
                    self._hints.clear()
                    self._leases.clear()
                    self._streaks.clear()
                self._hints[sub] = tat
                self._streaks[sub] = (count, now)
                in_table = max(0, math.floor((now + self._tolerance - tat) / self._interval) + 1)
                if count > 1:
                    self._leases[sub] = (count - 1, now + WINDOW_SECONDS, in_table)
                return Decision(in_table + count - 1)
            seen = result["failed"]
            if seen is None or seen < now:
                attempt = self._from_idle
                continue
            available = self._available(seen, now)
            if available >= 1:
                attempt, count = self._from_busy, min(count, available)
            else:
                self._hints[sub] = seen
                raise RateLimited(max(1, math.ceil(seen - self._tolerance - now)))
        # Three lost races in a row: others are calling as this subject right now.
        raise RateLimited(1)
