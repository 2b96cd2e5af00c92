"""OAuth clients: RFC 7591 registration, lookup and authentication.

A client is either registered here (DCR: a random id, stored in the table
with a TTL that each use renews) or a Client ID Metadata Document (its id is
an https URL we fetch). Confidential clients get a secret that is shown once
and stored only as its SHA-256. Registration is open, so what an anonymous
registrant may ask for is limited: ``client_credentials`` and the admin scope
need the operator's initial access token (RFC 7591 §3).

Error messages are fixed text: they never echo what the request sent. At the
token and revocation endpoints every client-authentication failure that depends
on what is registered gives the same answer, so it cannot tell whether a
client_id exists.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote

from gistgate.core.observability import logger
from gistgate.oauth import scopes
from gistgate.oauth.cimd import CimdFetcher, is_cimd_client_id
from gistgate.oauth.errors import (
    InvalidClient,
    InvalidClientMetadata,
    InvalidRedirectUri,
)
from gistgate.oauth.key_metadata import (
    PRIVATE_KEY_JWT,
    KeyMetadata,
    key_metadata,
)
from gistgate.oauth.names import client_name_problem
from gistgate.oauth.redirects import (
    APPLICATION_TYPES,
    ApplicationType,
    infer_application_type,
    redirect_uri_problem,
)
from gistgate.storage import keys
from gistgate.storage.records import Record
from gistgate.storage.table import Table

if TYPE_CHECKING:
    from gistgate.oauth.client_assertion import ClientAssertionVerifier

__all__ = [
    "AUTH_FAILED",
    "AUTH_METHODS",
    "JWT_BEARER",
    "OPERATOR_GRANTS",
    "Client",
    "ClientRecord",
    "ClientRegistry",
    "validate_registration",
]

PUBLIC = "none"
AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic", PRIVATE_KEY_JWT)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # the ID-JAG grant
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", JWT_BEARER)
# Grants only a confidential client the operator registered may have.
OPERATOR_GRANTS = ("client_credentials", JWT_BEARER)
PUBLIC_GRANT_TYPES = ("authorization_code", "refresh_token")
SECRET_METHODS = ("client_secret_post", "client_secret_basic")
RENEW_AFTER = 86400  # renew a registration's TTL at most once a day
MAX_REDIRECT_URIS = 10
# The one invalid_client description for an unknown client, a wrong or missing
# secret and a method other than the registered one (no client-id enumeration).
AUTH_FAILED = "client authentication failed"


class Client(NamedTuple):
    """What the authorization server needs to know about a client."""

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    auth_method: str
    grant_types: tuple[str, ...]
    scope: tuple[str, ...]
    secret_hash: str | None = None
    metadata_document: bool = False
    # Registered with the operator's initial access token (never a CIMD client):
    # the operator vouched for its redirect URIs.
    operator_registered: bool = False
    # A private_key_jwt client's public keys (by URI or by value) and pinned algorithm.
    keys: KeyMetadata = KeyMetadata()

    @property
    def public(self) -> bool:
        return self.auth_method == PUBLIC


@dataclass(frozen=True)
class ClientRecord(Record):
    """``CLIENT#<client_id>``: a registration (DCR). The RFC 7591 metadata as registered,
    the secret's SHA-256 (confidential clients only), whether the operator's initial access
    token vouched for it, when it was issued and last renewed. The defaults are what a
    registration stored before the attribute existed would mean."""

    token_endpoint_auth_method: str
    client_name: str = ""
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()
    response_types: tuple[str, ...] = ()
    scope: str | None = None
    client_uri: str | None = None
    logo_uri: str | None = None
    tos_uri: str | None = None
    policy_uri: str | None = None
    secret_hash: str | None = None
    operator_registered: bool = False
    issued_at: int = 0
    renewed_at: int = 0
    # Said at registration, or inferred from the redirect URIs (None: registered before
    # the attribute existed, when every redirect URI was https or loopback http).
    application_type: str | None = None
    # private_key_jwt only: the keys (the JWK Set as JSON text) and the pinned algorithm.
    jwks_uri: str | None = None
    jwks: str | None = None
    token_endpoint_auth_signing_alg: str | None = None


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadata(f"{field} must be an array of strings")
    return tuple(value)


def validate_registration(
    body: Any,
    *,
    supported_scopes: tuple[str, ...],
    default_scopes: tuple[str, ...],
    privileged: bool,
    admin_scope: str,
    allow_loopback: bool = False,
    enterprise: bool = False,
) -> dict[str, Any]:
    """The registered metadata, normalised; RFC 7591 errors for anything unacceptable.

    ``allow_loopback`` (dev mode): a ``jwks_uri`` may be plain http on a loopback host.
    ``enterprise``: the server trusts an enterprise IdP, so the ID-JAG grant may be asked.
    """
    if not isinstance(body, dict):
        raise InvalidClientMetadata("the registration request must be a JSON object")
    grant_types = _strings(body.get("grant_types", ["authorization_code"]), "grant_types")
    for grant in grant_types:
        if grant not in GRANT_TYPES:
            raise InvalidClientMetadata(f"grant_types may only list {', '.join(GRANT_TYPES)}")
    response_types = _strings(body.get("response_types", ["code"]), "response_types")
    if any(r != "code" for r in response_types):
        raise InvalidClientMetadata("only the response type 'code' is supported")
    method = body.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise InvalidClientMetadata(
            f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}"
        )
    declared = body.get("application_type")
    if declared is not None and declared not in APPLICATION_TYPES:
        raise InvalidClientMetadata("application_type must be web or native")
    redirect_uris: tuple[str, ...] = ()
    if "authorization_code" in grant_types:
        redirect_uris = _strings(body.get("redirect_uris"), "redirect_uris")
        if not redirect_uris or len(redirect_uris) > MAX_REDIRECT_URIS:
            raise InvalidRedirectUri(f"redirect_uris must list 1 to {MAX_REDIRECT_URIS} URIs")
    # Not said: what the redirect URIs imply (OIDC Registration's default is web, but MCP
    # clients are mostly native apps that omit it), and that type's rule then applies.
    application_type: ApplicationType = declared or infer_application_type(redirect_uris)
    if redirect_uris:
        for index, uri in enumerate(redirect_uris):
            problem = redirect_uri_problem(uri, application_type)
            if problem:
                # The index and our own fixed reason, never the URI itself.
                raise InvalidRedirectUri(f"redirect_uris[{index}] {problem}")
    keys = key_metadata(body, method, allow_loopback=allow_loopback)
    if JWT_BEARER in grant_types and not enterprise:
        raise InvalidClientMetadata(
            "the jwt-bearer grant needs an enterprise IdP this server trusts (EMA_TRUSTED_ISSUERS)"
        )
    for grant in OPERATOR_GRANTS:
        if grant not in grant_types:
            continue
        name = "client_credentials" if grant == "client_credentials" else "jwt-bearer"
        if method == PUBLIC:
            raise InvalidClientMetadata(f"{name} needs a confidential client")
        if not privileged:
            raise InvalidClientMetadata(
                f"{name} clients are registered with the operator's initial "
                "access token (Authorization: Bearer <token>)"
            )
    requested = scopes.parse(body.get("scope")) if isinstance(body.get("scope"), str) else ()
    if body.get("scope") is not None and not isinstance(body.get("scope"), str):
        raise InvalidClientMetadata("scope must be a space-separated string")
    if any(scope not in supported_scopes for scope in requested):
        raise InvalidClientMetadata("scope lists a scope this server does not support")
    if admin_scope in requested and not privileged:
        raise InvalidClientMetadata("the admin scope needs the operator's initial access token")
    name = body.get("client_name", "")
    if name != "" and client_name_problem(name):
        raise InvalidClientMetadata("client_name must be printable text of at most 200 characters")
    extras: dict[str, Any] = {}
    for field in ("client_uri", "logo_uri", "tos_uri", "policy_uri"):
        value = body.get(field)
        if value is None:
            continue
        if not isinstance(value, str) or not value.startswith("https://") or len(value) > 2000:
            raise InvalidClientMetadata(f"{field} must be an https URL")
        extras[field] = value
    return {
        "client_name": name,
        "redirect_uris": list(redirect_uris),
        "token_endpoint_auth_method": method,
        "grant_types": list(grant_types),
        "response_types": ["code"] if redirect_uris else [],
        "scope": scopes.join(requested or default_scopes),
        "application_type": application_type,
        **extras,
        **_key_fields(keys),
    }


def _key_fields(keys: KeyMetadata) -> dict[str, Any]:
    """The key metadata as the registration response shows it (RFC 7591 §3.2.1)."""
    fields: dict[str, Any] = {
        "jwks_uri": keys.jwks_uri,
        "jwks": keys.jwks_document(),
        "token_endpoint_auth_signing_alg": keys.signing_alg,
    }
    return {name: value for name, value in fields.items() if value is not None}


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, secret) from an RFC 6749 §2.3.1 Basic header, or None."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidClient("the Basic credentials are not valid base64") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("the Basic credentials have no ':'")
    return unquote(client_id), unquote(secret)


class ClientRegistry:
    """Registered clients in the table, plus CIMD clients fetched on demand."""

    def __init__(
        self,
        store: Table,
        ttl_days: int,
        cimd: CimdFetcher | None = None,
        *,
        dev: bool = False,
        assertions: ClientAssertionVerifier | None = None,
    ) -> None:
        self._dev = dev
        self._assertions = assertions
        self._store = store
        self._ttl = ttl_days * 86400
        self._cimd = cimd

    def register(
        self, metadata: dict[str, Any], *, operator_registered: bool = False
    ) -> dict[str, Any]:
        """Table a new client; the response (with its secret, shown only now).

        ``operator_registered``: the request carried the operator's initial access
        token. Stored, not returned: it is our trust in the client, not its metadata.
        """
        client_id = secrets.token_urlsafe(16)
        method = metadata["token_endpoint_auth_method"]
        secret = secrets.token_urlsafe(32) if method in SECRET_METHODS else None
        issued = int(self._store.clock())
        self._store.put(
            keys.oauth_client(client_id),
            ClientRecord(
                token_endpoint_auth_method=metadata["token_endpoint_auth_method"],
                client_name=metadata["client_name"],
                redirect_uris=tuple(metadata["redirect_uris"]),
                grant_types=tuple(metadata["grant_types"]),
                response_types=tuple(metadata["response_types"]),
                scope=metadata["scope"],
                client_uri=metadata.get("client_uri"),
                logo_uri=metadata.get("logo_uri"),
                tos_uri=metadata.get("tos_uri"),
                policy_uri=metadata.get("policy_uri"),
                application_type=metadata.get("application_type"),
                jwks_uri=metadata.get("jwks_uri"),
                jwks=json.dumps(metadata["jwks"], separators=(",", ":"))
                if "jwks" in metadata
                else None,
                token_endpoint_auth_signing_alg=metadata.get("token_endpoint_auth_signing_alg"),
                secret_hash=keys.digest(secret) if secret else None,
                operator_registered=operator_registered,
                issued_at=issued,
                renewed_at=issued,
            ),
            ttl=self._ttl,
        )
        response = {"client_id": client_id, "client_id_issued_at": issued, **metadata}
        if secret:
            response["client_secret"] = secret
            response["client_secret_expires_at"] = 0
        return response

    def get(self, client_id: str | None) -> Client:
        """The client, or :class:`InvalidClient`. A registration in use is renewed."""
        if not client_id or len(client_id) > 2000:
            raise InvalidClient("client_id is missing")
        if self._cimd is not None and is_cimd_client_id(client_id, allow_http_loopback=self._dev):
            return self._from_document(self._cimd, client_id)
        record = self._store.get(keys.oauth_client(client_id), ClientRecord)
        if record is None:
            raise InvalidClient("unknown or expired client_id; register again")
        now = self._store.clock()
        if now - record.renewed_at > RENEW_AFTER:
            self._store.update(
                keys.oauth_client(client_id),
                ClientRecord,
                {"renewed_at": int(now)},
                ttl=self._ttl,
            )
        return Client(
            client_id=client_id,
            client_name=record.client_name,
            redirect_uris=record.redirect_uris,
            auth_method=record.token_endpoint_auth_method,
            grant_types=record.grant_types,
            scope=scopes.parse(record.scope),
            secret_hash=record.secret_hash,
            operator_registered=record.operator_registered,
            keys=KeyMetadata(record.jwks_uri, record.jwks, record.token_endpoint_auth_signing_alg),
        )

    def _from_document(self, cimd: CimdFetcher, client_id: str) -> Client:
        from gistgate.oauth.cimd import CimdError

        try:
            doc = cimd.get(client_id)
        except CimdError as exc:
            raise InvalidClient(f"client metadata document rejected: {exc}") from None
        return Client(
            client_id=client_id,
            client_name=doc.client_name,
            redirect_uris=tuple(doc.redirect_uris),
            # none or private_key_jwt: parse_document refuses shared secrets.
            auth_method=doc.token_endpoint_auth_method,
            # What the document declares, of what a client nobody vetted may use here.
            grant_types=tuple(g for g in doc.grant_types if g in PUBLIC_GRANT_TYPES),
            scope=scopes.parse(doc.scope),
            metadata_document=True,
            keys=doc.keys,
        )

    def authenticate(
        self, form: Mapping[str, str], authorization: str | None, base: str | None = None
    ) -> Client:
        """The client making a token or revocation request (RFC 6749 §2.3).

        The client must use the method it registered: HTTP Basic for
        ``client_secret_basic``, ``client_id`` and ``client_secret`` in the form for
        ``client_secret_post``, a signed ``client_assertion`` for ``private_key_jwt``
        (RFC 7523; its audience is our token endpoint or issuer, under ``base``), only
        ``client_id`` for a public client. Mistakes in the request's shape are named;
        anything that depends on what is registered (an unknown or expired client_id,
        a CIMD document that does not load, a wrong or missing secret or signature,
        another method) is the one :data:`AUTH_FAILED`, so the answer does not reveal
        whether a client exists. The real reason goes to the log.
        """
        basic = basic_credentials(authorization)
        form_id, form_secret = form.get("client_id"), form.get("client_secret")
        if "client_assertion" in form or "client_assertion_type" in form:
            if basic or form_secret:
                raise InvalidClient("use one client authentication method, not two")
            return self._by_assertion(form, base)
        if basic and form_secret:
            raise InvalidClient("use one client authentication method, not two")
        if basic and form_id and form_id != basic[0]:
            raise InvalidClient("client_id does not match the Basic credentials")
        client_id: str | None
        secret: str | None
        if basic:
            (client_id, secret), method = basic, "client_secret_basic"
        else:
            client_id, secret = form_id, form_secret
            method = "client_secret_post" if form_secret else PUBLIC
        client = self._known(client_id)
        if client.auth_method != method:
            raise InvalidClient(AUTH_FAILED)
        if client.public:
            return client
        if not (
            secret
            and client.secret_hash
            and hmac.compare_digest(keys.digest(secret), client.secret_hash)
        ):
            raise InvalidClient(AUTH_FAILED)
        return client

    def _known(self, client_id: str | None) -> Client:
        try:
            # get()'s specific messages are for the browser flow's pages, not here.
            return self.get(client_id)
        except InvalidClient:
            raise InvalidClient(AUTH_FAILED) from None

    def _by_assertion(self, form: Mapping[str, str], base: str | None) -> Client:
        """private_key_jwt: the assertion names the client, its keys prove it."""
        from gistgate.oauth.client_assertion import AssertionRejected, peek_client_id

        assertion_type, assertion = form.get("client_assertion_type"), form.get("client_assertion")
        # Its shape first (named, like a malformed Basic header), then who it claims to be.
        client = self._known(
            peek_client_id(assertion_type, assertion, client_id=form.get("client_id"))
        )
        if client.auth_method != PRIVATE_KEY_JWT or self._assertions is None or not base:
            raise InvalidClient(AUTH_FAILED)
        try:
            self._assertions.verify(
                assertion_type,
                assertion,
                client_id=client.client_id,
                audiences=(f"{base}/oauth/token", base),
                jwks=client.keys.jwks_document(),
                jwks_uri=client.keys.jwks_uri,
                signing_alg=client.keys.signing_alg,
            )
        except AssertionRejected as exc:
            logger.info(
                "client assertion rejected",
                extra={"client_id": client.client_id, "reason": exc.reason},
            )
            raise InvalidClient(AUTH_FAILED) from None
        return client
