"""`pip install gistgate` (no extras) is enough for the `gistgate token` command.

A CI runner that only needs a token should not pull PyJWT, Powertools, the MCP SDK, FastAPI
and Mangum. The check: every installed package outside the closure of pyproject.toml's base
`[project].dependencies` is made unimportable, and the CLI must still import and parse.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

_PROBE = """
import importlib.abc, json, sys
BLOCKED = set(json.loads(sys.argv[1]))

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is a server dependency")
        return None

sys.meta_path.insert(0, Blocker())
from gistgate_dev.cli import build_parser
args = build_parser().parse_args(["token", "--issuer", "https://as.example", "--client-id", "c"])
print(json.dumps({
    "command": args.command,
    "issuer": args.issuer,
    "modules": sorted({m.partition(".")[0] for m in sys.modules}),
}))
"""


def _probe(blocked: set[str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(sorted(blocked))],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _requirement_name(requirement: str) -> str:
    return _normal(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0])


def _closure(names: list[str]) -> set[str]:
    """The named distributions and everything they require, as installed here."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a marker excludes it here: nothing imports it
            continue
        for requirement in requirements:
            if "extra ==" not in requirement:
                todo.append(_requirement_name(requirement))
    return seen


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def _outside_the_base_install() -> set[str]:
    """Top-level modules that only packages outside the base install provide."""
    base = _closure([_requirement_name(r) for r in PROJECT["dependencies"]]) | {"gistgate"}
    return {
        module
        for module, owners in metadata.packages_distributions().items()
        if not {_normal(owner) for owner in owners} & base
    }


def test_the_token_command_runs_with_the_base_install_alone() -> None:
    blocked = _outside_the_base_install()
    assert {"jwt", "aws_lambda_powertools", "mcp", "fastapi", "mangum"} <= blocked

    result = _probe(blocked)

    assert result["command"] == "token"
    assert result["issuer"] == "https://as.example"
    assert "httpx" in result["modules"]  # type: ignore[operator]


def test_the_base_install_names_no_server_package() -> None:
    base = {_requirement_name(r) for r in PROJECT["dependencies"]}
    server = {_requirement_name(r) for r in PROJECT["optional-dependencies"]["server"]}

    assert base == {"httpx"}
    assert {"pyjwt", "aws-lambda-powertools", "mcp", "fastapi", "mangum"} <= server
