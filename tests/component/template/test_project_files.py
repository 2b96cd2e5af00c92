"""samconfig.toml, env.json and events/: consistent with the template, no real tokens."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from typing import Any

import pytest

from tests.component.template.cfn import ROOT

EVENTS = ROOT / "events"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/POST/mcp"
API_DOMAIN = "abcdef1234.execute-api.us-east-1.amazonaws.com"
# Shapes of real credentials that must never be committed, even as examples.
SECRET_SHAPES = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_|\b(AKIA|ASIA)[A-Z0-9]{16}\b"
    r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."
)


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


@pytest.mark.parametrize(
    ("env", "stack"),
    [
        ("default", "gistgate"),
        ("dev", "gistgate-dev"),
        ("prod", "gistgate-prod"),
    ],
)
def test_samconfig_environments(
    samconfig: dict[str, Any], template: dict[str, Any], env: str, stack: str
):
    deploy = samconfig[env]["deploy"]["parameters"]
    assert deploy["stack_name"] == stack
    assert deploy["region"] == "us-east-1"
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    overrides = dict(item.split("=", 1) for item in shlex.split(deploy["parameter_overrides"]))
    for name, value in overrides.items():
        spec = template["Parameters"][name]
        if "AllowedValues" in spec:
            assert value in spec["AllowedValues"], name
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), name
        if "MaxValue" in spec:
            assert int(spec["MinValue"]) <= int(value) <= int(spec["MaxValue"]), name


def test_env_json_overrides_only_declared_variables(template: dict[str, Any]):
    env = json.loads((ROOT / "env.json").read_text())
    shared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for function, variables in env.items():
        resource = template["Resources"][function]
        assert resource["Type"] == "AWS::Serverless::Function"
        own = (resource["Properties"].get("Environment") or {}).get("Variables") or {}
        assert set(variables) <= shared | set(own), function
        assert all(isinstance(v, str) for v in variables.values()), function


@pytest.mark.parametrize(
    ("name", "authorization"),
    [
        ("authorizer-no-token.json", None),
        ("authorizer-valid-token.json", "Bearer eyJhbGciOiJFUzI1NiJ9.PLACEHOLDER.PLACEHOLDER"),
        (
            "authorizer-expired-token.json",
            "Bearer eyJhbGciOiJFUzI1NiJ9.EXPIRED-PLACEHOLDER.PLACEHOLDER",
        ),
    ],
)
def test_authorizer_events_are_real_shaped(name: str, authorization: str | None):
    event = json.loads((EVENTS / name).read_text())
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == METHOD_ARN
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/mcp", "/mcp", "POST")
    assert event["headers"].get("Authorization") == authorization
    assert event["multiValueHeaders"].get("Authorization") == (
        [authorization] if authorization else None
    )
    context = event["requestContext"]
    assert context["domainName"] == API_DOMAIN
    assert context["stage"] == "prod"
    assert context["apiId"] == "abcdef1234"
    assert context["path"] == "/prod/mcp"


def test_well_known_event_is_a_proxy_event():
    event = json.loads((EVENTS / "wellknown-prm.json").read_text())
    path = "/.well-known/oauth-protected-resource/mcp"
    assert (event["resource"], event["path"], event["httpMethod"]) == (path, path, "GET")
    assert "Authorization" not in event["headers"]
    assert event["requestContext"]["domainName"] == API_DOMAIN
    assert event["requestContext"]["stage"] == "prod"


def test_no_credential_shaped_strings_in_samples():
    files = [*EVENTS.glob("*.json"), ROOT / "env.json", ROOT / "samconfig.toml"]
    for path in files:
        assert not SECRET_SHAPES.search(path.read_text()), path.name
