"""Every OAuth endpoint, fuzzed over the wire through the local gateway and the real
handler: whatever arrives, the answer is below 500, the connection is not dropped,
no secret is in it, and no traceback is logged (tests/fuzz/conftest.py ``Watch``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gistgate.oauth.pkce import new_pair
from tests.component.fuzz.conftest import FuzzStack, Watch
from tests.component.fuzz.strategies import (
    OAUTH_NAMES,
    fuzz_settings,
    headers,
    hosts,
    json_bodies,
    line_bytes,
    odd_text,
    one_field_changed,
    query_target,
    urlencoded,
    wire,
)
from tests.fixtures.enterprise import JWT_BEARER
from tests.fixtures.oauth_stack import CLIENT_REDIRECT
from tests.fixtures.wire import exchange

BROWSER_GETS = (
    b"/prod/oauth/authorize",
    b"/prod/oauth/callback",
    b"/prod/oauth/github/connect",
    b"/prod/oauth/github/callback",
)
FORM_POSTS = (b"/prod/oauth/consent", b"/prod/oauth/token", b"/prod/oauth/revoke")
FORM = (b"Content-Type", b"application/x-www-form-urlencoded")
JSON = (b"Content-Type", b"application/json")
_, CHALLENGE = new_pair()


def valid_values(fuzz: FuzzStack) -> dict[str, tuple[str, ...]]:
    """Real values, so a request gets past the first check to the code behind it."""
    return {
        "client_id": (fuzz.client_id, fuzz.confidential_id, fuzz.enterprise_id),
        "redirect_uri": (CLIENT_REDIRECT,),
        "response_type": ("code",),
        "code_challenge": (CHALLENGE,),
        "code_challenge_method": ("S256",),
        "resource": (fuzz.stack.mcp_url,),
        "scope": ("read:gists", "read:gists write:gists"),
        "state": ("client-state-1",),
        "grant_type": ("authorization_code", "refresh_token", "client_credentials", JWT_BEARER),
        "decision": ("approve", "deny"),
    }


def host(data: st.DataObject, fuzz: FuzzStack) -> bytes:
    """Ours most of the time, so the rest of the request is what gets tested."""
    if data.draw(st.integers(0, 7), label="odd host?"):
        return f"127.0.0.1:{fuzz.port}".encode()
    return data.draw(hosts, label="host")


def cookies() -> st.SearchStrategy[tuple[bytes, bytes]]:
    crumb = st.tuples(
        st.sampled_from(["gg-flow", "gg-browser", "gg-session", "__Host-gg-flow", "x"]), odd_text
    ).map(lambda c: wire(f"{c[0]}={c[1]}"))
    return st.lists(crumb, max_size=3).map(lambda cs: (b"Cookie", b"; ".join(cs)))


def authorizations(fuzz: FuzzStack) -> st.SearchStrategy[tuple[bytes, bytes]]:
    import base64

    basic = st.tuples(
        st.sampled_from([fuzz.confidential_id, fuzz.client_id, fuzz.enterprise_id]), odd_text
    ).map(lambda pair: b"Basic " + base64.b64encode(wire(f"{pair[0]}:{pair[1]}")))
    other = st.one_of(
        odd_text.map(lambda t: b"Basic " + wire(t)),
        odd_text.map(wire),
        line_bytes,
        st.just(fuzz.enterprise_authorization.encode()),  # the real one: on to the grant
    )
    return st.one_of(basic, other).map(lambda value: (b"Authorization", value))


@fuzz_settings(max_examples=300)
@given(data=st.data())
def test_browser_get_endpoints(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    path = data.draw(st.sampled_from(BROWSER_GETS), label="path")
    query = data.draw(urlencoded(valid=valid_values(fuzz_stack)), label="query")
    sent = data.draw(headers(extra=[data.draw(cookies(), label="cookies")]), label="headers")
    target = query_target(path, query)
    answer = exchange(fuzz_stack.port, "GET", target, sent, host=host(data, fuzz_stack))
    watch.check(answer, (target, sent))


@fuzz_settings(max_examples=300)
@given(data=st.data())
def test_form_endpoints(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    path = data.draw(st.sampled_from(FORM_POSTS), label="path")
    body = data.draw(urlencoded(valid=valid_values(fuzz_stack)), label="body")
    extra = [FORM, data.draw(cookies(), label="cookies")]
    if data.draw(st.booleans(), label="with authorization"):
        extra.append(data.draw(authorizations(fuzz_stack), label="authorization"))
    sent = data.draw(headers(extra=extra), label="headers")
    answer = exchange(fuzz_stack.port, "POST", path, sent, body, host=host(data, fuzz_stack))
    watch.check(answer, (path, body, sent))


@fuzz_settings(max_examples=200)
@given(data=st.data())
def test_authorize_with_a_field_changed(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    """Past the decoding, into the flow: client lookup, PKCE, resource, scope, consent."""
    request = {name: values[0] for name, values in valid_values(fuzz_stack).items()}
    query = data.draw(one_field_changed(request), label="query")
    target = query_target(b"/prod/oauth/authorize", query)
    answer = exchange(fuzz_stack.port, "GET", target)
    watch.check(answer, target)


@fuzz_settings(max_examples=200)
@given(data=st.data())
def test_token_with_a_field_changed(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    """Past the decoding, into the grants: client authentication, refresh, scope, resource."""
    request = {
        "grant_type": "refresh_token",
        "refresh_token": fuzz_stack.refresh_token,
        "client_id": fuzz_stack.client_id,
        "scope": "read:gists",
        "resource": fuzz_stack.stack.mcp_url,
    }
    body = data.draw(one_field_changed(request), label="body")
    answer = exchange(fuzz_stack.port, "POST", b"/prod/oauth/token", [FORM], body)
    watch.check(answer, body)


@fuzz_settings(max_examples=150)
@given(data=st.data())
def test_token_with_a_client_assertion_changed(
    fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject
):
    """private_key_jwt: any assertion (type, JOSE header, claims, signature) is a 4xx."""
    request = {
        "grant_type": "refresh_token",
        "refresh_token": fuzz_stack.refresh_token,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": (
            "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0."
            "eyJpc3MiOiJjIiwic3ViIjoiYyIsImF1ZCI6ImEiLCJleHAiOjEsImp0aSI6ImoifQ.c2ln"
        ),
    }
    body = data.draw(one_field_changed(request), label="body")
    answer = exchange(fuzz_stack.port, "POST", b"/prod/oauth/token", [FORM], body)
    watch.check(answer, body)


@fuzz_settings(max_examples=300)
@given(data=st.data())
def test_register(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    template = {
        "client_name": "Fuzz client",
        "redirect_uris": [CLIENT_REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "read:gists",
    }
    body = data.draw(json_bodies(template), label="body")
    extra = [JSON]
    if data.draw(st.booleans(), label="with authorization"):
        extra.append(data.draw(authorizations(fuzz_stack), label="authorization"))
    sent = data.draw(headers(extra=extra), label="headers")
    path = b"/prod/oauth/register"
    answer = exchange(fuzz_stack.port, "POST", path, sent, body, host=host(data, fuzz_stack))
    watch.check(answer, (body[:200], sent))


@fuzz_settings(max_examples=150)
@given(data=st.data())
def test_register_a_native_keyed_client(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    """application_type, a private-use scheme, private_key_jwt with a jwks_uri: any change is
    a 201 or a 4xx, never a 5xx (and the jwks_uri is only checked, never fetched here)."""
    template = {
        "client_name": "Fuzz native",
        "application_type": "native",
        "redirect_uris": ["com.example.fuzz:/callback"],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "RS256",
        "jwks_uri": "https://keys.example/jwks.json",
        "grant_types": ["authorization_code"],
    }
    body = data.draw(json_bodies(template), label="body")
    path = b"/prod/oauth/register"
    answer = exchange(fuzz_stack.port, "POST", path, [JSON], body, host=host(data, fuzz_stack))
    watch.check(answer, body[:200])


@fuzz_settings(max_examples=200)
@given(data=st.data())
def test_any_body_on_any_oauth_endpoint(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    """The wrong kind of body: JSON to a form endpoint, a form or raw bytes as JSON."""
    path = data.draw(st.sampled_from((*FORM_POSTS, b"/prod/oauth/register")), label="path")
    body = data.draw(
        st.one_of(json_bodies(), urlencoded(OAUTH_NAMES), st.binary(max_size=200)), label="body"
    )
    content_type = data.draw(st.sampled_from([FORM, JSON, (b"Content-Type", b"\xff;")]))
    answer = exchange(fuzz_stack.port, "POST", path, [content_type], body)
    watch.check(answer, (path, body[:200]))


@fuzz_settings(max_examples=150)
@given(data=st.data())
def test_any_method_and_target(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))
    path = data.draw(
        st.one_of(
            st.sampled_from((*BROWSER_GETS, *FORM_POSTS, b"/prod/oauth/register", b"/prod/")),
            line_bytes.map(lambda b: b"/prod/oauth/" + b.replace(b" ", b"")),
        ),
        label="path",
    )
    query = data.draw(st.one_of(st.just(b""), line_bytes), label="query")
    target = query_target(path, query)
    answer = exchange(fuzz_stack.port, method, target, host=host(data, fuzz_stack))
    watch.check(answer, (method, target))
