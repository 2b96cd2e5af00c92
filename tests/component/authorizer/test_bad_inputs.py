"""The bad bearer tokens of docs/authorizer-bad-inputs.md, one row (or test) per case.

Each row runs the real authorizer (real JWKS over HTTP on loopback, real
pyjwt/cryptography) and asserts both the outcome and the reason code in the
decision log line, so a row cannot pass because some other check happened to
fire. Adding a case is one ``row(...)`` line here and one line in that page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import get_default_algorithms

from gistgate.authorizer.service import Authorizer, AuthorizerFailure
from gistgate.tokens.jwks import JwksCache
from tests.fixtures.events import authorizer_event
from tests.fixtures.tokens import RESOURCE, KeyRing, SigningKey, b64, claims, make_key, segment

ALGS = get_default_algorithms()
ROOT = Path(__file__).resolve().parents[3]
WHOLE_API = "arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod/*/*"


@dataclass
class Ctx:
    """What a row's builder can use: keys, the IdP, token minting, the authorizer."""

    keyring: KeyRing
    idp: Any
    make_authorizer: Callable[..., Authorizer]
    authorizer: Authorizer | None = None

    @property
    def issuer(self) -> str:
        return self.idp.issuer

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return claims(self.issuer, **overrides)

    def token(
        self,
        key: SigningKey | None = None,
        *,
        headers: dict[str, Any] | None = None,
        alg: str | None = None,
        **overrides: Any,
    ) -> str:
        return (key or self.keyring.rsa).sign(self.claims(**overrides), headers=headers, alg=alg)

    def raw(
        self, header: Any, payload: Any, key: SigningKey | None = None, alg: str = "RS256"
    ) -> str:
        """A hand-assembled token with a real signature over exactly these bytes."""
        signing_input = f"{segment(header)}.{segment(payload)}"
        signature = ALGS[alg].sign(signing_input.encode(), (key or self.keyring.rsa).private)
        return f"{signing_input}.{b64(signature)}"

    def call(self, authorization: str | list[str] | None, **event: Any) -> dict[str, Any]:
        assert self.authorizer is not None
        return self.authorizer.handle(authorization_event(authorization, **event))


def authorization_event(authorization: Any, **event: Any) -> dict[str, Any]:
    return authorizer_event(authorization, **event)


@dataclass
class Row:
    """One catalogue case: a header builder, the env it runs under, the outcome and reason."""

    build: Callable[[Ctx], Any]
    outcome: str  # "401" | "403" | "allow" | "5xx"
    reason: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    after: Callable[[Ctx], None] | None = None  # extra assertions (fetch counts...)


def row(
    case_id: str,
    build: Callable[[Ctx], Any],
    outcome: str,
    reason: str | None = None,
    *,
    env: dict[str, str] | None = None,
    after: Callable[[Ctx], None] | None = None,
) -> Any:
    return pytest.param(Row(build, outcome, reason, env or {}, after), id=case_id)


