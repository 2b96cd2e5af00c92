"""The ID-JAG grant (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``) at
/oauth/token, fuzzed over the wire against a stack that trusts make dev's enterprise IdP
(tests/component/fuzz/conftest.py). Whatever the assertion: junk text or bytes, a JWS
whose JOSE header and claims Hypothesis drew (signed with the IdP's own key whenever PyJWT
can write it, so it gets past the signature to the claim checks), or a valid one with one
thing changed, the answer is a 200 only for an assertion that meets every rule, else a 400
(a 401 only when the client did not authenticate) with an RFC 6749 error code; never a
503 (the IdP is up), never the assertion echoed or logged, never a traceback."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import quote_from_bytes

import jwt as pyjwt
import pytest
from hypothesis import currently_in_test_context, given, note
from hypothesis import strategies as st

from gistgate.oauth.id_jag import issuer_id
from tests.component.fuzz.conftest import FuzzStack, Watch
from tests.component.fuzz.strategies import (
    B64URL,
    b64url,
    claim_values,
    fuzz_settings,
    json_values,
    jwt_shaped,
    odd_text,
    segments,
    wire,
)
from tests.fixtures.enterprise import JWT_BEARER, basic
from tests.fixtures.wire import WireAnswer, exchange

TOKEN = b"/prod/oauth/token"
FORM = (b"Content-Type", b"application/x-www-form-urlencoded")
ERRORS = frozenset(
    {"invalid_grant", "invalid_request", "invalid_client", "invalid_scope", "unauthorized_client"}
)
ID_JAG_TYPE = "oauth-id-jag+jwt"
LEEWAY, LIFETIME = 60, 300  # the stack's OAUTH_LEEWAY_SECONDS, EMA_MAX_ASSERTION_LIFETIME
SLACK = 30  # seconds between drawing an example and the server's clock reading it
FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit", "b64"})
# PyJWT drops or rewrites these when it signs; the server refuses them before any signature.
UNSIGNABLE_HEADERS = frozenset({"b64", "crit"})
JOSE_NAMES = ("jwk", "jku", "x5u", "x5c", "crit", "b64", "cty", "x5t", "x5t#S256", "zip", "enc")
CLAIM_NAMES = ("act", "may_act", "cnf", "azp", "email", "auth_time", "amr", "nonce", "tenant")
SCOPES_ASKED = (None, "read:gists", "read:gists write:gists", "write:gists admin:server", "")
REGISTERED = frozenset({"read:gists", "write:gists"})  # the enterprise client's scope


class _Marker:
    """A spec value that stands for something decided when the assertion is built."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING: Any = _Marker("MISSING")  # the member is left out
FRESH: Any = _Marker("FRESH")  # a new uuid as the jti


class Rel(NamedTuple):
    """A NumericDate ``seconds`` from when the assertion is built (int or float)."""

    seconds: float


# -- the assertion: specs (what Hypothesis draws) and the JWS built from them --------------


def valid_spec(fuzz: FuzzStack) -> tuple[dict[str, Any], dict[str, Any]]:
    """A header and claims set the server accepts, as specs (times relative, jti fresh)."""
    header = {"typ": ID_JAG_TYPE, "alg": "RS256", "kid": real_kid(fuzz)}
    claims = {
        "iss": fuzz.idp.issuer,
        "sub": "00u-fuzz-user",
        "aud": fuzz.stack.base,
        "resource": fuzz.stack.mcp_url,
        "client_id": fuzz.enterprise_id,
        "jti": FRESH,
        "iat": Rel(0),
        "exp": Rel(LIFETIME),
        "nbf": MISSING,
        "scope": "read:gists write:gists",
    }
    return header, claims


def real_kid(fuzz: FuzzStack) -> str:
    return str(fuzz.idp.jwks()["keys"][0]["kid"])


class Names(NamedTuple):
    """What a valid assertion names: the IdP, our issuer and MCP URL, the clients, the key."""

    issuer: str
    base: str
    mcp: str
    client: str  # the enterprise client
    public: str
    confidential: str
    kid: str

    @classmethod
    def of(cls, fuzz: FuzzStack) -> Names:
        return cls(
            fuzz.idp.issuer,
            fuzz.stack.base,
            fuzz.stack.mcp_url,
            fuzz.enterprise_id,
            fuzz.client_id,
            fuzz.confidential_id,
            real_kid(fuzz),
        )


