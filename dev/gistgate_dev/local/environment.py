"""Each function's environment variables, as CloudFormation would set them.

Globals' variables merged with the function's own, every intrinsic resolved
for the given parameters and physical resource ids. Variables that resolve to
nothing (``AWS::NoValue``) are left out; empty strings stay, as in Lambda.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gistgate_dev.local.intrinsics import NO_VALUE, Evaluator

FUNCTION = "AWS::Serverless::Function"


def function_environments(
    template: Mapping[str, Any], parameters: Mapping[str, str], refs: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """logical id -> resolved environment, for every function in the template."""
    evaluator = Evaluator(template, parameters, refs)
    shared = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    result: dict[str, dict[str, str]] = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != FUNCTION:
            continue
        own = (resource.get("Properties", {}).get("Environment") or {}).get("Variables") or {}
        merged = {**shared, **own}
        env: dict[str, str] = {}
        for key, node in merged.items():
            value = evaluator.value(node)
            if value is not NO_VALUE:
                env[key] = str(value)
        result[name] = env
    return result


def parameter_values(template: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Template parameters overridden by the environment variables they feed.

    ``make dev AUTH_MODE=jwt OAUTH_ISSUER=…`` works because ``AUTH_MODE`` is
    ``!Ref AuthMode`` in the template: the variable name maps back to its parameter.
    """
    feeds: dict[str, str] = {}
    shared = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    sources = [shared] + [
        (r.get("Properties", {}).get("Environment") or {}).get("Variables") or {}
        for r in template["Resources"].values()
        if r["Type"] == FUNCTION
    ]
    for variables in sources:
        for key, node in variables.items():
            ref = node.get("Ref") if isinstance(node, dict) else None
            if isinstance(ref, str) and ref in (template.get("Parameters") or {}):
                feeds[key] = ref
    return {feeds[key]: value for key, value in env.items() if key in feeds}
