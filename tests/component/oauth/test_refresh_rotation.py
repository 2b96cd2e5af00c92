"""Refresh tokens that survive a lost response (gistgate/oauth/grants.py), with moto.

The rule: the previous refresh token stays valid until its successor is first used; then
it dies, and presenting it revokes the family. Families slide up to an absolute lifetime.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gistgate.oauth import pkce
from gistgate.oauth.errors import InvalidGrant
from gistgate.oauth.grants import MAX_SPARE_SUCCESSORS, Grant, Grants
from gistgate.storage.table import Table
from tests.fixtures.clock import FakeClock

ISSUER = "https://as.example"
REDIRECT = "https://app.example/cb"
GRANT = Grant("github|1", "client-1", "read:gists write:gists", ISSUER + "/mcp")
DAY = 86400


class Signer:
    """Access tokens are not what these tests are about: any unique string."""

    def __init__(self) -> None:
        self.signed = 0

    def sign(self, claims: Any) -> str:
        self.signed += 1
        return "access-" + claims["jti"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=1_800_000_000)


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def grants(aws: Any, clock: FakeClock, signer: Signer) -> Grants:
    return Grants(
        Table(aws.table, clock=clock),
        signer,
        access_ttl=3600,
        refresh_ttl=30 * DAY,
        refresh_max_lifetime=90 * DAY,
    )


def sign_in(grants: Grants) -> str:
    """A code flow's refresh token, as /oauth/token hands it out."""
    verifier, challenge = pkce.new_pair()
    code = grants.new_code(GRANT, REDIRECT, challenge)
    issued = grants.redeem_code(code, "client-1", REDIRECT, verifier, None, ISSUER, True)
    assert issued.refresh_token
    return issued.refresh_token


def refresh(grants: Grants, token: str) -> str:
    issued = grants.refresh(token, "client-1", None, None, ISSUER)
    assert issued.refresh_token
    return issued.refresh_token


def refused(grants: Grants, token: str) -> bool:
    try:
        grants.refresh(token, "client-1", None, None, ISSUER)
    except InvalidGrant:
        return True
    return False


def test_a_lost_response_then_a_retry_with_the_old_token_works(grants: Grants) -> None:
    first = sign_in(grants)
    lost = refresh(grants, first)  # the client never received this answer

    retried = refresh(grants, first)  # ... and retries with the token it had

    assert retried != lost
    assert not refused(grants, refresh(grants, retried))  # the family lives on


def test_the_old_token_stays_valid_however_long_until_its_successor_is_used(
    grants: Grants, clock: FakeClock
) -> None:
    first = sign_in(grants)
    refresh(grants, first)
    clock.now += 7 * DAY  # no grace window: only the successor's use ends it
    assert not refused(grants, first)


def test_a_replay_after_the_successor_was_used_revokes_the_family(grants: Grants) -> None:
    first = sign_in(grants)
    second = refresh(grants, first)
    third = refresh(grants, second)  # the successor's first use: `first` dies

    assert refused(grants, first)
    assert refused(grants, third)  # the whole family, the newest token included


def test_a_never_issued_token_of_a_family_revokes_it(grants: Grants) -> None:
    first = sign_in(grants)
    forged = first.split(".")[0] + ".not-a-token-we-issued"
    assert refused(grants, forged)
    assert refused(grants, first)


def test_concurrent_refreshes_with_one_token_both_succeed_and_leave_one_family(
    grants: Grants, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sign_in(grants)
    # Both requests read the family before either writes: the race, made certain.
    barrier = threading.Barrier(2, timeout=10)
    real_sign = signer.sign

    def racing_sign(claims: Any) -> str:
        if signer.signed < 3:  # the two racing refreshes' first attempts
            barrier.wait()
        return real_sign(claims)

    monkeypatch.setattr(signer, "sign", racing_sign)
    answers: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            answers.append(refresh(grants, first))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(answers)) == 2
    # One family, still live: the token the client keeps (either answer) works, once used
    # the other dies with the previous one.
    kept, other = answers
    assert not refused(grants, refresh(grants, kept))
    assert refused(grants, other)


def test_a_previous_token_cannot_mint_successors_without_bound(grants: Grants) -> None:
    first = sign_in(grants)
    for _ in range(MAX_SPARE_SUCCESSORS + 1):
        refresh(grants, first)
    assert refused(grants, first)


def test_refresh_slides_the_idle_lifetime_up_to_the_absolute_one(
    grants: Grants, clock: FakeClock
) -> None:
    token = sign_in(grants)
    for _ in range(3):  # 3 x 29 days: each refresh renews the 30-day idle lifetime
        clock.now += 29 * DAY
        token = refresh(grants, token)
    clock.now += 4 * DAY  # 91 days after the sign-in, 4 after the last refresh
    assert refused(grants, token)


def test_an_idle_family_expires(grants: Grants, clock: FakeClock) -> None:
    token = sign_in(grants)
    clock.now += 31 * DAY
    assert refused(grants, token)