def near_misses(names: Names) -> dict[str, tuple[Any, ...]]:
    """Per member: values one step from valid (and some valid variants)."""
    issuer, base, mcp, client = names.issuer, names.base, names.mcp, names.client
    return {
        "typ": (
            "application/oauth-id-jag+jwt",
            "OAuth-ID-JAG+JWT",
            "JWT",
            "at+jwt",
            "oauth-id-jag+jwt ",
            "oauth-id-jag",
            "",
            None,
        ),
        "alg": ("ES256", "PS256", "RS384", "RS512", "HS256", "none", "rs256", "", None),
        "kid": ("other-key", names.kid + "x", "", " ", "\x7f", "k" * 257),
        "iss": (
            issuer + "/",
            issuer.upper(),
            issuer.replace("127.0.0.1", "localhost"),
            " " + issuer,
            issuer + "#",
            base,
            [issuer],
        ),
        "sub": ("x" * 255, "x" * 256, "", " ", "a\nb", "github|583231", "ema|x|y", "é", "\ud800"),
        "aud": ([base], [base, "https://other.example"], [], base + "/", mcp, base.upper()),
        "resource": (mcp + "/", base, mcp.upper(), [mcp], mcp + "?x=1"),
        "client_id": (names.public, names.confidential, client + " ", client.upper(), [client]),
        "jti": ("", "j" * 255, "j" * 256, "\ud800", "a\tb", 1, ["j"]),
        "iat": (Rel(0.5), Rel(LEEWAY - 5), Rel(LEEWAY + 5), Rel(-1000), Rel(-LEEWAY), "0", True),
        "exp": (
            Rel(1),
            Rel(-LEEWAY + 5),
            Rel(-LEEWAY - 5),
            Rel(LIFETIME + 0.5),
            Rel(LIFETIME + LEEWAY + 5),
            Rel(2**40),
            str(int(time.time()) + 60),
            False,
        ),
        "nbf": (Rel(0), Rel(LEEWAY - 5), Rel(LEEWAY + 5), None, "0"),
        "scope": (
            "read:gists",
            "read:gists read:gists",
            "admin:server",
            "admin:server read:gists",
            "READ:GISTS",
            "",
            "  ",
            ["read:gists"],
            None,
        ),
    }


