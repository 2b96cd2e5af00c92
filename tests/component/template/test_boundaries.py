"""The package boundaries: which gistgate packages may import which, that every function
imports only what its layers ship, and that each layer build holds only its own domain.

The layout (docs/architecture.md): ``core`` needs nothing of ours; ``storage`` and
``tokens`` build on ``core``; the authorizer on ``tokens``; the MCP and OAuth code on
``storage`` (and OAuth on ``tokens``, for its metadata). The development tools
(``gistgate_dev``) are never imported by anything that ships.

And the public surfaces: every module lists its public names in ``__all__``, nothing
imports a name a module does not list, and no ``_`` name is imported across modules.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from tests.component.template.cfn import ROOT, props, ref_target

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
    """The gistgate package a module belongs to (``core``, ``mcp`` …), else None.

    ``gistgate.__version__`` is a name of the root package (CommonLayer ships it to every
    function), not a package of its own.
    """
    parts = module.split(".")
    if parts[0] == "gistgate_dev":
        return "gistgate_dev"
    if parts[0] != "gistgate" or len(parts) < 2 or parts[1] == "__version__":
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


# -- public surfaces --------------------------------------------------------------------

# Being restructured along with storage: no __all__ yet (add it, then drop them from here).
NO_ALL_YET: tuple[str, ...] = ()  # every module states its public names
USERS = sorted(
    path
    for folder in ("layers/common/gistgate", "dev", "functions", "tests", "bench")
    for path in (ROOT / folder).rglob("*.py")
    if "node_modules" not in path.parts
)


def _declared_all(path: Path) -> list[str] | None:
    """The names in the module's ``__all__`` (a literal list of strings), or None."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, ast.Assign | ast.AnnAssign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in targets
        ):
            assert isinstance(node.value, ast.List), path
            return [ast.literal_eval(elt) for elt in node.value.elts]
    return None


def _expected_to_list(path: Path) -> bool:
    return not str(path.relative_to(PACKAGE)).startswith(NO_ALL_YET)


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if _expected_to_list(p)],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_each_module_lists_its_public_names(path: Path):
    assert _declared_all(path) is not None, "no __all__ (docs/architecture.md, Public surfaces)"


def test_no_import_takes_an_unlisted_or_private_name():
    """``from m import name`` needs ``name`` in m's ``__all__``; ``_`` names stay in their
    module (imported or read as ``m._name``). Test seams that patch a module's global
    (``monkeypatch.setattr(m, "call", ...)``) are not imports."""
    modules = {_module_of(path): path for path in SOURCES}
    listed = {
        module: _declared_all(path) if _expected_to_list(path) else None
        for module, path in modules.items()
    }
    problems = []
    for path in USERS:
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # a local name bound to a module (``from m import x``)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            ours = node.module.split(".")[0] in ("gistgate", "gistgate_dev", "tests")
            for alias in node.names:
                if ours and alias.name.startswith("_") and not alias.name.startswith("__"):
                    problems.append(f"{where}: imports {node.module}.{alias.name}")
                if f"{node.module}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    continue
                exported = listed.get(node.module)
                if exported is not None and alias.name not in exported:
                    problems.append(f"{where}: {node.module}.{alias.name} is not in its __all__")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                problems.append(f"{where}: reads {aliases[node.value.id]}.{node.attr}")
    assert problems == [], "\n".join(sorted(set(problems)))
