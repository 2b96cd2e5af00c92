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

from gistgate_dev.local.intrinsics import NO_VALUE, PSEUDO, REGION, Evaluator

__all__ = ["NO_VALUE", "PSEUDO", "REGION", "Evaluator"]
ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
ARTIFACT_BUCKET = "gistgate-test-artifacts"


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


def props(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name].get("Properties") or {}


def ref_target(template: dict[str, Any], value: Any) -> dict[str, Any]:
    """The resource a ``{"Ref": name}`` value points at."""
    assert isinstance(value, dict)
    assert set(value) == {"Ref"}, value
    return template["Resources"][value["Ref"]]
