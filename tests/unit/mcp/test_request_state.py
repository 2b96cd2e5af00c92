"""gistgate/mcp/request_state.py: the requestState key is configured, long enough, shared."""

from __future__ import annotations

import pytest
from mcp.server.request_state import InvalidRequestState

from gistgate.core.config import load_settings
from gistgate.mcp.request_state import KeyUnavailable, request_state_security

KEY = "k" * 48


def codec(**env: str):
    return request_state_security(load_settings(env)).codec


def test_two_instances_with_the_same_key_open_each_others_state() -> None:
    sealed = codec(REQUEST_STATE_SECRET=KEY).seal(b'{"rounds": 1}')
    assert codec(REQUEST_STATE_SECRET=KEY).unseal(sealed) == b'{"rounds": 1}'
    assert b"rounds" not in sealed.encode()


def test_another_key_cannot_open_it() -> None:
    sealed = codec(REQUEST_STATE_SECRET=KEY).seal(b"state")
    with pytest.raises(InvalidRequestState):
        codec(REQUEST_STATE_SECRET="z" * 48).unseal(sealed)


@pytest.mark.parametrize("env", [{}, {"REQUEST_STATE_SECRET": "short"}])
def test_without_a_usable_key_nothing_is_sealed(env: dict[str, str]) -> None:
    with pytest.raises(KeyUnavailable):
        codec(**env).seal(b"state")


def test_the_key_never_shows_in_the_settings_repr() -> None:
    assert KEY not in repr(load_settings({"REQUEST_STATE_SECRET": KEY}))
