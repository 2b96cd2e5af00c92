"""sam build's cache never ships a layer built from an older recipe.

For a makefile layer, SAM decides whether its cache is still good from one hash: the
layer's ContentUri folder, every file's path and content, following symlinks
(samcli.lib.build.build_strategy.CachedBuildStrategy, samcli.lib.utils.hash.dir_checksum).
So every file a layer's recipe reads must be inside that folder or linked into it; the
shared layers/pydeps.mk is linked into each dependency layer. What the recipe runs (Python
3.13, pip, llvm-strip) is no file of the folder: `make build` empties the cache when that
changes (the layer-toolchain target).

The recipe inputs are read from make itself (the makefiles it parsed, the paths in the
commands it would run), not from a list kept here; a change to any of them must change
the hash; and sam build itself, on a tiny template laid out the same way, rebuilds a
layer after its shared recipe changes and SAM's hash is the one computed here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.component.template.cfn import ROOT

SAM = ROOT / ".venv-sam" / "bin" / "sam"
MAKEFILE_LAYERS = [
    "CommonLayer",
    "McpCodeLayer",
    "OAuthCodeLayer",
    "AuthorizerDepsLayer",
    "CoreDepsLayer",
    "McpDepsLayer",
]


def sam_source_hash(directory: Path) -> str:
    """samcli.lib.utils.hash.dir_checksum(directory, ignore_list=[".aws-sam"], sha256).

    Files sorted by path; each contributes its relative path and the md5 of its content,
    read through symlinks; os.walk follows linked folders. Checked against the hash sam
    build records (test_sam_build_rebuilds_a_layer_whose_shared_recipe_changed).
    """
    files = []
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True):
        dirnames[:] = [d for d in dirnames if d != ".aws-sam"]
        files += [os.path.join(dirpath, f) for f in filenames if f != ".aws-sam"]
    digest = hashlib.sha256()
    for file in sorted(files):
        digest.update(os.path.relpath(file, directory).encode())
        digest.update(
            hashlib.md5(Path(file).read_bytes(), usedforsecurity=False).hexdigest().encode()
        )
    return digest.hexdigest()


def covered_files(directory: Path) -> set[Path]:
    """The real files whose content the hash of ``directory`` reads."""
    return {
        (Path(dirpath) / name).resolve()
        for dirpath, _, names in os.walk(directory, followlinks=True)
        for name in names
    }


def content_uri(template: dict[str, Any], layer: str) -> Path:
    return ROOT / template["Resources"][layer]["Properties"]["ContentUri"]


def recipe_inputs(layer: str, folder: Path, artifacts: Path) -> set[Path]:
    """Every file or folder under layers/ that `make build-<layer>` reads, as make tells it."""
    args = ["make", "-f", str(folder / "Makefile"), f"build-{layer}", f"ARTIFACTS_DIR={artifacts}"]
    env = {"PATH": os.environ["PATH"], "PYTHON313": "false"}
    database = subprocess.run(
        [*args, "-p", "-n"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    makefiles = next(
        line.split(":=", 1)[1].split()
        for line in database.splitlines()
        if line.startswith("MAKEFILE_LIST :=")
    )
    commands = subprocess.run(
        [*args, "-n"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    paths = {(ROOT / path).resolve() for path in makefiles}
    for quoted in re.findall(r'"(/[^"$]+)"', commands):
        path = Path(quoted)
        if path.is_relative_to(ROOT / "layers") and path.exists():
            paths.add(path.resolve())
    return paths


@pytest.mark.parametrize("layer", MAKEFILE_LAYERS)
def test_every_recipe_input_is_inside_the_cache_key(
    template: dict[str, Any], layer: str, tmp_path: Path
) -> None:
    folder = content_uri(template, layer)
    assert template["Resources"][layer]["Metadata"]["BuildMethod"] == "makefile"
    inputs = recipe_inputs(layer, folder, tmp_path)
    names = {path.name for path in inputs}
    if layer.endswith("DepsLayer"):  # the recipe reads are found at all
        assert {"Makefile", "pydeps.mk", "requirements-lock.txt", "prune.txt"} <= names
    else:  # the Makefile and the package folder it copies
        assert "Makefile" in names
        assert any(path.is_dir() and path.is_relative_to(folder / "gistgate") for path in inputs)
    covered = covered_files(folder)
    for path in inputs:
        files = [p.resolve() for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        outside = [str(f.relative_to(ROOT)) for f in files if f not in covered]
        assert not outside, f"{layer} reads {outside}, which sam build's cache key misses"


@pytest.mark.parametrize("layer", MAKEFILE_LAYERS)
def test_changing_any_recipe_input_changes_the_cache_key(
    template: dict[str, Any], layer: str, tmp_path: Path
) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(
        ROOT / "layers",
        copy / "layers",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    folder = copy / content_uri(template, layer).relative_to(ROOT)
    inputs = recipe_inputs(layer, content_uri(template, layer), tmp_path / "artifacts")
    before = sam_source_hash(folder)
    for path in inputs:
        target = copy / path.relative_to(ROOT)
        if target.is_dir():
            target = target / "added_by_test.py"
            target.write_text("")
            assert sam_source_hash(folder) != before, f"adding {target} to {layer}'s recipe"
            target.unlink()
            continue
        original = target.read_bytes()
        target.write_bytes(original + b"\n# changed\n")
        assert sam_source_hash(folder) != before, f"{path.relative_to(ROOT)} ({layer})"
        target.write_bytes(original)
    assert sam_source_hash(folder) == before


# A makefile layer laid out like layers/<deps>: its Makefile includes a recipe shared from
# the parent folder, linked into the layer's folder, and installs from a lock inside it.
TINY_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  TinyLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/tiny/
      CompatibleRuntimes: [python3.13]
      CompatibleArchitectures: [arm64]
    Metadata:
      BuildMethod: makefile
      BuildArchitecture: arm64
"""
TINY_MAKEFILE = """\
HERE := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
LAYER := TinyLayer
include $(HERE)/../shared.mk
"""
SHARED_RECIPE = """\
build-$(LAYER):
\tmkdir -p "$(ARTIFACTS_DIR)/python"
\t{{ echo "{version}"; cat "$(HERE)/requirements-lock.txt"; }} > "$(ARTIFACTS_DIR)/python/built.txt"
"""


