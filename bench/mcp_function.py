"""MCP function benchmarks: warm tools/call through the Mangum handler,
cold import of the handler, and the built artifact's size.

The handler is the real ``functions/mcp/app.py`` with real AWS calls answered by
moto in-process (the rate limiter's conditional update and the vault read run on
every call) and GitHub answered by the fake on loopback. The calls are raw
JSON-RPC ``tools/call`` events (what API Gateway delivers), so the figures are the
function's own cost, not a client's.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from gistgate_dev.local.fake_github import FakeGitHub
from gistgate_dev.local.provision import provision_from_file
from moto import mock_aws

from bench.util import (
    ROOT,
    cold_start,
    fresh_interpreter_ms,
    median,
    quiet_stdout,
    summary,
    timed,
    zip_size,
)
from gistgate.mcp.ownership import Ownership
from tests.fixtures.lambda_runtime import LambdaContext, authorizer_context, rest_event

N_CALLS = 2_000
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def _call_event(tool: str, arguments: dict[str, Any], sub: str) -> dict[str, Any]:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
    )
    return rest_event(
        "POST",
        "/mcp",
        body=body,
        headers=HEADERS,
        authorizer=authorizer_context(sub, "read:gists write:gists"),
    )


def warm_calls() -> dict[str, Any]:
    """p50/p99 of whoami and create_gist through the handler, N_CALLS each."""
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    os.environ.update(env)
    with mock_aws(), FakeGitHub(rate_limit=10**9) as github:
        ids = provision_from_file(ROOT / "template.yaml", boto3.session.Session())
        github.add_user("bench-service-token", "bench-bot", 1)
        os.environ.update(
            GITHUB_API_URL=github.url,
            GITHUB_SERVICE_TOKEN="bench-service-token",
            TABLE_NAME=ids["Table"],
            GISTGATE_KMS_KEY_ID=ids["TokenKey"],
            RATE_LIMIT_PER_MINUTE="100000",
        )
        app = cold_start("mcp")
        context = LambdaContext()
        whoami = _call_event("whoami", {}, "bench-user")
        create = _call_event("create_gist", {"files": {"bench.txt": "x" * 200}}, "bench-user")

        def call(event: dict[str, Any]) -> None:
            result = app.handler(event, context)
            assert result["statusCode"] == 200, result
            assert '"isError":false' in result["body"], result["body"][:300]

        table = Ownership(ids["Table"])
        recorded = 0

        def settle() -> None:
            """Check the gist's ownership items, then drop them and the gist (untimed).

            moto's TransactWriteItems deep-copies every table for its rollback, so a
            table that grows by two items per call makes each call slower; DynamoDB
            does not. Keeping the table at its starting size measures our code.
            """
            nonlocal recorded
            for gist_id in list(github.gists):
                owner = table.owner(gist_id)
                assert owner is not None, gist_id
                assert owner.sub == "bench-user", gist_id
                table.remove(gist_id, owner)
                del github.gists[gist_id]
                recorded += 1

        with quiet_stdout():
            stats = {
                "whoami": summary(timed(lambda: call(whoami), N_CALLS, warmup=50)),
                "create_gist": summary(
                    timed(lambda: call(create), N_CALLS, warmup=50, between=settle)
                ),
            }
        stats["gists_created"] = github.count("POST", "/gists")
        stats["ownership_recorded"] = recorded
        return stats


def cold_import() -> dict[str, Any]:
    """Fresh interpreters importing functions/mcp/app.py (median of 7)."""
    code = (
        "import importlib.util as u; s=u.spec_from_file_location('app', "
        f"'{ROOT}/functions/mcp/app.py'); m=u.module_from_spec(s); s.loader.exec_module(m)"
    )
    env = {"AUTH_MODE": "builtin", "AWS_DEFAULT_REGION": "us-east-1"}
    pyc = str(ROOT / ".bench" / "pycache-mcp")
    with_pyc = fresh_interpreter_ms(code, env, runs=7, pyc=pyc)
    without_pyc = fresh_interpreter_ms(code, env, runs=3, pyc=None)
    sdk_only = fresh_interpreter_ms(
        "import mcp.server.mcpserver, fastapi, mangum", env, runs=7, pyc=pyc
    )
    return {
        "import_ms": median(with_pyc),
        "import_min_ms": min(with_pyc),
        "import_no_pyc_ms": median(without_pyc),
        "sdk_fastapi_mangum_ms": median(sdk_only),
    }


def artifact_size() -> dict[str, Any]:
    build = ROOT / ".aws-sam" / "build"
    parts = [
        build / "McpFunction",
        build / "CommonLayer",
        build / "McpCodeLayer",
        build / "McpDepsLayer",
    ]
    missing = [p.name for p in parts if not p.is_dir()]
    if missing:
        return {"error": f"run `make build` first (missing {', '.join(missing)})"}
    return {
        "parts_mb": {p.name: zip_size("mcp", [p]) / 1e6 for p in parts},
        "total_mb": zip_size("mcp", parts) / 1e6,
        "pyc_files": sum(1 for p in parts for _ in p.rglob("*.pyc")),
    }
