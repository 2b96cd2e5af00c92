"""Create the template's stateful resources (table, KMS keys, secrets) in moto.

The local stack and the tests provision from ``template.yaml`` itself, so a
key schema or TTL change in the template is what they run against, with no
hand-kept copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from secrets import token_urlsafe
from typing import Any, Protocol

TABLE = "AWS::DynamoDB::Table"
KMS_KEY = "AWS::KMS::Key"
SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type


class Clients(Protocol):
    """Makes AWS clients: a boto3 ``Session``, or one bound to a local endpoint."""

    def client(self, service: str) -> Any: ...


def _resources(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource.get("Properties") or {}
        for name, resource in template["Resources"].items()
        if resource.get("Type") == kind
    }


def provision(
    template: Mapping[str, Any], session: Clients, prefix: str = "gistgate"
) -> dict[str, str]:
    """Create every table, KMS key and secret; return logical id -> physical id."""
    physical: dict[str, str] = {}
    dynamodb = session.client("dynamodb")
    for name, props in _resources(template, TABLE).items():
        table = f"{prefix}-{name}"
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        physical[name] = table
    kms = session.client("kms")
    for name, props in _resources(template, KMS_KEY).items():
        key = kms.create_key(
            Description=str(props.get("Description", name)),
            KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
        )
        physical[name] = key["KeyMetadata"]["KeyId"]
    secrets = session.client("secretsmanager")
    for name, props in _resources(template, SECRET).items():
        value = props.get("SecretString")
        if not isinstance(value, str):
            # GenerateSecretString (a key the stack makes for itself): a fresh random value,
            # as Secrets Manager would generate one.
            value = token_urlsafe(48) if "GenerateSecretString" in props else "{}"
        secret = secrets.create_secret(Name=f"{prefix}-{name}", SecretString=value)
        physical[name] = secret["ARN"]
    return physical


def provision_from_file(path: Path, session: Clients, prefix: str = "gistgate") -> dict[str, str]:
    """:func:`provision` for a template file."""
    from gistgate_dev.local.template import load_template

    return provision(load_template(path), session, prefix)
