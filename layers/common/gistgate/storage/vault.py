"""The token vault: each user's GitHub token, envelope-encrypted under KMS.

Item ``USER#<sub>`` / ``GITHUB`` (STORAGE.md). A fresh AES-256 data key from
KMS ``GenerateDataKey`` encrypts the grant with AES-GCM; the table keeps only
the KMS-encrypted data key, the nonce and the ciphertext. The encryption
context ``{"sub": <sub>, "purpose": "github-token"}`` is bound twice: KMS will
not release the data key under any other context, and the same context is the
AES-GCM associated data. A ciphertext copied into another user's item
therefore never decrypts.

The OAuth function writes grants through :meth:`TokenVault.put`; the MCP
function reads them. Decrypted grants (and whoami's "connected as") are kept in
memory for a minute, so a burst of tool calls costs one DynamoDB read and one
KMS call. "Not connected" is not remembered: the user who just linked an
account in the browser (another function wrote it) is served with it on the
very next call, for the price of one small read.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, NamedTuple, Protocol

from gistgate.core.cache import ExpiringMap
from gistgate.storage import keys
from gistgate.storage.aws import AwsCallFailed, call
from gistgate.storage.errors import StorageUnavailable, failure

__all__ = [
    "CACHE_SECONDS",
    "PURPOSE",
    "GitHubGrant",
    "GrantStatus",
    "GrantUndecryptable",
    "GrantWriter",
    "TokenVault",
    "encryption_context",
]

PURPOSE = "github-token"
CACHE_SECONDS = 60.0
_SCHEMA = 1


class GrantUndecryptable(Exception):
    """The stored grant does not decrypt for this subject (tampered or moved)."""


class GitHubGrant(NamedTuple):
    """A user's GitHub authorization. ``repr`` never shows the tokens."""

    access_token: str
    login: str
    github_id: int
    scopes: str = ""
    refresh_token: str | None = None
    expires_at: int | None = None

    def __repr__(self) -> str:
        return f"GitHubGrant(login={self.login!r}, github_id={self.github_id}, token=***)"

    def expired(self, now: float | None = None) -> bool:
        """True when GitHub has said the access token expires and that time has passed."""
        return self.expires_at is not None and self.expires_at <= (now or time.time())


class GrantStatus(NamedTuple):
    """What can be said about a grant without decrypting it."""

    login: str
    github_id: int
    updated_at: int


class GrantWriter(Protocol):
    """Where the OAuth function's flows keep a user's new grant (:class:`TokenVault`)."""

    def put(self, sub: str, grant: GitHubGrant) -> None:
        """Store ``grant`` for ``sub``, replacing any previous one."""
        ...


def encryption_context(sub: str) -> dict[str, str]:
    """The KMS encryption context (and AES-GCM associated data) of ``sub``'s grant."""
    return {"sub": sub, "purpose": PURPOSE}


def _aad(sub: str) -> bytes:
    return json.dumps(encryption_context(sub), sort_keys=True, separators=(",", ":")).encode()


