"""gistgate/authorizer/operation.py: which tool a request names, from its MCP headers."""

from __future__ import annotations

from typing import Any

import pytest

from gistgate.authorizer.operation import called_tool


def event(headers: dict[str, Any] | None, *, method: str = "POST", resource: str = "/mcp"):
    sent = {"Authorization": "Bearer x", **(headers or {})}
    return {"httpMethod": method, "resource": resource, "headers": sent}


def test_a_tools_call_names_its_tool() -> None:
    assert called_tool(event({"Mcp-Method": "tools/call", "Mcp-Name": "create_gist"})) == (
        "create_gist"
    )


def test_header_names_are_case_insensitive_and_values_trimmed() -> None:
    found = called_tool(event({"mcp-method": " tools/call\t", "MCP-NAME": "  get_gist "}))
    assert found == "get_gist"


@pytest.mark.parametrize(
    "headers",
    [
        None,  # a 2025-revision request: no MCP headers at all
        {"Mcp-Method": "tools/list"},
        {"Mcp-Method": "tools/call"},  # no name
        {"Mcp-Method": "tools/call", "Mcp-Name": "   "},
        {"Mcp-Method": "prompts/get", "Mcp-Name": "create_gist"},
        {"Mcp-Method": "tools/call", "Mcp-Name": "x" * 129},
        {"Mcp-Method": "tools/call", "Mcp-Name": b"create_gist"},  # not text
    ],
)
def test_anything_else_names_no_tool(headers: dict[str, Any] | None) -> None:
    assert called_tool(event(headers)) is None


def test_a_repeated_header_names_no_tool() -> None:
    repeated = event({"Mcp-Method": "tools/call"})
    repeated["multiValueHeaders"] = {
        "Mcp-Method": ["tools/call"],
        "Mcp-Name": ["whoami", "create_gist"],
    }
    assert called_tool(repeated) is None


@pytest.mark.parametrize(("method", "resource"), [("GET", "/mcp"), ("POST", "/oauth/token")])
def test_only_a_post_to_the_mcp_endpoint_is_an_operation(method: str, resource: str) -> None:
    headers = {"Mcp-Method": "tools/call", "Mcp-Name": "create_gist"}
    assert called_tool(event(headers, method=method, resource=resource)) is None
