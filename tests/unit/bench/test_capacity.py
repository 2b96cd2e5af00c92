"""The capacity model (bench/capacity.py) keeps to the code it replays: the figures in
docs/scaling.md hold only while these do.

Pure: the model fakes every AWS and GitHub call (bench/capacity_fakes.py) and never
opens a socket. A small sample keeps it fast; the invariants do not depend on its size.
"""

from __future__ import annotations

import math

import pytest

import gistgate.storage.aws
from bench.capacity import (
    LevelResult,
    Workload,
    jwks_fetches,
    lease_effect,
    secret_reads,
    simulate,
)
from bench.capacity_fakes import FakeAws, SimClock, Tally, patched_aws
from gistgate.core.config import Settings
from gistgate.core.secrets import SECRET_MAX_AGE
from gistgate.tokens.jwks import JWKS_TTL

SMALL = Workload(sample_users=40)
SERVICE = Workload(sample_users=40, credentials="service", connected_share=0.0)
LIMIT = Settings().rate_limit_per_minute


@pytest.fixture(scope="module")
def low() -> LevelResult:
    return simulate(10, SMALL)


@pytest.fixture(scope="module")
def high() -> LevelResult:
    return simulate(10_000, SMALL)


def test_every_access_token_issued_is_one_kms_sign(low: LevelResult, high: LevelResult) -> None:
    for result in (low, high):
        assert result.sample["kms sign"] == result.sample["access tokens issued"] > 0


def test_the_level_is_post_mcp_per_second_in_the_busiest_hour(
    low: LevelResult, high: LevelResult
) -> None:
    assert low.per_second["POST /mcp"] == pytest.approx(10)
    assert high.per_second["POST /mcp"] == pytest.approx(10_000)
    # AuthorizerTtl 0: every /mcp request is one authorizer and one MCP invocation.
    assert high.per_second["lambda authorizer"] == pytest.approx(10_000)
    assert high.per_second["lambda mcp"] == pytest.approx(10_000)


def test_one_instance_updates_the_bucket_once_per_lease() -> None:
    effect = lease_effect(1, 30, steady=True)
    assert effect.lease == min(10, LIMIT // 10)  # what build_services configures
    assert effect.refused == 0
    # The lease is earned (1, 2, 4, then the full lease): at most 3 writes more.
    full = math.ceil(effect.calls / effect.lease)
    assert full <= effect.updates <= full + 3


def test_over_many_instances_a_lease_saves_no_write_and_refuses_nothing_early() -> None:
    effect = lease_effect(3_600, 40)  # under the limit of 60 a minute
    assert effect.updates >= effect.calls
    assert effect.refused == 0


def test_the_bucket_never_admits_more_than_it_holds() -> None:
    """A 20 s burst at 100 calls/s on one instance: the fake evaluates the limiter's
    conditional updates as DynamoDB does, so the limit holds (never late)."""
    effect = lease_effect(1, 6_000, minutes=20 / 60, steady=True)
    admitted = effect.calls - effect.refused
    assert LIMIT <= admitted <= LIMIT + 20 * LIMIT / 60 + effect.lease


def test_refused_calls_cost_few_writes() -> None:
    """A flooding caller on 4 instances: each refuses from memory once it saw the bucket
    empty, so refusals do not each cost a conditional update."""
    effect = lease_effect(4, 50 * 60, minutes=1.0)
    assert effect.refused > effect.calls / 2
    assert effect.updates < effect.refused / 5  # was one update per refusal, or more


def test_jwks_fetches_are_bounded_by_instances_times_refresh_windows() -> None:
    clock = SimClock()
    with patched_aws(FakeAws(clock, Tally(clock)), clock):
        fetched = jwks_fetches(Workload(), clock, (20, 20), 50.0, 12)
    windows = 3600 / JWKS_TTL
    assert 20 * (windows - 1) <= fetched <= 20 * (windows + 1)


def test_an_instance_born_in_the_hour_fetches_at_its_cold_start() -> None:
    clock = SimClock()
    with patched_aws(FakeAws(clock, Tally(clock)), clock):
        fetched = jwks_fetches(Workload(), clock, (8, 0), 50.0, 12)
    # Each: the prefetch, then one per TTL of the half hour it lives on average.
    assert 8 <= fetched <= 8 * (1 + 3600 / JWKS_TTL)


def test_secret_reads_are_bounded_by_instances_times_max_age_windows() -> None:
    clock = SimClock()
    reads = secret_reads(Workload(), clock, (30, 30), 5.0, 12)
    windows = 3600 / SECRET_MAX_AGE
    assert 30 * (windows - 1) <= reads <= 30 * (windows + 1)
    assert secret_reads(Workload(), clock, (30, 30), 0.0, 12) == 0


def test_per_instance_caches_stop_helping_as_instances_multiply(
    low: LevelResult, high: LevelResult
) -> None:
    def per_call(result: LevelResult, name: str) -> float:
        return result.sample[name] / result.sample["tool calls"]

    assert per_call(low, "kms decrypt") < per_call(high, "kms decrypt") <= 1
    assert per_call(low, "rate-limit updates") < 1 < per_call(high, "rate-limit updates")
    assert low.limiter.refused_early <= high.limiter.refused_early


def test_the_headline_quotas(low: LevelResult, high: LevelResult) -> None:
    """docs/scaling.md: at 10,000 rps the API Gateway throttle and Lambda's concurrency are
    spent, KMS Sign is not; the service token is spent before 10 rps."""
    assert high.utilization["apigw_rps"] >= 1.0
    assert high.utilization["lambda_concurrency"] > 1.0
    assert high.utilization["kms_ecc"] < 1.0
    assert low.utilization["lambda_concurrency"] < 0.1
    service = simulate(10, SERVICE, "service")
    assert service.utilization["github_service_hour"] > 1.0
    assert service.per_second["kms Decrypt"] == 0  # service mode never opens the vault


def test_the_replay_is_deterministic_and_leaves_the_real_call_in_place() -> None:
    real = gistgate.storage.aws.call
    first, second = simulate(100, SMALL), simulate(100, SMALL)
    assert first.per_second == second.per_second
    assert gistgate.storage.aws.call is real
