"""Offline helpers for template tests: load, transform like ``sam deploy``, lint, evaluate.

``sam validate --lint`` lints the *untransformed* template, which hides cycles
that only exist after the SAM transform (E3004), so these tests transform with
samtranslator first and lint the result with cfn-lint.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ARTIFACT_BUCKET = "gistgate-test-artifacts"
REGION = "us-east-1"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "gistgate",
}
NO_VALUE = object()


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain JSON data, short-form intrinsics expanded (cfn-lint's loader)."""
    from cfnlint.decode.cfn_yaml import load

    return json.loads(json.dumps(load(str(path))))


def package(template: Mapping[str, Any]) -> dict[str, Any]:
    """What ``sam package`` does to the code: local CodeUri/ContentUri become S3 URIs."""
    packaged = copy.deepcopy(dict(template))
    for name, resource in packaged["Resources"].items():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://{ARTIFACT_BUCKET}/{name}.zip"
    return packaged


class NoManagedPolicies:
    """Stands in for samtranslator's ManagedPolicyLoader (which would call IAM).

    The template names no managed policy; SAM builds the basic execution role ARN itself.
    """

    def load(self) -> dict[str, str]:
        return {}


def transform(template: Mapping[str, Any], parameters: Mapping[str, Any] | None = None) -> dict:
    """The SAM transform as CloudFormation runs it, offline, in ``REGION``."""
    from samtranslator.translator.transform import transform as sam_transform

    # samtranslator reads the region (hence the partition) from boto3's environment.
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION}):
        return sam_transform(package(template), dict(parameters or {}), NoManagedPolicies())


def lint(template: Mapping[str, Any]) -> list[Any]:
    """cfn-lint matches for a (transformed) template."""
    from cfnlint.api import lint as cfn_lint

    return cfn_lint(json.dumps(template), regions=[REGION])


class Evaluator:
    """Resolves the intrinsics our template uses, for given parameter values.

    Resources resolve to ``refs[name]`` (e.g. the API id) or ``<Name>``.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str] | None = None,
        refs: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.params = {
            name: str(spec.get("Default", ""))
            for name, spec in (template.get("Parameters") or {}).items()
        }
        self.params.update(parameters or {})
        self.params.update(PSEUDO)
        self.refs = dict(refs or {})

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def _ref(self, name: str) -> str:
        if name in self.params:
            return self.params[name]
        return self.refs.get(name, f"<{name}>")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.value(variables[name]))
            return self._ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self._ref(arg)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self._sub(text, variables)
            if key == "Fn::If":
                cond, then, otherwise = arg
                return self.value(then if self.condition(cond) else otherwise)
            if key == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(i) for i in self.value(items))
            if key == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.refs.get(f"{name}.{attr}", f"<{name}.{attr}>")
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}


def intrinsic_names(node: Any) -> set[str]:
    """Every resource or parameter name a value refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= intrinsic_names(item)
    elif isinstance(node, dict):
        for key, arg in node.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg.split(".")[0])
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(arg, str):
                    found |= intrinsic_names(arg[1])
            else:
                found |= intrinsic_names(arg)
    return found