@contextmanager
def unauthorized() -> Iterator[None]:
    """Exactly API Gateway's contract: ``Exception("Unauthorized")``, nothing else."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the exact type is asserted below
        yield
    assert type(raised.value) is Exception
    assert raised.value.args == ("Unauthorized",)


def no_jwks_fetch(ctx: Ctx) -> None:
    assert ctx.idp.jwks_fetches == 0


def bearer(token: str) -> str:
    return f"Bearer {token}"


# --- builders for the trickier tokens ---------------------------------------------------


def hs256_with_public_key(ctx: Ctx, as_jwk: bool) -> str:
    public = ctx.keyring.rsa.private.public_key()
    secret = (
        json.dumps(ctx.keyring.rsa.jwk).encode()
        if as_jwk
        else public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    signing_input = f"{segment({'alg': 'HS256', 'kid': 'rsa-1'})}.{segment(ctx.claims())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def es256_der(ctx: Ctx) -> str:
    signing_input = f"{segment({'alg': 'ES256', 'kid': 'ec-1'})}.{segment(ctx.claims())}"
    der = ctx.keyring.ec.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    return f"{signing_input}.{b64(der)}"


def es256_with_p384(ctx: Ctx) -> str:
    ctx.idp.serve_jwks(ctx.keyring.jwks(ctx.keyring.rsa, ctx.keyring.ec, ctx.keyring.ec384))
    signing_input = f"{segment({'alg': 'ES256', 'kid': 'ec384-1'})}.{segment(ctx.claims())}"
    der = ctx.keyring.ec384.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64(r.to_bytes(48, 'big') + s.to_bytes(48, 'big'))}"


def psychic(ctx: Ctx) -> str:
    signing_input = f"{segment({'alg': 'ES256', 'kid': 'ec-1'})}.{segment(ctx.claims())}"
    return f"{signing_input}.{b64(bytes(64))}"


def embedded_jwk(ctx: Ctx) -> str:
    attacker = make_key("RS256", "attacker")
    return attacker.sign(ctx.claims(), headers={"jwk": attacker.jwk})


def jku_attack(ctx: Ctx, param: str) -> str:
    attacker = make_key("RS256", "attacker")
    ctx.idp.server.expect_request("/attacker.json").respond_with_json({"keys": [attacker.jwk]})
    return attacker.sign(ctx.claims(), headers={param: ctx.idp.server.url_for("/attacker.json")})


def attacker_not_fetched(ctx: Ctx) -> None:
    assert ctx.idp.hits("/attacker.json") == 0


def tampered_payload(ctx: Ctx) -> str:
    header, _, signature = ctx.token().split(".")
    return f"{header}.{segment(ctx.claims(sub='admin'))}.{signature}"


def stripped_signature(ctx: Ctx) -> str:
    header, payload, _ = ctx.token().split(".")
    return f"{header}.{payload}."


def raw_payload(ctx: Ctx, body: str) -> str:
    return ctx.raw({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}, body)


def claims_json(ctx: Ctx, **raw_values: str) -> str:
    """Claims JSON with some members spliced in verbatim (NaN, 1e309...)."""
    base = ctx.claims()
    for name in raw_values:
        base.pop(name, None)
    text = json.dumps(base)[:-1]
    extra = "".join(f', "{k}": {v}' for k, v in raw_values.items())
    return text + extra + "}"


def deep_payload(ctx: Ctx) -> str:
    nested = "[" * 4000 + "]" * 4000
    return raw_payload(ctx, f'{{"iss": "{ctx.issuer}", "deep": {nested}}}')


def kid_storm(ctx: Ctx) -> None:
    token_for = {k: ctx.token(headers={"kid": f"random-{uuid.uuid4().hex}"}) for k in range(1000)}
    for token in token_for.values():
        with unauthorized():
            ctx.call(bearer(token))
    # One fetch to load the keys, one refetch for the first unknown kid, then the cooldown.
    assert ctx.idp.jwks_fetches == 2


def jwks_down_after_warm(ctx: Ctx) -> None:
    now = [time.time()]
    assert ctx.authorizer is not None
    ctx.authorizer.jwt.keys.jwks = JwksCache(clock=lambda: now[0])
    assert ctx.call(bearer(ctx.token()))["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    ctx.idp.serve_jwks(status=500)
    now[0] += 3600  # past the TTL: the refresh fails, the cached keys keep working
    assert ctx.call(bearer(ctx.token(key=ctx.keyring.ec)))["context"]["sub"] == "user-123"
    assert ctx.idp.jwks_fetches == 2
    now[0] += 86_400  # past the 24 h stale cap: fail closed
    with pytest.raises(AuthorizerFailure):
        ctx.call(bearer(ctx.token()))


def jwks_down_cold(ctx: Ctx) -> str:
    ctx.idp.serve_jwks(status=500)
    return bearer(ctx.token())


def duplicate_kid_rsa_ec(ctx: Ctx) -> str:
    ec_same_kid = make_key("ES256", "shared")
    rsa_same_kid = make_key("RS256", "shared")
    ctx.idp.serve_jwks({"keys": [rsa_same_kid.jwk, ec_same_kid.jwk]})
    return bearer(ec_same_kid.sign(ctx.claims()))


def duplicate_kid_ambiguous(ctx: Ctx) -> str:
    one, two = make_key("RS256", "twin"), make_key("RS256", "twin")
    ctx.idp.serve_jwks({"keys": [one.jwk, two.jwk]})
    return bearer(one.sign(ctx.claims()))


def oct_key(ctx: Ctx) -> str:
    secret = b"shared-secret-material-for-the-test"
    ctx.idp.serve_jwks(
        {
            "keys": [
                ctx.keyring.rsa.jwk,
                {"kty": "oct", "kid": "hs-1", "k": b64(secret), "alg": "HS256"},
            ]
        }
    )
    signing_input = f"{segment({'alg': 'HS256', 'kid': 'hs-1'})}.{segment(ctx.claims())}"
    return bearer(
        f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"
    )


def enc_key(ctx: Ctx) -> str:
    enc = make_key("RS256", "enc-1")
    ctx.idp.serve_jwks({"keys": [{**enc.jwk, "use": "enc"}]})
    return bearer(enc.sign(ctx.claims()))


def jwks_redirect_off_host(ctx: Ctx) -> str:
    ctx.idp.server.clear_all_handlers()
    target = ctx.idp.server.url_for("/elsewhere.json").replace("localhost", "127.0.0.1")
    ctx.idp.server.expect_request("/jwks.json").respond_with_data(
        "", status=302, headers={"Location": target}
    )
    ctx.idp.server.expect_request("/elsewhere.json").respond_with_json(ctx.keyring.jwks())
    return bearer(ctx.token())


def jwks_oversize(ctx: Ctx) -> str:
    padding = [{"kty": "oct", "kid": f"pad-{i}", "k": "A" * 200} for i in range(800)]
    ctx.idp.serve_jwks({"keys": [ctx.keyring.rsa.jwk, *padding]})
    return bearer(ctx.token())


def key_removed_after_ttl(ctx: Ctx) -> None:
    now = [time.time()]
    assert ctx.authorizer is not None
    ctx.authorizer.jwt.keys.jwks = JwksCache(clock=lambda: now[0])
    token = ctx.token()
    assert ctx.call(bearer(token))["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    ctx.idp.serve_jwks(ctx.keyring.jwks(ctx.keyring.ec))  # rsa-1 rotated out
    assert ctx.call(bearer(token))["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    now[0] += 601  # past the 10 min TTL
    with unauthorized():
        ctx.call(bearer(token))


def same_policy_on_every_route(ctx: Ctx) -> None:
    token = bearer(ctx.token())
    first = ctx.call(token, path="/mcp", method="POST")
    arn = "arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod/GET/.well-known/x"
    second = ctx.call(token, path="/.well-known/x", method="GET", method_arn=arn)
    assert first["policyDocument"] == second["policyDocument"]
    assert first["policyDocument"]["Statement"][0]["Resource"] == WHOLE_API


def template_ttl(ctx: Ctx) -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    auth = template["Resources"]["GistApi"]["Properties"]["Auth"]["Authorizers"]["GistAuthorizer"]
    ttl_param = template["Parameters"]["AuthorizerTtl"]
    assert int(ttl_param["Default"]) <= 60
    assert int(ttl_param["MaxValue"]) <= 60
    assert "ReauthorizeEvery" in auth["Identity"]


def introspect_with(answer: Any, status: int = 200) -> Callable[[Ctx], str]:
    def build(ctx: Ctx) -> str:
        handler = ctx.idp.server.expect_request("/introspect", method="POST")
        if isinstance(answer, bytes | str):
            handler.respond_with_data(answer, status=status)
        else:
            handler.respond_with_json(answer, status=status)
        return bearer("opaque-" + uuid.uuid4().hex)

    return build


def active(**overrides: Any) -> dict[str, Any]:
    base = {
        "active": True,
        "sub": "user-9",
        "client_id": "client-9",
        "scope": "read:gists",
        "aud": RESOURCE,
        "exp": int(time.time()) + 300,
        "token_type": "Bearer",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def introspection_timeout(ctx: Ctx) -> str:
    def slow(request: Any) -> Any:
        from werkzeug import Response

        time.sleep(2.5)
        return Response(json.dumps(active()), content_type="application/json")

    ctx.idp.server.expect_request("/introspect", method="POST").respond_with_handler(slow)
    return bearer("opaque-slow")


def introspection_tls_failure(ctx: Ctx) -> str:
    assert ctx.authorizer is not None
    assert ctx.authorizer.introspector is not None
    ctx.authorizer.introspector.url = ctx.idp.server.url_for("/introspect").replace(
        "http:", "https:"
    )
    ctx.idp.server.expect_request("/introspect", method="POST").respond_with_json(active())
    return bearer("opaque-tls")


def jwt_not_rescued(ctx: Ctx) -> str:
    ctx.idp.server.expect_request("/introspect", method="POST").respond_with_json(active())
    return bearer(tampered_payload(ctx))


def not_introspected(ctx: Ctx) -> None:
    assert ctx.idp.hits("/introspect") == 0


INTROSPECTION = {
    "AUTH_MODE": "introspection",
    "OAUTH_INTROSPECTION_CLIENT_ID": "rs-client",
    "OAUTH_INTROSPECTION_CLIENT_SECRET": "rs-secret",
}


def introspection_env(ctx_idp: Any) -> dict[str, str]:
    return {**INTROSPECTION, "OAUTH_INTROSPECTION_URL": ctx_idp.server.url_for("/introspect")}


CATALOGUE = [
    # -- Header and parsing
    row("01-no-header", lambda c: None, "401", "missing_token", after=no_jwks_fetch),
    row("02-basic", lambda c: "Basic dXNlcjpwYXNz", "401", "not_bearer"),
    row("02-bare-bearer", lambda c: "Bearer", "401", "missing_token"),
    row("02-bearer-spaces", lambda c: "Bearer     ", "401", "missing_token"),
    row("02-two-headers", lambda c: [bearer(c.token()), bearer(c.token())], "401", "not_bearer"),
    row("03-lowercase-scheme", lambda c: f"bearer {c.token()}", "allow"),
    row("03-uppercase-scheme", lambda c: f"BEARER {c.token()}", "allow"),
    row(
        "05-over-8kb",
        lambda c: bearer(c.token(pad="x" * 9000)),
        "401",
        "too_large",
        after=no_jwks_fetch,
    ),
    row(
        "05-limit-configurable",
        lambda c: bearer(c.token(pad="x" * 9000)),
        "allow",
        env={"OAUTH_MAX_TOKEN_BYTES": "16384"},
    ),
    row(
        "06-two-segments", lambda c: bearer(".".join(c.token().split(".")[:2])), "401", "malformed"
    ),
    row("06-four-segments", lambda c: bearer(c.token() + ".e30"), "401", "malformed"),
    row("06-not-base64url", lambda c: bearer(c.token().replace(".", ".*", 1)), "401", "malformed"),
    row("06-header-not-object", lambda c: bearer(c.raw("[]", c.claims())), "401", "malformed"),
    row(
        "06-header-invalid-json", lambda c: bearer(c.raw('{"alg":', c.claims())), "401", "malformed"
    ),
    row(
        "07-duplicate-header-keys",
        lambda c: bearer(c.raw('{"alg":"RS256","kid":"rsa-1","alg":"none"}', c.claims())),
        "401",
        "malformed",
    ),
    row(
        "08-deeply-nested",
        lambda c: bearer(deep_payload(c)),
        "401",
        "malformed",
        env={"OAUTH_MAX_TOKEN_BYTES": "65536"},
    ),
    row("08-huge-payload", lambda c: bearer(c.token(big=["x" * 100] * 500)), "401", "too_large"),
    # -- Algorithm and key
    *[
        row(
            f"09-alg-{alg}",
            lambda c, a=alg: bearer(f"{segment({'alg': a, 'typ': 'JWT'})}.{segment(c.claims())}."),
            "401",
            "bad_algorithm",
            after=no_jwks_fetch,
        )
        for alg in ("none", "None", "NONE", "nOnE")
    ],
    row("10-signature-stripped", lambda c: bearer(stripped_signature(c)), "401", "malformed"),
    row(
        "11-hs256-rsa-pem",
        lambda c: bearer(hs256_with_public_key(c, False)),
        "401",
        "bad_algorithm",
    ),
    row(
        "11-hs256-rsa-jwk", lambda c: bearer(hs256_with_public_key(c, True)), "401", "bad_algorithm"
    ),
    row("12-ps256-not-configured", lambda c: bearer(c.token(alg="PS256")), "401", "bad_algorithm"),
    row(
        "12-es256k",
        lambda c: bearer(
            f"{segment({'alg': 'ES256K', 'kid': 'ec-1'})}.{segment(c.claims())}.{b64(bytes(64))}"
        ),
        "401",
        "bad_algorithm",
    ),
    row(
        "13-es256-with-rsa-kid",
        lambda c: bearer(c.token(key=c.keyring.ec, headers={"kid": "rsa-1"})),
        "401",
        "bad_algorithm",
    ),
    row(
        "14-jwk-alg-rs256-header-rs384",
        lambda c: bearer(c.token(alg="RS384")),
        "401",
        "bad_algorithm",
        env={"OAUTH_ALGORITHMS": "RS256,RS384,ES256"},
    ),
    row("15-es256-der-signature", lambda c: bearer(es256_der(c)), "401", "bad_signature"),
    row("15-p384-key-for-es256", lambda c: bearer(es256_with_p384(c)), "401", "bad_algorithm"),
    row("16-psychic-signature", lambda c: bearer(psychic(c)), "401", "bad_signature"),
    row("17-embedded-jwk", lambda c: bearer(embedded_jwk(c)), "401", "forbidden_header"),
    row(
        "18-jku",
        lambda c: bearer(jku_attack(c, "jku")),
        "401",
        "forbidden_header",
        after=attacker_not_fetched,
    ),
    row(
        "18-x5u",
        lambda c: bearer(jku_attack(c, "x5u")),
        "401",
        "forbidden_header",
        after=attacker_not_fetched,
    ),
    *[
        row(
            f"19-hostile-kid-{name}",
            lambda c, k=kid: bearer(c.raw({"alg": "RS256", "typ": "at+jwt", "kid": k}, c.claims())),
            "401",
            reason,
            env={"OAUTH_MAX_TOKEN_BYTES": "65536"},
        )
        for name, kid, reason in [
            ("path", "../../dev/null", "unknown_kid"),
            ("sql", "x' OR '1'='1", "malformed"),
            ("shell", "|sleep 10", "malformed"),
            ("10kb", "k" * 10_000, "malformed"),
            ("number", 42, "malformed"),
            ("array", ["rsa-1"], "malformed"),
        ]
    ],
    row(
        "20-unknown-kid",
        lambda c: bearer(c.token(headers={"kid": "nope"})),
        "401",
        "unknown_kid",
        after=lambda c: _assert_eq(c.idp.jwks_fetches, 2),
    ),  # the load, then one refetch
    row("20-kid-storm", lambda c: kid_storm, "scenario"),
    row(
        "21-crit",
        lambda c: bearer(c.token(headers={"crit": ["foo"], "foo": 1})),
        "401",
        "forbidden_header",
    ),
    row(
        "21-b64-false", lambda c: bearer(c.token(headers={"b64": False})), "401", "forbidden_header"
    ),
    row("22-payload-changed", lambda c: bearer(tampered_payload(c)), "401", "bad_signature"),
    row(
        "23-other-issuers-key",
        lambda c: bearer(c.token(key=c.keyring.other_rsa)),
        "401",
        "bad_signature",
    ),
    # -- Claims
    row("24-no-exp", lambda c: bearer(c.token(exp=None)), "401", "invalid_claim"),
    row(
        "25-expired-beyond-leeway",
        lambda c: bearer(c.token(exp=int(time.time()) - 61)),
        "401",
        "expired",
    ),
    row("25-expired-inside-leeway", lambda c: bearer(c.token(exp=int(time.time()) - 30)), "allow"),
    row(
        "26-exp-string",
        lambda c: bearer(c.token(exp=str(int(time.time()) + 300))),
        "401",
        "invalid_claim",
    ),
    row(
        "26-exp-nan",
        lambda c: bearer(raw_payload(c, claims_json(c, exp="NaN"))),
        "401",
        "malformed",
    ),
    row("26-exp-bool", lambda c: bearer(c.token(exp=True)), "401", "invalid_claim"),
    row(
        "26-exp-1e309",
        lambda c: bearer(raw_payload(c, claims_json(c, exp="1e309"))),
        "401",
        "invalid_claim",
    ),
    row(
        "27-nbf-future",
        lambda c: bearer(c.token(nbf=int(time.time()) + 120)),
        "401",
        "not_yet_valid",
    ),
    row(
        "27-iat-future",
        lambda c: bearer(c.token(iat=int(time.time()) + 120)),
        "401",
        "not_yet_valid",
    ),
    row("27-nbf-inside-leeway", lambda c: bearer(c.token(nbf=int(time.time()) + 30)), "allow"),
    row(
        "28-iss-trailing-slash",
        lambda c: bearer(c.token(iss=c.issuer + "/")),
        "401",
        "bad_issuer",
        after=no_jwks_fetch,
    ),
    row("28-iss-case", lambda c: bearer(c.token(iss=c.issuer.upper())), "401", "bad_issuer"),
    row(
        "28-iss-https",
        lambda c: bearer(c.token(iss=c.issuer.replace("http:", "https:"))),
        "401",
        "bad_issuer",
    ),
    row("29-aud-missing", lambda c: bearer(c.token(aud=None)), "401", "invalid_claim"),
    row(
        "29-aud-other-resource",
        lambda c: bearer(c.token(aud="https://other.example/mcp")),
        "401",
        "bad_audience",
    ),
    row("29-aud-client-id", lambda c: bearer(c.token(aud="client-abc")), "401", "bad_audience"),
    row("29-aud-list-without-us", lambda c: bearer(c.token(aud=["a", "b"])), "401", "bad_audience"),
    row("29-aud-list-with-us", lambda c: bearer(c.token(aud=["a", RESOURCE])), "allow"),
    row(
        "30-aud-trailing-slash",
        lambda c: bearer(c.token(aud=RESOURCE + "/")),
        "401",
        "bad_audience",
    ),
    row(
        "30-aud-trailing-slash-configured",
        lambda c: bearer(c.token(aud=RESOURCE + "/")),
        "allow",
        env={"OAUTH_AUDIENCE": f"{RESOURCE},{RESOURCE}/"},
    ),
    row("31-aud-number", lambda c: bearer(c.token(aud=7)), "401", "invalid_claim"),
    row("31-aud-object", lambda c: bearer(c.token(aud={"x": RESOURCE})), "401", "invalid_claim"),
    row("31-scope-number", lambda c: bearer(c.token(scope=7)), "401", "invalid_claim"),
    row(
        "32-oidc-id-token",
        lambda c: bearer(c.token(headers={"typ": "JWT"}, aud="client-abc", scope=None, nonce="n")),
        "401",
        "bad_audience",
    ),
    row(
        "32-typ-enforced-jwt",
        lambda c: bearer(c.token(headers={"typ": "JWT"})),
        "401",
        "bad_type",
        env={"OAUTH_TOKEN_TYPE": "at+jwt"},
    ),
    row(
        "32-typ-enforced-missing",
        lambda c: bearer(c.token(headers={"typ": None})),
        "401",
        "bad_type",
        env={"OAUTH_TOKEN_TYPE": "at+jwt"},
    ),
    row(
        "32-typ-application-at-jwt",
        lambda c: bearer(c.token(headers={"typ": "application/at+jwt"})),
        "allow",
        env={"OAUTH_TOKEN_TYPE": "at+jwt"},
    ),
    row("32-typ-not-enforced", lambda c: bearer(c.token(headers={"typ": None})), "allow"),
    row(
        "34-missing-baseline-scope",
        lambda c: bearer(c.token(scope="write:gists")),
        "403",
        "insufficient_scope",
        env={"OAUTH_REQUIRED_SCOPES": "read:gists"},
    ),
    row(
        "34-has-baseline-scope",
        lambda c: bearer(c.token(scope="read:gists")),
        "allow",
        env={"OAUTH_REQUIRED_SCOPES": "read:gists"},
    ),
    row(
        "35-upstream-audience",
        lambda c: bearer(c.token(aud="https://api.github.com")),
        "401",
        "bad_audience",
    ),
    # -- JWKS handling
    row("40-jwks-down-after-warm", lambda c: jwks_down_after_warm, "scenario"),
    row("40-jwks-down-cold", jwks_down_cold, "5xx", "verifier_unavailable"),
    row("41-duplicate-kid-rsa-ec", duplicate_kid_rsa_ec, "allow"),
    row("41-duplicate-kid-ambiguous", duplicate_kid_ambiguous, "401", "ambiguous_key"),
    row("42-oct-key-ignored", oct_key, "401", "bad_algorithm"),
    row("42-enc-key-ignored", enc_key, "401", "unknown_kid"),
    row(
        "43-jwks-redirect-off-host",
        jwks_redirect_off_host,
        "5xx",
        "verifier_unavailable",
        after=lambda c: _assert_eq(c.idp.hits("/elsewhere.json"), 0),
    ),
    row("43-jwks-over-150kb", jwks_oversize, "5xx", "verifier_unavailable"),
    row("44-key-removed-after-ttl", lambda c: key_removed_after_ttl, "scenario"),
    # -- API Gateway integration
    row("45-same-policy-every-route", lambda c: same_policy_on_every_route, "scenario"),
    row("46-authorizer-ttl-at-most-60", lambda c: template_ttl, "scenario"),
]


def _assert_eq(actual: Any, expected: Any) -> None:
    assert actual == expected


def run(ctx: Ctx, spec: Row, decisions: Any) -> None:
    built = spec.build(ctx)
    if spec.outcome == "scenario":
        built(ctx)
        return
    if spec.outcome == "401":
        with unauthorized():
            ctx.call(built)
    elif spec.outcome == "5xx":
        with pytest.raises(AuthorizerFailure) as raised:
            ctx.call(built)
        assert "Unauthorized" not in str(raised.value)
    else:
        result = ctx.call(built)
        effect = "Allow" if spec.outcome == "allow" else "Deny"
        assert result["policyDocument"]["Statement"][0] == {
            "Action": "execute-api:Invoke",
            "Effect": effect,
            "Resource": WHOLE_API,
        }
    if spec.reason is not None:
        assert decisions.reasons[-1] == spec.reason
    elif spec.outcome == "allow":
        assert decisions.reasons[-1] == "ok"
    if spec.after is not None:
        spec.after(ctx)


@pytest.mark.parametrize("spec", CATALOGUE)
def test_catalogue(spec: Row, keyring, idp, make_authorizer, decisions) -> None:
    ctx = Ctx(keyring, idp, make_authorizer)
    ctx.authorizer = make_authorizer(**spec.env)
    run(ctx, spec, decisions)


def test_04_query_string_token_is_never_read(keyring, idp, make_authorizer, decisions) -> None:
    ctx = Ctx(keyring, idp, make_authorizer, make_authorizer())
    with unauthorized():
        ctx.call(None, query={"access_token": ctx.token()})
    assert decisions.reasons == ["missing_token"]


def test_33_issuer_a_audience_never_accepted_for_issuer_b(
    keyring, idp, make_authorizer, decisions
) -> None:
    issuer_b = idp.issuer + "/b"
    env = {
        "OAUTH_ISSUER": f"{idp.issuer},{issuer_b}",
        "OAUTH_JWKS_URI": f"{idp.jwks_uri},{idp.server.url_for('/b/jwks.json')}",
        "OAUTH_AUDIENCE": "https://aud-a.example/mcp;https://aud-b.example/mcp",
    }
    ctx = Ctx(keyring, idp, make_authorizer, make_authorizer(**env))
    key_b = make_key("RS256", "b-1")
    idp.server.expect_request("/b/jwks.json").respond_with_json({"keys": [key_b.jwk]})
    with unauthorized():
        ctx.call(bearer(key_b.sign(claims(issuer_b, aud="https://aud-a.example/mcp"))))
    assert decisions.reasons[-1] == "bad_audience"
    allowed = ctx.call(bearer(key_b.sign(claims(issuer_b, aud="https://aud-b.example/mcp"))))
    assert allowed["context"]["iss"] == issuer_b
    # and issuer A still only takes its own audience
    with unauthorized():
        ctx.call(bearer(ctx.token(aud="https://aud-b.example/mcp")))


@pytest.mark.parametrize(
    ("case_id", "answer", "reason"),
    [
        ("36-inactive", {"active": False}, "inactive"),
        ("36-empty", {}, "inactive"),
        ("36-active-string", {**active(), "active": "true"}, "inactive"),
        ("37-wrong-aud", active(aud="https://other.example/mcp"), "bad_audience"),
        ("37-expired", active(exp=int(time.time()) - 120), "expired"),
        ("37-refresh-token", active(token_type="refresh_token"), "invalid_claim"),
    ],
)
def test_36_37_introspection_rejections(
    case_id, answer, reason, keyring, idp, make_authorizer, decisions
) -> None:
    ctx = Ctx(keyring, idp, make_authorizer, make_authorizer(**introspection_env(idp)))
    with unauthorized():
        ctx.call(introspect_with(answer)(ctx))
    assert decisions.reasons[-1] == reason


@pytest.mark.parametrize(
    ("case_id", "build"),
    [
        ("38-5xx", introspect_with({"error": "boom"}, status=503)),
        ("38-non-json", introspect_with("<html>", status=200)),
        ("38-over-64kb", introspect_with({**active(), "pad": "x" * 70_000})),
        ("38-timeout", introspection_timeout),
        ("38-tls-failure", introspection_tls_failure),
    ],
)
def test_38_introspection_failure_fails_closed(
    case_id, build, keyring, idp, make_authorizer, decisions
) -> None:
    ctx = Ctx(keyring, idp, make_authorizer, make_authorizer(**introspection_env(idp)))
    with pytest.raises(AuthorizerFailure):
        ctx.call(build(ctx))
    assert decisions[-1].outcome == "error"
    assert decisions.reasons[-1] == "verifier_unavailable"


def test_38_introspection_allows_active_token_and_caches_only_positive(
    keyring, idp, make_authorizer, decisions
) -> None:
    ctx = Ctx(keyring, idp, make_authorizer, make_authorizer(**introspection_env(idp)))
    header = introspect_with(active())(ctx)
    first = ctx.call(header)
    second = ctx.call(header)
    assert first == second
    assert first["context"]["token_kind"] == "introspection"
    assert idp.hits("/introspect") == 1


def test_39_failed_jwt_is_never_rescued_by_introspection(
    keyring, idp, make_authorizer, decisions
) -> None:
    ctx = Ctx(keyring, idp, make_authorizer, make_authorizer(**introspection_env(idp)))
    with unauthorized():
        ctx.call(jwt_not_rescued(ctx))
    assert decisions.reasons[-1] == "bad_signature"
    not_introspected(ctx)


def test_43_plain_http_jwks_on_a_public_host_is_refused(make_settings) -> None:
    from gistgate.core.config import SettingsError

    with pytest.raises(SettingsError, match="OAUTH_JWKS_URI"):
        make_settings(OAUTH_JWKS_URI="http://idp.example.com/jwks.json")
