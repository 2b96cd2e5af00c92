"""Local-stack benchmarks: ``make dev``'s startup until ready, and end-to-end
``tools/call`` over real HTTP through the gateway emulator, the authorizer and the MCP
function's processes, with one SDK client and with 20 concurrent ones.

The figures include moto (a server on loopback, one request at a time) and the fake
GitHub, so they describe the local stack, not Lambda.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gistgate_dev.local.dev import DevStack

from bench.util import ROOT, median, pct
from tests.fixtures.load import client_token, run_load

ONE_CLIENT_CALLS = 400
CONCURRENT_CLIENTS = 20
CONCURRENT_CALLS = 50


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def startup(runs: int = 3) -> dict[str, Any]:
    """Wall time from ``python -m gistgate_dev.local.dev`` to its ready line, median of ``runs``."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cwd:
            start = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "gistgate_dev.local.dev", "--port", str(_free_port())],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT / "layers/common")},
            )
            assert process.stdout is not None
            for line in process.stdout:
                if "ready in" in line:
                    times.append((time.perf_counter() - start) * 1000)
                    break
            process.terminate()
            process.wait(timeout=20)
    return {"ready_ms": median(times), "runs_ms": times}


def _summary(samples: list[float]) -> dict[str, float]:
    return {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99), "n": len(samples)}


def tools_call() -> dict[str, Any]:
    """p50/p99 of tools/call for one client, then 20 concurrent clients."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = DevStack(
            port=0,
            env={"RATE_LIMIT_PER_MINUTE": "100000"},
            client_file=Path(tmp) / "dev-client.json",
            quiet=True,
        ).start()
        try:
            token = client_token(stack.dev_client)
            url = stack.base_url + "/mcp"
            run_load(url, token, 1, 20)  # warm every function instance
            one = run_load(url, token, 1, ONE_CLIENT_CALLS)
            many = run_load(url, token, CONCURRENT_CLIENTS, CONCURRENT_CALLS)
        finally:
            stack.stop()
    return {
        "one_client": {tool: _summary(v) for tool, v in one.by_tool.items()}
        | {"all": _summary(one.latencies_ms)},
        "concurrent": {tool: _summary(v) for tool, v in many.by_tool.items()}
        | {"all": _summary(many.latencies_ms)},
        "errors": len(one.errors) + len(many.errors),
    }