class TokenVault:
    """Read, write and delete users' GitHub grants."""

    def __init__(self, table_name: str | None, kms_key_id: str | None) -> None:
        self._table = table_name
        self._key = kms_key_id
        self._cache: ExpiringMap[str, GitHubGrant] = ExpiringMap(max_entries=512)
        self._status: ExpiringMap[str, GrantStatus] = ExpiringMap(max_entries=2048)

    @property
    def configured(self) -> bool:
        """Whether a table and a KMS key are set."""
        return bool(self._table and self._key)

    def _require(self) -> tuple[str, str]:
        if not (self._table and self._key):
            raise StorageUnavailable("the token vault needs TABLE_NAME and GISTGATE_KMS_KEY_ID")
        return self._table, self._key

    def _call(self, service: str, operation: str, **params: Any) -> Any:
        try:
            return call(service, operation, **params)
        except AwsCallFailed as exc:
            if exc.code == "InvalidCiphertextException":
                raise GrantUndecryptable(
                    "the stored grant does not decrypt for this user"
                ) from None
            raise failure(exc) from None

    def status(self, sub: str) -> GrantStatus | None:
        """The linked GitHub account (no decryption), or None."""
        cached = self._cache.get(sub)
        if cached is not None:
            return GrantStatus(cached.login, cached.github_id, 0)
        known = self._status.get(sub)
        if known is not None:
            return known
        item = self._item(sub, ("login", "github_id", "updated_at"))
        if item is None:
            return None
        status = GrantStatus(
            item["login"]["S"], int(item["github_id"]["N"]), int(item["updated_at"]["N"])
        )
        self._status.put(sub, status, time.time() + CACHE_SECONDS)
        return status

    def _item(self, sub: str, attributes: tuple[str, ...] | None = None) -> dict[str, Any] | None:
        table, _ = self._require()
        params: dict[str, Any] = {
            "TableName": table,
            "Key": {k: {"S": v} for k, v in keys.github_grant(sub).items()},
            "ConsistentRead": True,
        }
        if attributes:
            params["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
            params["ExpressionAttributeNames"] = {f"#a{i}": a for i, a in enumerate(attributes)}
        item: dict[str, Any] | None = self._call("dynamodb", "get_item", **params).get("Item")
        return item

    def get(self, sub: str) -> GitHubGrant | None:
        """The decrypted grant, or None if the user has not connected GitHub."""
        cached = self._cache.get(sub)
        if cached is not None:
            return cached
        item = self._item(sub)
        if item is None:
            return None
        if int(item.get("v", {}).get("N", "0")) != _SCHEMA:
            raise GrantUndecryptable("the stored grant has an unknown format")
        data_key = self._call(
            "kms",
            "decrypt",
            CiphertextBlob=item["edk"]["B"],
            EncryptionContext=encryption_context(sub),
            KeyId=self._require()[1],
        )["Plaintext"]
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            plain = AESGCM(data_key).decrypt(item["nonce"]["B"], item["ct"]["B"], _aad(sub))
        except InvalidTag:
            raise GrantUndecryptable("the stored grant does not decrypt for this user") from None
        grant = GitHubGrant(**json.loads(plain))
        self._cache.put(sub, grant, time.time() + CACHE_SECONDS)
        return grant

    def put(self, sub: str, grant: GitHubGrant) -> None:
        """Encrypt and store ``grant`` for ``sub``, replacing any previous one."""
        table, key_id = self._require()
        data_key = self._call(
            "kms",
            "generate_data_key",
            KeyId=key_id,
            KeySpec="AES_256",
            EncryptionContext=encryption_context(sub),
        )
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        payload = json.dumps(grant._asdict(), separators=(",", ":")).encode()
        ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, payload, _aad(sub))
        item: dict[str, dict[str, Any]] = {k: {"S": v} for k, v in keys.github_grant(sub).items()}
        item.update(
            v={"N": str(_SCHEMA)},
            edk={"B": data_key["CiphertextBlob"]},
            nonce={"B": nonce},
            ct={"B": ciphertext},
            login={"S": grant.login},
            github_id={"N": str(grant.github_id)},
            updated_at={"N": str(int(time.time()))},
        )
        self._call("dynamodb", "put_item", TableName=table, Item=item)
        self._status.pop(sub)
        self._cache.put(sub, grant, time.time() + CACHE_SECONDS)

    def delete(self, sub: str) -> bool:
        """Remove ``sub``'s grant; True if there was one."""
        table, _ = self._require()
        self.forget(sub)
        result = self._call(
            "dynamodb",
            "delete_item",
            TableName=table,
            Key={k: {"S": v} for k, v in keys.github_grant(sub).items()},
            ReturnValues="ALL_OLD",
        )
        return bool(result.get("Attributes"))

    def forget(self, sub: str) -> None:
        """Drop the in-memory copies (after GitHub rejected the grant, or on delete)."""
        self._cache.pop(sub)
        self._status.pop(sub)
