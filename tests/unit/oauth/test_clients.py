"""ClientRegistry: client authentication by the registered method, one answer for every
failure that depends on what is registered, and the operator_registered mark."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest

from gistgate.oauth.clients import AUTH_FAILED, ClientRegistry, validate_registration
from gistgate.oauth.errors import InvalidClient
from gistgate.storage import keys
from gistgate.storage.records import Record, encode

T0 = 1_800_000_000.0


class MemoryStore:
    """The parts of storage.table.Table that ClientRegistry uses, records in a dict."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Record] = {}

    def clock(self) -> float:
        return T0

    def put(self, key: dict[str, str], record: Record, *, ttl: float) -> None:
        self.items[(key["pk"], key["sk"])] = record

    def get(self, key: dict[str, str], kind: type[Record]) -> Record | None:
        record = self.items.get((key["pk"], key["sk"]))
        return record if isinstance(record, kind) else None

    def update(self, key: dict[str, str], kind: type[Record], changes: dict[str, Any], **_) -> None:
        where = (key["pk"], key["sk"])
        self.items[where] = dataclasses.replace(self.items[where], **changes)


@pytest.fixture
def registry() -> ClientRegistry:
    return ClientRegistry(MemoryStore(), 90)  # type: ignore[arg-type]


def _register(registry: ClientRegistry, method: str, *, privileged: bool = False) -> dict:
    metadata = validate_registration(
        {"redirect_uris": ["http://127.0.0.1:1/cb"], "token_endpoint_auth_method": method},
        supported_scopes=("read:gists",),
        default_scopes=("read:gists",),
        privileged=privileged,
        admin_scope="admin:server",
    )
    return registry.register(metadata, operator_registered=privileged)


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _refused(registry: ClientRegistry, form: dict[str, str], authorization: str | None) -> str:
    with pytest.raises(InvalidClient) as caught:
        registry.authenticate(form, authorization)
    return caught.value.description


def test_each_method_authenticates_the_way_it_was_registered(registry):
    basic = _register(registry, "client_secret_basic")
    post = _register(registry, "client_secret_post")
    public = _register(registry, "none")
    assert registry.authenticate({}, _basic(basic["client_id"], basic["client_secret"]))
    assert registry.authenticate(
        {"client_id": basic["client_id"]}, _basic(basic["client_id"], basic["client_secret"])
    )
    form = {"client_id": post["client_id"], "client_secret": post["client_secret"]}
    assert registry.authenticate(form, None).client_id == post["client_id"]
    assert registry.authenticate({"client_id": public["client_id"]}, None).public


def test_a_method_other_than_the_registered_one_is_refused(registry):
    basic = _register(registry, "client_secret_basic")
    post = _register(registry, "client_secret_post")
    public = _register(registry, "none")
    as_post = {"client_id": basic["client_id"], "client_secret": basic["client_secret"]}
    assert _refused(registry, as_post, None) == AUTH_FAILED
    assert _refused(registry, {}, _basic(post["client_id"], post["client_secret"])) == AUTH_FAILED
    assert _refused(registry, {}, _basic(public["client_id"], "")) == AUTH_FAILED
    with_secret = {"client_id": public["client_id"], "client_secret": "anything"}
    assert _refused(registry, with_secret, None) == AUTH_FAILED


def test_unknown_wrong_missing_and_mismatched_give_one_answer(registry):
    basic = _register(registry, "client_secret_basic")
    post = _register(registry, "client_secret_post")
    answers = {
        _refused(registry, {}, _basic("no-such-client", "secret")),
        _refused(registry, {"client_id": "no-such-client", "client_secret": "s"}, None),
        _refused(registry, {"client_id": "no-such-client"}, None),
        _refused(registry, {}, None),
        _refused(registry, {}, _basic(basic["client_id"], "wrong")),
        _refused(registry, {}, _basic(basic["client_id"], "")),
        _refused(registry, {"client_id": basic["client_id"]}, None),
        _refused(registry, {"client_id": post["client_id"], "client_secret": "wrong"}, None),
        _refused(registry, {"client_id": post["client_id"]}, None),
    }
    assert answers == {AUTH_FAILED}


def test_get_keeps_its_specific_message_for_the_browser_flow(registry):
    with pytest.raises(InvalidClient) as caught:
        registry.get("no-such-client")
    assert caught.value.description != AUTH_FAILED


def test_operator_registered_is_stored_and_read_back(registry):
    operator = _register(registry, "client_secret_basic", privileged=True)
    anyone = _register(registry, "client_secret_basic")
    assert "operator_registered" not in operator
    assert registry.get(operator["client_id"]).operator_registered is True
    assert registry.get(anyone["client_id"]).operator_registered is False


def test_every_registered_metadata_field_is_stored_with_the_client():
    """The registration is stored as a ClientRecord: a metadata field the record does not
    declare would be lost, so each one validate_registration returns is checked here."""
    store = MemoryStore()
    metadata = validate_registration(
        {
            "redirect_uris": ["http://127.0.0.1:1/cb"],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "read:gists",
            "client_name": "An app",
            **{f: f"https://app.example/{f}" for f in ("client_uri", "logo_uri", "tos_uri")},
            "policy_uri": "https://app.example/policy",
        },
        supported_scopes=("read:gists",),
        default_scopes=("read:gists",),
        privileged=False,
        admin_scope="admin:server",
    )
    response = ClientRegistry(store, 90).register(metadata)
    (stored,) = store.items.values()
    attributes = encode(stored)
    assert {name: attributes.get(name) for name in metadata} == metadata
    assert attributes["secret_hash"] == keys.digest(response["client_secret"])
    assert attributes["issued_at"] == attributes["renewed_at"] == int(T0)


@pytest.mark.parametrize(
    ("method", "privileged", "enterprise", "problem"),
    [
        ("client_secret_basic", True, True, None),
        ("private_key_jwt", True, True, None),
        ("client_secret_basic", False, True, "initial access token"),
        ("none", True, True, "confidential"),
        ("client_secret_basic", True, False, "EMA_TRUSTED_ISSUERS"),
    ],
)
def test_the_id_jag_grant_is_for_operator_registered_confidential_clients(
    method: str, privileged: bool, enterprise: bool, problem: str | None
) -> None:
    from gistgate.oauth.clients import JWT_BEARER
    from gistgate.oauth.errors import InvalidClientMetadata

    body: dict = {"grant_types": [JWT_BEARER], "token_endpoint_auth_method": method}
    if method == "private_key_jwt":
        body["jwks_uri"] = "https://client.example/jwks"

    def validate() -> dict:
        return validate_registration(
            body,
            supported_scopes=("read:gists",),
            default_scopes=("read:gists",),
            privileged=privileged,
            admin_scope="admin:server",
            enterprise=enterprise,
        )

    if problem is None:
        metadata = validate()
        assert metadata["grant_types"] == [JWT_BEARER]
        assert metadata["redirect_uris"] == []
    else:
        with pytest.raises(InvalidClientMetadata, match=problem):
            validate()
