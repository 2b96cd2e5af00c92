"""SnapStart: do the expensive first-request work before the snapshot is taken.

The MCP function runs with SnapStart (template.yaml), so its init (imports,
the tool registry) is captured once per published version and restored on
each cold start. Some costs only appear on the first request: boto3 loads
each service model when a client is built, and the SDK builds validators and
serialisers on first use. The before-snapshot hook pays them by building the
AWS clients and running one ``tools/list`` through the real handler, so a
restored environment answers its first call warm.

Nothing secret is fetched before the snapshot (no GitHub token, no vault
read), no connection is opened, and randomness comes from ``os.urandom``
(tickets, correlation ids), which stays unique after a restore.
``snapshot_restore_py`` exists only in Lambda's Python runtime; elsewhere the
hooks are not registered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from gistgate.storage.aws import client

__all__ = ["register_snapstart_hooks"]

AWS_SERVICES = ("dynamodb", "kms", "secretsmanager")


def warmup_event() -> dict[str, Any]:
    """A REST API event for ``tools/list`` from a synthetic, short-lived caller."""
    body = {"jsonrpc": "2.0", "id": "warmup", "method": "tools/list", "params": {}}
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
    }
    return {
        "resource": "/mcp",
        "path": "/mcp",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/mcp",
            "httpMethod": "POST",
            "path": "/warmup/mcp",
            "stage": "warmup",
            "domainName": "warmup.invalid",
            "requestId": "warmup",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"sub": "snapstart-warmup", "exp": str(int(time.time()) + 60)},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def prewarm(asgi_handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> int:
    """Build the AWS clients and serve one ``tools/list``; returns its HTTP status."""
    for service in AWS_SERVICES:
        client(service)
    return int(asgi_handler(warmup_event(), None)["statusCode"])


def register_snapstart_hooks(asgi_handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> bool:
    """Register :func:`prewarm` as the before-snapshot hook, when running on Lambda."""
    try:
        from snapshot_restore_py import register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(lambda: prewarm(asgi_handler))
    return True
