"""The locks (`make lock`): what the layers install, and the versions the tests run.

layers/server-lock.txt pins pyproject.toml's server extra (and the base httpx), every
dependency included, with hashes, resolved for the python3.13/arm64 runtime. Each
dependency layer's requirements-lock.txt pins its requirements.txt at the same versions,
and the layer installs it with --require-hashes --no-deps, so the lock must be closed.
The tests' venv is constrained to the server lock's versions (the Makefile's venv rule):
the tests exercise exactly the versions that ship.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.component.template.cfn import ROOT

SERVER_LOCK = ROOT / "layers" / "server-lock.txt"
DEPS_LAYERS = sorted(path.parent.name for path in (ROOT / "layers").glob("*/requirements.txt"))
# The environment the locks are resolved for: Lambda's python3.13 on arm64.
RUNTIME = {
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
}


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line):
            name = canonicalize_name(match.group(1))
            pins[name] = (match.group(2), [])
        elif match := re.match(r"^\s+--hash=(sha256:[0-9a-f]{64})", line):
            pins[name][1].append(match.group(1))
        else:
            assert not line.strip() or line.lstrip().startswith("#"), (path, line)
    return pins


def top_level(path: Path) -> list[Requirement]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def pyproject_server() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["server"]
    ]


def test_server_lock_pins_every_server_requirement_within_its_range() -> None:
    pins = read_lock(SERVER_LOCK)
    for requirement in pyproject_server():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in the lock: make lock"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside pyproject.toml's {requirement}: make lock"
        )
    for name, (version, hashes) in pins.items():
        assert hashes, f"{name}=={version} has no hash"


@pytest.mark.parametrize("layer", DEPS_LAYERS)
def test_layer_lock_is_its_requirements_at_the_server_pins(layer: str) -> None:
    folder = ROOT / "layers" / layer
    server = read_lock(SERVER_LOCK)
    pins = read_lock(folder / "requirements-lock.txt")
    allowed = {canonicalize_name(r.name) for r in pyproject_server()}
    for requirement in top_level(folder / "requirements.txt"):
        name = canonicalize_name(requirement.name)
        # The ranges live in pyproject.toml only; a layer names what it installs.
        assert not requirement.specifier, f"{layer}: {requirement} (ranges: pyproject.toml)"
        assert name in allowed, f"{layer}: {name} is not a server dependency in pyproject.toml"
        assert name in pins, f"{layer}: {name} is not locked: make lock"
    for name, (version, hashes) in pins.items():
        assert server.get(name, ("",))[0] == version, f"{layer}: {name}=={version}: make lock"
        assert hashes, f"{layer}: {name}=={version} has no hash"
        assert set(hashes) == set(server[name][1]), f"{layer}: {name}'s hashes: make lock"


def runtime_requires(name: str, extras: set[str]) -> set[str]:
    """What package ``name`` (with ``extras``) needs on the runtime, from its metadata.

    The metadata is this venv's copy, the same version (test_venv_runs_the_locked_versions).
    """
    needed = set()
    for line in metadata.requires(name) or []:
        requirement = Requirement(line)
        marker = requirement.marker or Marker("python_version >= '0'")
        if any(marker.evaluate({**RUNTIME, "extra": extra}) for extra in extras | {""}):
            needed.add(canonicalize_name(requirement.name))
            needed |= {f"{canonicalize_name(requirement.name)}[{e}]" for e in requirement.extras}
    return needed


@pytest.mark.parametrize("layer", DEPS_LAYERS)
def test_layer_lock_is_closed_for_the_runtime(layer: str) -> None:
    """pip installs the lock with --no-deps: a dependency missing here is missing in Lambda."""
    folder = ROOT / "layers" / layer
    pins = read_lock(folder / "requirements-lock.txt")
    wanted = {
        canonicalize_name(r.name): set(r.extras) for r in top_level(folder / "requirements.txt")
    }
    todo = list(wanted)
    while todo:
        name = todo.pop()
        for needed in runtime_requires(name, wanted.get(name, set())):
            base, _, extra = needed.partition("[")
            assert base in pins, f"{layer}: {name} needs {base}, which the lock lacks"
            extras = {extra.rstrip("]")} if extra else set()
            if base not in wanted or not extras <= wanted[base]:
                wanted[base] = wanted.get(base, set()) | extras
                todo.append(base)
    assert set(wanted) == set(pins), f"{layer} locks more than it needs: {set(pins) - set(wanted)}"


def test_venv_runs_the_locked_versions() -> None:
    """The tests run what the layers ship (make's venv rule: pip install -c <lock>)."""
    wrong = {}
    for name, (version, _) in read_lock(SERVER_LOCK).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong[name] = f"{installed} (lock: {version})"
    assert not wrong, f"the venv is not the lock's versions, rebuild it (make unit): {wrong}"


def test_layers_install_their_lock_with_hashes_and_nothing_else() -> None:
    recipe = (ROOT / "layers" / "pydeps.mk").read_text()
    install = recipe[recipe.index("-m pip install") :].split("\n\tfind", 1)[0]
    assert "--require-hashes" in install
    assert "--no-deps" in install
    assert '-r "$(HERE)/requirements-lock.txt"' in install
    assert "requirements.txt" not in install


def test_every_dependency_layer_has_a_lock(template: dict[str, Any]) -> None:
    """The layers built by pydeps.mk are the folders `make lock` and these tests cover."""
    folders = {
        Path(layer["Properties"]["ContentUri"]).name
        for layer in template["Resources"].values()
        if layer["Type"] == "AWS::Serverless::LayerVersion"
        and "pydeps.mk" in (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    }
    assert folders == set(DEPS_LAYERS) == {"authorizer-deps", "core-deps", "mcp-deps"}
    for folder in folders:
        assert (ROOT / "layers" / folder / "requirements-lock.txt").is_file(), folder
