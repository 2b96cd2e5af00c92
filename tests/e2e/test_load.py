"""Load through the local stack: 20 concurrent SDK clients x 50 tools/call, no error,
and no lost write (every created gist has its ownership record in the table)."""

from __future__ import annotations

import boto3

from tests.fixtures.load import client_token, run_load

CLIENTS = 20
CALLS = 50


def test_twenty_concurrent_clients_fifty_calls_each_lose_nothing(make_dev_stack):
    stack = make_dev_stack(RATE_LIMIT_PER_MINUTE="100000")
    token = client_token(stack.dev_client)
    result = run_load(stack.base_url + "/mcp", token, CLIENTS, CALLS)

    assert result.errors == []
    assert len(result.latencies_ms) == CLIENTS * CALLS
    assert len(result.created) == CLIENTS * CALLS // 2
    assert len(set(result.created)) == len(result.created)
    host, port = stack.moto.get_host_and_port()
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    table = stack.resources["Table"]
    owners = set()
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        owners |= {i["pk"]["S"][5:] for i in page["Items"] if i["sk"]["S"] == "OWNER"}
    missing = [gist for gist in result.created if gist not in owners]
    assert missing == []
    assert set(result.created) <= set(stack.github.gists)
