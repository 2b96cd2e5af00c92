"""One architecture for every function and layer, named in one place.

Globals.Function.Architectures anchors it (&Architecture); every layer's
CompatibleArchitectures and Metadata.BuildArchitecture are aliases of that anchor, so
they cannot drift apart. The dependency layers' wheels (pip --platform) and their locks
(uv --python-platform) are for the same machine.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.component.template.cfn import ROOT, TEMPLATE

WHEEL_PLATFORM = {"arm64": ("manylinux2014_aarch64", "aarch64-manylinux2014")}


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def child(node: yaml.Node, key: str) -> yaml.Node:
    assert isinstance(node, yaml.MappingNode), node
    for key_node, value in node.value:
        if key_node.value == key:
            return value
    raise KeyError(key)


def test_layers_alias_the_functions_architecture() -> None:
    root = yaml.compose(TEMPLATE.read_text(), Loader=yaml.SafeLoader)
    architectures = child(child(child(root, "Globals"), "Function"), "Architectures")
    assert isinstance(architectures, yaml.SequenceNode)
    (anchor,) = architectures.value
    resources = child(root, "Resources")
    layers = 0
    for name_node, resource in resources.value:
        kind = child(resource, "Type").value
        if kind == "AWS::Serverless::LayerVersion":
            layers += 1
            compatible = child(child(resource, "Properties"), "CompatibleArchitectures")
            assert [node is anchor for node in compatible.value] == [True], name_node.value
            build = child(child(resource, "Metadata"), "BuildArchitecture")
            assert build is anchor, name_node.value
        elif kind == "AWS::Serverless::Function":  # Globals' value, never its own
            with pytest.raises(KeyError):
                child(child(resource, "Properties"), "Architectures")
    assert layers == 6


def test_every_function_and_layer_agree(template: dict[str, Any]) -> None:
    (architecture,) = template["Globals"]["Function"]["Architectures"]
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        assert function["Properties"].get("Architectures", [architecture]) == [architecture], name
    layers = resources_of(template, "AWS::Serverless::LayerVersion")
    assert len(layers) == 6
    for name, layer in layers.items():
        assert layer["Properties"]["CompatibleArchitectures"] == [architecture], name
        assert layer["Metadata"]["BuildArchitecture"] == architecture, name
    wheels, lock = WHEEL_PLATFORM[architecture]
    assert f"--platform {wheels}" in (ROOT / "layers/pydeps.mk").read_text()
    assert f"--python-platform {lock}" in (ROOT / "Makefile").read_text()


@pytest.mark.slow
def test_deployed_functions_and_layers_agree(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    (architecture,) = template["Globals"]["Function"]["Architectures"]
    for name, function in resources_of(transformed, "AWS::Lambda::Function").items():
        assert function["Properties"]["Architectures"] == [architecture], name
    layers = resources_of(transformed, "AWS::Lambda::LayerVersion")
    assert len(layers) == 6
    for name, layer in layers.items():
        assert layer["Properties"]["CompatibleArchitectures"] == [architecture], name
