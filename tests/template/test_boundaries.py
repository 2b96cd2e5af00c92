"""The package boundaries: which gistgate packages may import which, that every function
imports only what its layers ship, and that each layer build holds only its own domain.

The layout (docs/architecture.md): ``core`` needs nothing of ours; ``storage`` and
``tokens`` build on ``core``; the authorizer on ``tokens``; the MCP and OAuth code on
``storage`` (and OAuth on ``tokens``, for its metadata). The development tools
(``gistgate_dev``) are never imported by anything that ships.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from tests.template.cfn import ROOT, props, ref_target

PACKAGE = ROOT / "layers/common/gistgate"
ALLOWED = {
    "core": {"core"},
    "storage": {"core", "storage"},
    "tokens": {"core", "tokens"},
    "authorizer": {"core", "tokens", "authorizer"},
    "cfn": {"core", "cfn"},
    "mcp": {"core", "storage", "mcp"},
    "oauth": {"core", "storage", "tokens", "oauth"},
}
# What each layer built from the gistgate package ships (layers/common/Makefile).
LAYER_PACKAGES = {
    "CommonLayer": {"core", "storage", "tokens", "authorizer", "cfn"},
    "McpCodeLayer": {"mcp"},
    "OAuthCodeLayer": {"oauth"},
}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _ours(module: str) -> str | None:
    """The gistgate package a module belongs to (``core``, ``mcp`` …), else None."""
    parts = module.split(".")
    if parts[0] == "gistgate_dev":
        return "gistgate_dev"
    if parts[0] != "gistgate" or len(parts) < 2:
        return None
    return parts[1]


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _packages_imported(path: Path) -> set[str]:
    return {p for p in (_ours(m) for m in _imports(path)) if p}


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_package_is_in_the_map():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_what_its_package_may(path: Path):
    own = _ours(_module_of(path))
    if own is None:  # gistgate/__init__.py
        assert _packages_imported(path) == set()
        return
    assert _packages_imported(path) <= ALLOWED[own], (own, _packages_imported(path))


def _closure(start: set[str]) -> set[str]:
    """The gistgate packages reachable from ``start`` through their allowed imports."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        todo.extend(ALLOWED.get(package, set()) - seen)
    return seen


FUNCTIONS = {
    "AuthorizerFunction": "authorizer",
    "McpFunction": "mcp",
    "OAuthFunction": "oauth",
    "WellKnownFunction": "wellknown",
    "GatewayResponsesFunction": "gateway_responses",
}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_each_function_imports_only_what_its_layers_ship(template, logical_id):
    function = props(template, logical_id)
    shipped: set[str] = set()
    for layer_ref in function["Layers"]:
        layer_id = layer_ref["Ref"]
        shipped |= LAYER_PACKAGES.get(layer_id, set())
    handler = ROOT / function["CodeUri"] / "app.py"
    needed = _closure(_packages_imported(handler))
    assert "gistgate_dev" not in needed
    assert needed <= shipped, (logical_id, needed - shipped)


@pytest.mark.parametrize("layer", sorted(LAYER_PACKAGES))
def test_each_layer_build_holds_only_its_own_domain(template, layer, tmp_path):
    content = ROOT / ref_target(template, {"Ref": layer})["Properties"]["ContentUri"]
    subprocess.run(
        ["make", "-s", "-f", str(content / "Makefile"), f"build-{layer}"],
        env={"ARTIFACTS_DIR": str(tmp_path), "PYTHON313": "false", "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    built = tmp_path / "python" / "gistgate"
    packages = {p.name for p in built.iterdir() if p.is_dir()}
    assert packages == LAYER_PACKAGES[layer]
    assert not list(built.rglob("gistgate_dev"))
    assert not list(built.rglob("*.pyc"))  # precompiling is the real build's job