def sam_build(sam: Path, project: Path) -> tuple[str, str]:
    """`sam build --cached` in ``project``: SAM's log and the layer it built."""
    done = subprocess.run(
        [str(sam), "build", "--cached", "--region", "us-east-1"],
        cwd=project,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    built = (project / ".aws-sam/build/TinyLayer/python/built.txt").read_text()
    return done.stdout + done.stderr, built


@pytest.fixture(scope="module")
def sam() -> Path:
    """aws-sam-cli's venv; `make test` installs it for the validate and build steps, after
    this tier, so a fresh clone installs it here."""
    if not SAM.exists():
        subprocess.run(
            ["make", "-s", "-C", str(ROOT), ".venv-sam/.installed"],
            check=True,
            capture_output=True,
            timeout=900,
        )
    return SAM


@pytest.mark.slow
def test_sam_build_rebuilds_a_layer_whose_shared_recipe_changed(sam: Path, tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    (layers / "tiny").mkdir(parents=True)
    (tmp_path / "template.yaml").write_text(TINY_TEMPLATE)
    (layers / "tiny" / "Makefile").write_text(TINY_MAKEFILE)
    (layers / "tiny" / "requirements-lock.txt").write_text("lock 1\n")
    (layers / "shared.mk").write_text(SHARED_RECIPE.format(version="recipe 1"))
    (layers / "tiny" / "shared.mk").symlink_to("../shared.mk")

    log, built = sam_build(sam, tmp_path)
    assert built == "recipe 1\nlock 1\n"
    # The hash computed here is SAM's own: the recipe-input tests above rest on it.
    assert (
        f'source_hash = "{sam_source_hash(layers / "tiny")}"'
        in (tmp_path / ".aws-sam/build.toml").read_text()
    )

    log, built = sam_build(sam, tmp_path)
    assert "Valid cache found" in log  # the cache is in use: nothing changed
    assert built == "recipe 1\nlock 1\n"

    (layers / "shared.mk").write_text(SHARED_RECIPE.format(version="recipe 2"))
    log, built = sam_build(sam, tmp_path)
    assert "Cache is invalid" in log
    assert built == "recipe 2\nlock 1\n"

    (layers / "tiny" / "requirements-lock.txt").write_text("lock 2\n")
    log, built = sam_build(sam, tmp_path)
    assert "Cache is invalid" in log
    assert built == "recipe 2\nlock 2\n"


def test_make_build_empties_the_cache_when_the_toolchain_changes(tmp_path: Path) -> None:
    cache = tmp_path / ".aws-sam" / "cache" / "some-layer"

    def layer_toolchain(python313: str) -> bool:
        """Run the target; whether the cache survived it."""
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["make", "-s", "-C", str(tmp_path), "-f", str(ROOT / "Makefile"), "layer-toolchain"],
            env={"PATH": os.environ["PATH"], "PYTHON313": python313},
            capture_output=True,
            check=True,
        )
        return cache.exists()

    assert not layer_toolchain("/bin/false")  # no record of the tools yet
    assert layer_toolchain("/bin/false")
    assert layer_toolchain("/bin/false")
    assert not layer_toolchain("/bin/true")  # another Python 3.13
    assert layer_toolchain("/bin/true")
