"""gistgate/storage/vault.py's in-memory caches, with moto: what a burst of calls costs."""

from __future__ import annotations

from typing import Any

import pytest

from gistgate.storage import vault as vault_module
from gistgate.storage.vault import GitHubGrant, TokenVault


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = vault_module.call

    def counting(service: str, operation: str, **params: Any) -> Any:
        seen.append(f"{service}.{operation}")
        return real(service, operation, **params)

    monkeypatch.setattr(vault_module, "call", counting)
    return seen


@pytest.fixture
def vault(aws: Any) -> TokenVault:
    return TokenVault(aws.table, aws.token_key)


def test_connected_as_is_read_once_per_minute(vault: TokenVault, reads: list[str]) -> None:
    vault.put("github|1", GitHubGrant("gho_x", "octocat", 1))
    vault.forget("github|1")  # a fresh instance: nothing in memory
    reads.clear()
    for _ in range(5):
        status = vault.status("github|1")
        assert status is not None
        assert status.login == "octocat"
    assert reads == ["dynamodb.get_item"]


def test_a_grant_linked_elsewhere_is_seen_on_the_next_call(vault: TokenVault, aws: Any) -> None:
    """A "not connected" answer is never remembered: the user who just linked GitHub in the
    browser (the OAuth function wrote the grant) is served with it at once."""
    assert vault.status("github|3") is None
    assert vault.get("github|3") is None
    TokenVault(aws.table, aws.token_key).put("github|3", GitHubGrant("gho_y", "hubot", 3))
    status = vault.status("github|3")
    assert status is not None
    assert status.login == "hubot"
    grant = vault.get("github|3")
    assert grant is not None
    assert grant.login == "hubot"
