"""``make dev``'s command as a user runs it: the banner, the dev client file, and a clean
stop on Ctrl-C (every function process gone); and the stack it starts, as configured by
the template."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_make_dev_prints_what_to_paste_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gistgate_dev.local.dev", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers/common")},
    )
    try:
        banner = []
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        for line in process.stdout:
            banner.append(line)
            if "ready in" in line or time.monotonic() > deadline:
                break
        text = "".join(banner)
        mcp = f"http://127.0.0.1:{port}/mcp"
        assert f"MCP URL        {mcp}" in text
        assert f"claude mcp add --transport http gistgate-local {mcp}" in text
        assert json.dumps({"servers": {"gistgate-local": {"type": "http", "url": mcp}}}) in text
        assert "@modelcontextprotocol/inspector" in text
        assert f"gistgate token --dev --port {port}" in text
        client_file = tmp_path / ".gistgate" / "dev-client.json"
        assert stat.S_IMODE(client_file.stat().st_mode) == 0o600
        client = json.loads(client_file.read_text())
        assert client["token_endpoint"] == f"http://127.0.0.1:{port}/oauth/token"
        assert httpx.post(mcp, json={}).status_code == 401
        workers = _children(process.pid)
        assert len(workers) >= 4  # one process per function, at least
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=20)
        process.stdout.close()
        process.stderr.close()
    assert code == 0
    time.sleep(0.2)
    assert [pid for pid in workers if _alive(pid)] == []
    try:
        httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
        raise AssertionError("the port still answers")
    except httpx.TransportError:
        pass


def test_the_dev_stack_takes_the_challenge_scopes_from_the_template(tmp_path):
    """OAUTH_REQUIRED_SCOPES and DefaultScopes feed the GatewayResponses resource: the local
    401 suggests them (the 403's challenge comes from the authorizer, per request)."""
    from gistgate_dev.local.dev import DevStack

    stack = DevStack(
        port=0, env={"OAUTH_REQUIRED_SCOPES": "gists:base"}, client_file=tmp_path / "c.json"
    )
    try:
        stack.start()
        gateway = stack.server.gateway
        challenges = gateway._challenges("127.0.0.1:1")
        challenge = challenges["UNAUTHORIZED"].headers["WWW-Authenticate"]
        assert 'scope="gists:base read:gists write:gists"' in challenge
        assert challenges["ACCESS_DENIED"].mapped == {
            "WWW-Authenticate": "context.authorizer.www_authenticate"
        }
    finally:
        stack.stop()
