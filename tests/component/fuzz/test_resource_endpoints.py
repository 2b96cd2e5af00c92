"""The well-known documents and ``/mcp`` (with no, a broken and a valid bearer), fuzzed
over the wire through the local gateway, the authorizer and the real handlers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.component.fuzz.conftest import FuzzStack, Watch
from tests.component.fuzz.strategies import (
    fuzz_settings,
    headers,
    hosts,
    json_bodies,
    line_bytes,
    odd_text,
    query_target,
    urlencoded,
    wire,
)
from tests.fixtures.wire import exchange

WELL_KNOWN = (
    b"/prod/.well-known/oauth-protected-resource",
    b"/prod/.well-known/oauth-protected-resource/mcp",
    b"/prod/.well-known/oauth-authorization-server",
    b"/prod/.well-known/openid-configuration",
    b"/prod/.well-known/jwks.json",
)
MCP = b"/prod/mcp"
RPC = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami"}}
METHODS = ("initialize", "tools/list", "tools/call", "ping", "resources/list", "")
TOOLS = ("whoami", "list_gists", "get_gist", "get_my_profile", "create_gist", "nope")
MCP_HEADERS = [
    (b"Content-Type", b"application/json"),
    (b"Accept", b"application/json, text/event-stream"),
    (b"MCP-Protocol-Version", b"2025-11-25"),
]


def host(data: st.DataObject, fuzz: FuzzStack) -> bytes:
    """Ours most of the time, so the rest of the request is what gets tested."""
    if data.draw(st.integers(0, 7), label="odd host?"):
        return f"127.0.0.1:{fuzz.port}".encode()
    return data.draw(hosts, label="host")


@st.composite
def rpc_bodies(draw: st.DrawFn) -> bytes:
    """JSON-RPC with a real method and tool name, odd ids and arguments; or anything."""
    template = {
        **RPC,
        "id": draw(st.one_of(st.integers(), odd_text, st.none())),
        "method": draw(st.one_of(st.sampled_from(METHODS), odd_text)),
        "params": {"name": draw(st.sampled_from(TOOLS)), "arguments": {"gist_id": "1"}},
    }
    return draw(json_bodies(template))


@fuzz_settings(max_examples=200)
@given(data=st.data())
def test_well_known(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    path = data.draw(st.sampled_from(WELL_KNOWN), label="path")
    query = data.draw(urlencoded(), label="query")
    sent = data.draw(headers(), label="headers")
    target = query_target(path, query)
    answer = exchange(fuzz_stack.port, "GET", target, sent, host=host(data, fuzz_stack))
    watch.check(answer, (target, sent))


@fuzz_settings(max_examples=200)
@given(data=st.data())
def test_mcp_without_a_valid_bearer(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    method = data.draw(st.sampled_from(["POST", "GET", "DELETE"]), label="method")
    authorization = data.draw(
        st.one_of(
            st.none(),
            odd_text.map(lambda t: b"Bearer " + wire(t)),
            odd_text.map(wire),
            line_bytes,
            st.just(b"Bearer " + fuzz_stack.access_token[:-4].encode() + b"AAAA"),
        ),
        label="authorization",
    )
    extra = list(MCP_HEADERS)
    if authorization is not None:
        extra.append((b"Authorization", authorization))
    sent = data.draw(headers(extra=extra), label="headers")
    body = data.draw(rpc_bodies(), label="body")
    answer = exchange(fuzz_stack.port, method, MCP, sent, body, host=host(data, fuzz_stack))
    watch.check(answer, (method, sent, body[:200]))


@fuzz_settings(max_examples=300)
@given(data=st.data())
def test_mcp_with_a_valid_bearer(fuzz_stack: FuzzStack, watch: Watch, data: st.DataObject):
    bearer = (b"Authorization", b"Bearer " + fuzz_stack.access_token.encode())
    sent = data.draw(headers(extra=[*MCP_HEADERS, bearer]), label="headers")
    body = data.draw(st.one_of(rpc_bodies(), st.binary(max_size=100)), label="body")
    query = data.draw(st.one_of(st.just(b""), urlencoded(), line_bytes), label="query")
    target = query_target(MCP, query)
    answer = exchange(fuzz_stack.port, "POST", target, sent, body, host=host(data, fuzz_stack))
    watch.check(answer, (target, sent, body[:200]))