def resolve(spec: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The JSON object a spec stands for: MISSING left out, times and the jti filled in."""
    found: dict[str, Any] = {}
    for name, value in spec.items():
        if value is MISSING:
            continue
        if isinstance(value, Rel):
            seconds = value.seconds
            value = int(now) + seconds if isinstance(seconds, int) else now + seconds
        elif value is FRESH:
            value = uuid.uuid4().hex
        found[name] = value
    return found


def signable(header: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
    """Can ``EnterpriseIdp.sign`` write exactly this header and these claims? It signs RS256
    only, PyJWT refuses a kid that is not a string or an iss that is not, and drops or
    rewrites b64, crit and a falsy typ."""
    typ = header.get("typ", "absent")
    return (
        header.get("alg") == "RS256"
        and isinstance(header.get("kid"), str)
        and not UNSIGNABLE_HEADERS.intersection(header)
        and (typ is None or bool(typ))
        and isinstance(claims.get("iss", ""), str)
    )


def assemble(
    fuzz: FuzzStack, header: dict[str, Any], claims: dict[str, Any], signature: bytes
) -> tuple[str, bool]:
    """The compact JWS of exactly ``header`` and ``claims``, and whether it is the IdP's.

    Signed by the IdP whenever it can be; otherwise (another alg, no kid, a kid that is no
    string, b64, crit, an iss that is no string) with ``signature`` as a junk signature:
    each of those is refused before the signature check, or at it.
    """
    if signable(header, claims):
        # typ None (or left out): PyJWT writes no typ at all, which the server takes as
        # the same (no typ is not oauth-id-jag+jwt).
        extra = {} if "typ" in header else {"typ": None}
        return fuzz.idp.sign(claims, {**header, **extra}), True
    head = json.dumps(header, separators=(",", ":")).encode()
    body = json.dumps(claims, separators=(",", ":")).encode()
    return ".".join(b64url(part) for part in (head, body, signature)), False


# -- the request and the property ------------------------------------------------------------


def form(pairs: list[tuple[str, str | bytes]], *, raw: bool = False) -> bytes:
    """``a=b&c=d``: percent-encoded, or raw (as a careless client writes it)."""

    def encoded(value: str | bytes) -> bytes:
        data = value if isinstance(value, bytes) else wire(value)
        return data if raw else quote_from_bytes(data, safe="").encode()

    return b"&".join(encoded(name) + b"=" + encoded(value) for name, value in pairs)


def grant_form(
    data: st.DataObject | None, fuzz: FuzzStack, assertion: str | bytes
) -> list[tuple[str, str | bytes]]:
    """The jwt-bearer grant's form: the assertion; with ``data``, maybe a scope and our
    resource."""
    pairs: list[tuple[str, str | bytes]] = [("grant_type", JWT_BEARER), ("assertion", assertion)]
    if data is None:
        return pairs
    scope = data.draw(st.sampled_from(SCOPES_ASKED), label="scope asked")
    if scope is not None:
        pairs.append(("scope", scope))
    if data.draw(st.booleans(), label="with resource"):
        pairs.append(("resource", fuzz.stack.mcp_url))
    return pairs


def post(fuzz: FuzzStack, body: bytes, authorization: str | bytes | None) -> WireAnswer:
    sent = [FORM]
    if authorization is not None:
        value = authorization.encode() if isinstance(authorization, str) else authorization
        sent.append((b"Authorization", value))
    # Our host and port: the base URL (so aud and resource) comes from Host.
    return exchange(fuzz.port, "POST", TOKEN, sent, body, host=f"127.0.0.1:{fuzz.port}".encode())


def fragments(assertion: str | bytes) -> list[str]:
    """What of the assertion no answer or log line may hold: the whole of it, and its
    payload and signature segments, when they are long enough to mean something."""
    if isinstance(assertion, bytes):
        try:
            assertion = assertion.decode("utf-8")
        except UnicodeDecodeError:
            return []  # refused as a form before anything reads it

    def telling(text: str) -> bool:
        return len(text.strip()) >= 16

    found = [assertion] if telling(assertion) else []
    parts = assertion.split(".")
    if len(parts) == 3:
        found += [part for part in parts[1:] if telling(part) and part != assertion]
    return found


def checked(
    watch: Watch,
    answer: WireAnswer,
    assertion: str | bytes,
    sent: object,
    *,
    as_enterprise: bool = True,
) -> dict[str, Any]:
    """The property: 200/400/401 JSON, an RFC 6749 code, the assertion nowhere."""
    watch.check(answer, sent, fragments(assertion))
    context = repr(sent)[:300]
    assert answer.status in (200, 400, 401), f"{answer.status} for {context}: {answer.body[:300]!r}"
    assert (answer.header("content-type") or "").startswith("application/json"), context
    assert answer.header("cache-control") == "no-store", context
    document = json.loads(answer.body)
    assert isinstance(document, dict), context
    if answer.status == 200:
        assert as_enterprise, f"a token for a client that did not authenticate: {context}"
        assert document["token_type"] == "Bearer", document
        assert isinstance(document["access_token"], str), document
        return document
    assert document.get("error") in ERRORS, f"{document} for {context}"
    if answer.status == 401:
        assert document["error"] == "invalid_client", document
        assert not as_enterprise, f"the client authenticated, yet {document}: {context}"
    return document


def _number(value: Any) -> TypeGuard[float]:
    """A NumericDate as the grant takes it: an int below 2**53, or any finite float (the
    time checks bound those: a huge exp or iat is too long-lived, a huge past nbf harmless)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**53
    return isinstance(value, float) and math.isfinite(value)


def _identifier(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable()


def violations(names: Names, built: Built, asked: str | None, slack: float) -> list[str]:
    """The rules ``built`` breaks (gistgate.oauth.id_jag's docstring, written again from
    the outside), with the clock read ``slack`` seconds either side of when it was built."""
    header, claims, at = built.header, built.claims, built.at
    typ = header.get("typ")
    broken = {
        "signed by the IdP's key": built.by_idp and header.get("kid") == names.kid,
        "at most 8 KB": len(built.assertion) <= 8192,
        "typ": isinstance(typ, str) and typ.lower().removeprefix("application/") == ID_JAG_TYPE,
        "alg": header.get("alg") == "RS256",
        "no header naming a key": not FORBIDDEN_HEADERS.intersection(header),
        "iss": claims.get("iss") == names.issuer,
        "aud": claims.get("aud") in (names.base, [names.base]),
        "resource": claims.get("resource") == names.mcp,
        "client_id": claims.get("client_id") == names.client,
        "jti": _identifier(claims.get("jti")),
        "sub": _identifier(claims.get("sub")),
    }
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
    broken["numeric times"] = False
    if _number(exp) and _number(iat) and (nbf is None or _number(nbf)):
        broken["numeric times"] = True
        broken["not expired"] = exp + LEEWAY > at - slack
        broken["iat not future"] = iat <= at + LEEWAY + slack
        broken["nbf not future"] = nbf is None or nbf <= at + LEEWAY + slack
        broken["lifetime"] = exp - iat <= LIFETIME and exp <= at + LIFETIME + LEEWAY + slack
    scope = claims.get("scope")
    broken["scope a string"] = scope is None or isinstance(scope, str)
    if isinstance(scope, str) or scope is None:
        allowed = REGISTERED if scope is None else REGISTERED & set(scope.split())
        wanted = set((asked or "").split())
        broken["scope left"] = bool(allowed) and wanted <= allowed
    return [rule for rule, kept in broken.items() if not kept]


def assert_issued(
    names: Names, built: Built, asked: str | None, document: Mapping[str, Any]
) -> None:
    """A 200 only for an assertion that keeps every rule, and a token for its user, its
    client and within its scope."""
    broken = violations(names, built, asked, SLACK)
    assert not broken, f"a token, yet {broken}: {built.header!r} {built.claims!r}"
    token = pyjwt.decode(document["access_token"], options={"verify_signature": False})
    assert token["sub"] == f"ema|{issuer_id(names.issuer)}|{built.claims['sub']}", token
    assert token["client_id"] == names.client, token
    assert token["aud"] == names.mcp, token
    granted = set(token["scope"].split())
    assert granted, token
    assert granted <= REGISTERED, token
    if isinstance(built.claims.get("scope"), str):
        assert granted <= set(built.claims["scope"].split()), (token, built.claims)
    if asked and asked.split():
        assert granted == set(asked.split()), (token, asked)


class Built(NamedTuple):
    assertion: str
    header: dict[str, Any]
    claims: dict[str, Any]
    by_idp: bool  # signed with the IdP's key (else a junk signature)
    at: float  # when: the times in it are relative to this


def build(
    fuzz: FuzzStack,
    header_spec: Mapping[str, Any],
    claims_spec: Mapping[str, Any],
    junk: bytes = b"",
) -> Built:
    at = time.time()
    header, claims = resolve(header_spec, at), resolve(claims_spec, at)
    assertion, by_idp = assemble(fuzz, header, claims, junk)
    if currently_in_test_context():  # a Hypothesis example, not a parametrized case
        note(f"header={header!r} claims={claims!r} signed by the IdP: {by_idp}")
    return Built(assertion, header, claims, by_idp, at)


def trade(
    fuzz: FuzzStack,
    watch: Watch,
    built: Built,
    assertion: str = "",
    *,
    data: st.DataObject | None = None,
) -> tuple[WireAnswer, dict[str, Any]]:
    """Trade ``assertion`` (``built``'s own by default) as the enterprise client; checked,
    and a 200 only for the untouched, valid assertion. With ``data``, a scope and the
    resource may be sent too."""
    sent = assertion or built.assertion
    pairs = grant_form(data, fuzz, sent)
    asked = next((str(value) for name, value in pairs if name == "scope"), None)
    answer = post(fuzz, form(pairs), fuzz.enterprise_authorization)
    context = (sent[:200], built.header, built.claims, built.by_idp, asked)
    document = checked(watch, answer, sent, context)
    if answer.status == 200:
        assert sent == built.assertion, f"a token for a tampered ID-JAG: {context}"
        assert_issued(Names.of(fuzz), built, asked, document)
    return answer, document


# -- (a) anything as the assertion -----------------------------------------------------------


@fuzz_settings(max_examples=200)
@given(data=st.data())
def test_any_assertion(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject) -> None:
    """Odd text, raw bytes, JWT-shaped junk and huge values; a client that authenticated
    (or one that did not, or is not registered for the grant)."""
    header, claims = valid_spec(fuzz_stack)
    assertion: str | bytes = data.draw(
        st.one_of(
            odd_text,
            st.binary(max_size=64),
            jwt_shaped(resolve(header, time.time()), resolve(claims, time.time())),
            st.sampled_from((4097, 8193, 60_000)).map(lambda n: "e" * n),
        ),
        label="assertion",
    )
    pairs: list[tuple[str, str | bytes]] = [("grant_type", JWT_BEARER), ("assertion", assertion)]
    shape = data.draw(
        st.sampled_from(["once", "once", "once", "twice", "blank", "none"]), label="assertion form"
    )
    if shape == "twice":
        pairs.append(("assertion", assertion))
    elif shape == "blank":
        pairs[1] = ("assertion", "")
    elif shape == "none":
        del pairs[1]
    if data.draw(st.booleans(), label="with scope"):
        pairs.append(("scope", data.draw(st.one_of(st.sampled_from(SCOPES_ASKED[1:]), odd_text))))
    who = data.draw(st.sampled_from(["enterprise", "wrong secret", "confidential", "public"]))
    authorization: str | None = fuzz_stack.enterprise_authorization
    if who == "wrong secret":
        authorization = basic(fuzz_stack.enterprise_id, "not-the-secret")
    elif who == "confidential":  # authenticated, but not registered for jwt-bearer
        authorization = basic(fuzz_stack.confidential_id, "not-its-secret-either")
    elif who == "public":
        authorization = None
        pairs.append(("client_id", fuzz_stack.client_id))
    body = form(pairs, raw=data.draw(st.booleans(), label="raw"))
    answer = post(fuzz_stack, body, authorization)
    checked(watch, answer, assertion, (who, body[:300]), as_enterprise=who == "enterprise")
    assert answer.status != 200, f"a token for {assertion!r}"


# -- (b) a JWS of drawn header and claims, signed with the IdP's key ---------------------------


def changed_value(near: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    """A near miss two times in three, else nothing or any JSON value."""
    return st.integers(0, 2).flatmap(
        lambda pick: (
            st.sampled_from(near) if pick < 2 else st.one_of(st.just(MISSING), claim_values)
        )
    )


@st.composite
def drawn_member(draw: st.DrawFn, valid: Any, near: tuple[Any, ...]) -> Any:
    """The valid value 5 times in 6 (so most examples get to the later checks; a shrink
    goes to valid), else :func:`changed_value`."""
    if draw(st.integers(0, 5)) < 5:
        return valid
    return draw(changed_value(near))


@st.composite
def drawn_specs(draw: st.DrawFn, fuzz: FuzzStack) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims = valid_spec(fuzz)
    near = near_misses(Names.of(fuzz))
    header = {name: draw(drawn_member(value, near[name])) for name, value in header.items()}
    claims = {name: draw(drawn_member(value, near[name])) for name, value in claims.items()}
    names = st.one_of(st.sampled_from(JOSE_NAMES), odd_text)
    for name, value in draw(st.dictionaries(names, json_values, max_size=2)).items():
        header.setdefault(name, value)
    names = st.one_of(st.sampled_from(CLAIM_NAMES), odd_text)
    for name, value in draw(st.dictionaries(names, json_values, max_size=3)).items():
        claims.setdefault(name, value)
    return header, claims


@fuzz_settings(max_examples=200)
@given(data=st.data())
def test_a_signed_jws_of_drawn_header_and_claims(
    fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject
) -> None:
    """Random typ/alg/kid and extra JOSE members; claims of any JSON type (NaN, 10**400,
    objects, lists) for iss, sub, aud, resource, client_id, exp, iat, nbf, jti, scope."""
    header, claims = data.draw(drawn_specs(fuzz_stack), label="specs")
    junk = data.draw(st.binary(max_size=300), label="junk signature")
    trade(fuzz_stack, watch, build(fuzz_stack, header, claims, junk), data=data)


# -- (c) a valid assertion with one thing changed ---------------------------------------------

WHOLE_TOKEN_CHANGES = (
    "replay",
    "signature flipped",
    "signature of another",
    "no signature",
    "padded",
    "spaces around",
    "four segments",
)


@fuzz_settings(max_examples=150)
@given(data=st.data())
def test_a_valid_assertion_with_one_thing_changed(
    fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject
) -> None:
    """One member changed (a near miss or any value) or dropped, or the whole token
    tampered with or sent twice: a 200 only while it is still valid, and only once."""
    header, claims = valid_spec(fuzz_stack)
    names = Names.of(fuzz_stack)
    near = near_misses(names)
    target = data.draw(
        st.sampled_from((*header, *claims, *WHOLE_TOKEN_CHANGES, "unchanged")), label="change"
    )
    if target in near:
        value = data.draw(changed_value(near[target]), label=target)
        (header if target in header else claims)[target] = value
    built = build(fuzz_stack, header, claims, data.draw(st.binary(max_size=300), label="junk"))
    if target not in WHOLE_TOKEN_CHANGES:
        trade(fuzz_stack, watch, built, data=data)
        return
    if target == "replay":
        first, _ = trade(fuzz_stack, watch, built)
        assert first.status == 200, first.body
        again, document = trade(fuzz_stack, watch, built, data=data)
        assert again.status == 400, f"an ID-JAG traded twice: {document}"
        return
    # The tampered copy is refused, and spends nothing: the original still earns a token.
    refused, document = trade(fuzz_stack, watch, built, tamper(fuzz_stack, data, target, built))
    assert refused.status == 400, document
    original, document = trade(fuzz_stack, watch, built)
    assert original.status == 200, document


def tamper(fuzz: FuzzStack, data: st.DataObject, change: str, built: Built) -> str:
    """``change`` applied to the compact JWS itself."""
    head, body, signature = built.assertion.split(".")
    if change == "signature flipped":
        # The top bit of a sextet: the last character's low bits are only padding, and a
        # base64url decoder (ours included) ignores them.
        index = data.draw(st.integers(0, len(signature) - 1), label="at")
        flipped = B64URL[B64URL.index(signature[index]) ^ 0b100000]
        return f"{head}.{body}.{signature[:index]}{flipped}{signature[index + 1 :]}"
    if change == "signature of another":
        other = fuzz.idp.sign({**built.claims, "jti": uuid.uuid4().hex}, built.header)
        return f"{head}.{body}.{other.split('.')[2]}"
    if change == "no signature":
        return f"{head}.{body}."
    if change == "padded":
        return f"{head}=.{body}.{signature}=="
    if change == "spaces around":
        return data.draw(st.sampled_from([" ", "\t", "\n", "\u00a0"])) + built.assertion + " "
    return f"{built.assertion}.{data.draw(segments)}"  # four segments


# -- every near miss, alone: the exact answer ---------------------------------------------------

_PLACEHOLDER = Names("i", "b", "m", "c", "p", "k", "kid")


def _near_miss_cases() -> list[Any]:
    cases = []
    for member, values in near_misses(_PLACEHOLDER).items():
        for index, _value in enumerate((*values, MISSING)):
            cases.append(pytest.param(member, index, id=f"{member}-{index}"))
    return cases


@pytest.mark.parametrize(("member", "index"), _near_miss_cases())
def test_each_near_miss_alone(fuzz_stack: FuzzStack, watch: Watch, member: str, index: int) -> None:
    """Each near miss (and each member left out) in an otherwise valid ID-JAG: a 200 exactly
    when the assertion still keeps every rule, an invalid_grant or invalid_scope otherwise."""
    names = Names.of(fuzz_stack)
    header, claims = valid_spec(fuzz_stack)
    value = (*near_misses(names)[member], MISSING)[index]
    (header if member in header else claims)[member] = value
    built = build(fuzz_stack, header, claims, b"x" * 256)
    answer, document = trade(fuzz_stack, watch, built)
    broken = violations(names, built, None, 0)
    if broken:
        assert answer.status == 400, (broken, document)
        assert document["error"] in ("invalid_grant", "invalid_scope"), (broken, document)
    elif answer.status != 200:  # a jti another test spent is the one other answer
        assert "used already" in document.get("error_description", ""), document
