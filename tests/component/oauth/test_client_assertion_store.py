"""The DynamoDB jti store of gistgate/oauth/client_assertion.py on moto (provisioned from
template.yaml): a client assertion's jti is spent once with one conditional put, per
client, for as long as the assertion could be accepted, and a table that does not answer
is an error, never a pass. The assertion rules are tests/unit/oauth/test_client_assertion.py."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWS
from jwt.algorithms import RSAAlgorithm

from gistgate.oauth.client_assertion import (
    CLIENT_ASSERTION_TYPE,
    AssertionRejected,
    ClientAssertionVerifier,
    JtiRecord,
    TableJtiStore,
    jti_key,
)
from gistgate.oauth.client_keys import ClientKeyResolver
from gistgate.storage.aws import AwsCallFailed
from gistgate.storage.errors import StorageUnavailable
from gistgate.storage.table import Table
from tests.fixtures.clock import FakeClock

CLIENT = "https://chatgpt.example.com/oauth/client.json"
TOKEN_ENDPOINT = "https://as.example.com/oauth/token"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(float(int(time.time())))


@pytest.fixture
def table(aws, clock) -> Table:
    return Table(aws.table, clock=clock)


@pytest.fixture
def store(table) -> TableJtiStore:
    return TableJtiStore(table)


def stored(aws, client_id: str, jti: str) -> dict[str, Any] | None:
    """The raw item, read past the adapter (expired or not)."""
    from boto3.dynamodb.types import TypeDeserializer

    key = {name: {"S": value} for name, value in jti_key(client_id, jti).items()}
    item = aws.client("dynamodb").get_item(TableName=aws.table, Key=key).get("Item")
    if item is None:
        return None
    return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


def test_a_jti_is_spent_once(store, clock):
    until = clock() + 90

    assert store.use_once(CLIENT, "jti-1", until=until) is True
    assert store.use_once(CLIENT, "jti-1", until=until) is False
    assert store.use_once(CLIENT, "jti-1", until=until + 300) is False


def test_jtis_are_per_client(store, clock):
    assert store.use_once(CLIENT, "same", until=clock() + 90) is True
    assert store.use_once("https://other.example/client.json", "same", until=clock() + 90) is True


def test_the_item_holds_a_hash_and_lives_past_until(aws, table, store, clock):
    until = clock() + 90
    store.use_once(CLIENT, "secret-jti-value", until=until)

    item = stored(aws, CLIENT, "secret-jti-value")
    assert item is not None
    assert item["pk"].startswith("JTI#")
    assert "secret-jti-value" not in json.dumps(item, default=str)
    assert until < int(item["expires_at"]) <= until + 2  # whole seconds, never early
    assert table.get(jti_key(CLIENT, "secret-jti-value"), JtiRecord) == JtiRecord(CLIENT)


def test_after_it_expires_the_jti_is_free_again(store, clock):
    """By then the assertion itself is expired, so this is no replay window."""
    until = clock() + 90
    store.use_once(CLIENT, "jti-1", until=until)

    clock.advance(90)
    assert store.use_once(CLIENT, "jti-1", until=clock() + 90) is False  # the extra second
    clock.advance(2)
    assert store.use_once(CLIENT, "jti-1", until=clock() + 90) is True


def test_a_table_that_does_not_answer_is_an_error_not_a_pass(monkeypatch, store, clock):
    def throttled(service: str, operation: str, **params: Any) -> Any:
        raise AwsCallFailed(service, operation, "ProvisionedThroughputExceededException", {})

    monkeypatch.setattr("gistgate.storage.table.call", throttled)

    with pytest.raises(StorageUnavailable):
        store.use_once(CLIENT, "jti-1", until=clock() + 90)


def test_an_unconfigured_table_is_an_error_not_a_pass(clock):
    with pytest.raises(StorageUnavailable):
        TableJtiStore(Table(None, clock=clock)).use_once(CLIENT, "jti-1", until=clock() + 90)


# --- through the verifier: two function instances share the table ------------------------


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign(private_key: rsa.RSAPrivateKey, now: float, jti: str) -> str:
    claims = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": [TOKEN_ENDPOINT],
        "iat": int(now),
        "exp": int(now) + 60,
        "jti": jti,
    }
    return PyJWS().encode(
        json.dumps(claims).encode(), private_key, algorithm="RS256", headers={"kid": "k1"}
    )


def test_a_replay_to_another_instance_is_refused(table, clock, private_key):
    jwks = {"keys": [{**RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True), "kid": "k1"}]}
    instances = [
        ClientAssertionVerifier(ClientKeyResolver(clock=clock), TableJtiStore(table), clock=clock)
        for _ in range(2)
    ]
    assertion = sign(private_key, clock(), uuid.uuid4().hex)

    def verify(instance: ClientAssertionVerifier) -> Any:
        return instance.verify(
            CLIENT_ASSERTION_TYPE,
            assertion,
            client_id=CLIENT,
            audiences=[TOKEN_ENDPOINT],
            jwks=jwks,
        )

    assert verify(instances[0]).client_id == CLIENT
    with pytest.raises(AssertionRejected) as info:
        verify(instances[1])
    assert info.value.reason == "replayed"


def test_a_storage_outage_during_verification_propagates(monkeypatch, table, clock, private_key):
    jwks = {"keys": [{**RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True), "kid": "k1"}]}
    verifier = ClientAssertionVerifier(
        ClientKeyResolver(clock=clock), TableJtiStore(table), clock=clock
    )

    def down(service: str, operation: str, **params: Any) -> Any:
        raise AwsCallFailed(service, operation, "InternalServerError", {})

    monkeypatch.setattr("gistgate.storage.table.call", down)
    with pytest.raises(StorageUnavailable):
        verifier.verify(
            CLIENT_ASSERTION_TYPE,
            sign(private_key, clock(), "jti-x"),
            client_id=CLIENT,
            audiences=[TOKEN_ENDPOINT],
            jwks=jwks,
        )
