"""gistgate/tokens/claims.py: NumericDate claims are real, finite, sane JSON numbers."""

from __future__ import annotations

import pytest

from gistgate.tokens.claims import check_times, is_numeric_date
from gistgate.tokens.errors import InvalidClaim


@pytest.mark.parametrize("value", [0, 1_700_000_000, 1.5, 2**53 - 1])
def test_numbers_are_numeric_dates(value: float) -> None:
    assert is_numeric_date(value)


@pytest.mark.parametrize(
    "value", [True, False, "1700000000", None, float("inf"), float("nan"), 2**53, 10**400, [1]]
)
def test_everything_else_is_not(value: object) -> None:
    assert not is_numeric_date(value)


def test_a_400_digit_exp_is_an_invalid_claim_not_an_overflow() -> None:
    """A signed token with ``exp: 1e400`` as an integer once raised OverflowError."""
    with pytest.raises(InvalidClaim, match="exp is not a number"):
        check_times({"exp": 10**400}, 1_700_000_000, 60, require_exp=True)
