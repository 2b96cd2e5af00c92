"""The DynamoDB token bucket (GCRA form), against moto through real boto3 calls."""

from __future__ import annotations

import pytest

from gistgate.storage import keys
from gistgate.storage.ratelimit import RateLimited, RateLimiter


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_admits_a_burst_then_refuses_with_retry_after(aws):
    clock = Clock()
    limiter = RateLimiter(aws.table, 6, clock)  # 6 a minute: one token every 10 s
    remaining = [limiter.acquire("u").remaining for _ in range(6)]
    assert remaining == [5, 4, 3, 2, 1, 0]
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("u")
    assert refused.value.retry_after == 10


def test_tokens_come_back_at_the_refill_rate(aws):
    clock = Clock()
    limiter = RateLimiter(aws.table, 6, clock)
    for _ in range(6):
        limiter.acquire("u")
    clock.now += 10  # one token
    limiter.acquire("u")
    with pytest.raises(RateLimited):
        limiter.acquire("u")
    clock.now += 60  # idle: the bucket is full again
    assert limiter.acquire("u").remaining == 5


def test_buckets_are_per_subject_and_shared_between_instances(aws):
    clock = Clock()
    first, second = RateLimiter(aws.table, 2, clock), RateLimiter(aws.table, 2, clock)
    first.acquire("a")
    second.acquire("a")  # another Lambda, same bucket in the table
    with pytest.raises(RateLimited):
        first.acquire("a")
    assert second.acquire("b").remaining == 1


def test_the_bucket_item_expires_once_it_would_be_full(aws):
    clock = Clock()
    RateLimiter(aws.table, 60, clock).acquire("u")
    item = aws.client("dynamodb").get_item(
        TableName=aws.table, Key={k: {"S": v} for k, v in keys.rate_bucket("u").items()}
    )["Item"]
    assert float(item["tat"]["N"]) == pytest.approx(clock.now + 1)
    assert clock.now < int(item["expires_at"]["N"]) <= clock.now + 62


@pytest.fixture
def writes(monkeypatch):
    """Count the limiter's DynamoDB calls (each still goes to moto)."""
    from gistgate.storage import ratelimit

    seen: list[str] = []
    real = ratelimit.call

    def counting(service, operation, **params):
        seen.append(operation)
        return real(service, operation, **params)

    monkeypatch.setattr(ratelimit, "call", counting)
    return seen


def test_a_lease_is_earned_then_serves_a_burst_with_one_write_per_lease(aws, writes):
    """A returning subject's lease doubles (1, 2, then the full 3): 6 calls, 3 writes."""
    clock = Clock()
    limiter = RateLimiter(aws.table, 6, clock, lease=3)
    remaining = [limiter.acquire("u").remaining for _ in range(6)]
    assert remaining == [5, 4, 3, 2, 1, 0]
    assert writes == ["update_item"] * 3
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("u")
    assert refused.value.retry_after == 10


def test_a_lease_never_takes_more_than_is_left(aws):
    """Limit 6, lease 4: 1, 2, then only the 3 left, then refused: still exactly 6."""
    clock = Clock()
    limiter = RateLimiter(aws.table, 6, clock, lease=4)
    for _ in range(6):
        limiter.acquire("u")
    with pytest.raises(RateLimited):
        limiter.acquire("u")


def test_leased_tokens_are_charged_to_the_shared_bucket(aws):
    """Another instance sees the leased tokens as taken (early, never late)."""
    clock = Clock()
    leasing = RateLimiter(aws.table, 4, clock, lease=3)
    other = RateLimiter(aws.table, 4, clock)
    leasing.acquire("u")  # takes 1
    leasing.acquire("u")  # a returning subject: takes 2, uses 1, holds 1
    other.acquire("u")  # the fourth
    with pytest.raises(RateLimited):
        other.acquire("u")
    leasing.acquire("u")  # its lease still holds one
    with pytest.raises(RateLimited):
        leasing.acquire("u")


def test_a_caller_spread_over_instances_is_not_limited_early(aws):
    """Four instances, each reached once: a first call leases nothing it would strand, so
    all four calls of a limit of 4 pass (a lease of 4 on the first would refuse three)."""
    clock = Clock()
    instances = [RateLimiter(aws.table, 4, clock, lease=4) for _ in range(4)]
    for instance in instances:
        instance.acquire("u")
    with pytest.raises(RateLimited):
        instances[0].acquire("u")


def test_an_unused_lease_expires_with_the_window(aws, writes):
    clock = Clock()
    limiter = RateLimiter(aws.table, 60, clock, lease=6)
    limiter.acquire("u")
    limiter.acquire("u")  # leases 2: one unused
    clock.now += 61
    limiter.acquire("u")  # the unused token is gone with its window: a write
    assert writes == ["update_item"] * 3


def test_a_bucket_seen_empty_is_refused_without_a_write(aws, writes):
    clock = Clock()
    limiter = RateLimiter(aws.table, 2, clock)
    limiter.acquire("u")
    limiter.acquire("u")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.acquire("u")
    assert writes == ["update_item"] * 2  # the refusals came from memory
    clock.now += 30  # one token back (2 a minute)
    limiter.acquire("u")
    assert len(writes) == 3
