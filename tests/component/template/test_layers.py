"""The dependency layers' prune lists: the functions must import and run without them.

The layers are cross-built for arm64, so the built tree cannot be imported
here; instead the same prune list is applied to this machine's copy of the
pure-Python package (Powertools), which is put first on the path, and the real
handler runs a real decision in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import aws_lambda_powertools
import pytest

from tests.component.template.cfn import ROOT

POWERTOOLS = Path(aws_lambda_powertools.__file__).parent


def prune_entries(layer: str) -> list[str]:
    lines = (ROOT / "layers" / layer / "prune.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def pruned_powertools(layer: str, target: Path) -> Path:
    """Copy Powertools to ``target`` and delete what the layer's prune.txt deletes."""
    shutil.copytree(
        POWERTOOLS, target / "aws_lambda_powertools", ignore=shutil.ignore_patterns("__pycache__")
    )
    for entry in prune_entries(layer):
        if entry.startswith("aws_lambda_powertools/"):
            path = target / entry
            assert path.exists(), f"{layer}/prune.txt names {entry}, which Powertools no longer has"
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return target


def run_isolated(code: str, python_path: Path, env: dict[str, str]) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env, "PYTHONPATH": f"{python_path}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


AUTHORIZER_RUN = """
import json, sys, importlib.util
from tests.fixtures.tokens import make_key, claims, RESOURCE
from tests.fixtures.events import authorizer_event
from gistgate.core.config import load_settings
from gistgate.authorizer.service import Authorizer
from gistgate.tokens.jwks import JwksCache
from gistgate.tokens.keys import KeySet
from gistgate.tokens.validator import JwtValidator
from gistgate.core.discovery import Discovery
spec = importlib.util.spec_from_file_location("app", "functions/authorizer/app.py")
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
key = make_key("ES256", "ec-1")
settings = load_settings({"AUTH_MODE": "jwt", "OAUTH_ISSUER": "https://idp.example",
                          "OAUTH_JWKS_URI": "https://idp.example/jwks.json"})
jwks = JwksCache(fetch=lambda uri: KeySet.from_document({"keys": [key.jwk]}))
app.AUTHORIZER = Authorizer(settings, JwtValidator(settings, jwks, Discovery()))
out = app.handler(authorizer_event("Bearer " + key.sign(claims("https://idp.example"))), None)
import aws_lambda_powertools
print(json.dumps({"effect": out["policyDocument"]["Statement"][0]["Effect"],
                  "powertools": aws_lambda_powertools.__file__,
                  "loaded": sorted(m for m in sys.modules
                                   if m.split(".")[0] in ("cffi", "pycparser")
                                   or m.startswith("aws_lambda_powertools.event_handler"))}))
"""

WELLKNOWN_RUN = """
import json, importlib.util
from tests.fixtures.events import proxy_event
spec = importlib.util.spec_from_file_location("app", "functions/wellknown/app.py")
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
class Context:
    function_name = "wellknown"; memory_limit_in_mb = 128; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:wellknown"
out = app.handler(proxy_event("/.well-known/oauth-protected-resource/mcp"), Context())
import aws_lambda_powertools
print(json.dumps({"status": out["statusCode"], "powertools": aws_lambda_powertools.__file__,
                  "resource": json.loads(out["body"])["resource"]}))
"""


@pytest.mark.slow
def test_authorizer_runs_on_its_pruned_layer(tmp_path: Path) -> None:
    layer = pruned_powertools("authorizer-deps", tmp_path)
    result = run_isolated(AUTHORIZER_RUN, layer, {"AUTH_MODE": "builtin"})
    assert result["effect"] == "Allow"
    assert str(result["powertools"]).startswith(str(tmp_path))  # the pruned copy was used
    # Proves cffi/pycparser (pruned) and event_handler are not needed by a full decision.
    assert result["loaded"] == []


@pytest.mark.slow
def test_wellknown_runs_on_the_pruned_core_layer(tmp_path: Path) -> None:
    layer = pruned_powertools("core-deps", tmp_path)
    result = run_isolated(WELLKNOWN_RUN, layer, {"AUTH_MODE": "builtin"})
    assert result["status"] == 200
    assert str(result["powertools"]).startswith(str(tmp_path))
    assert result["resource"].endswith("/prod/mcp")


@pytest.mark.slow
def test_hot_module_list_covers_everything_the_authorizer_imports() -> None:
    function, layer = "authorizer", "authorizer-deps"
    from tests.component.template.hot_modules import imported_layer_modules

    listed = {
        line.strip()
        for line in (ROOT / f"layers/{layer}/hot-modules.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    missing = sorted(set(imported_layer_modules(function)) - listed)
    assert not missing, (
        f"regenerate: .venv/bin/python -m tests.component.template.hot_modules {function} "
        f"> layers/{layer}/hot-modules.txt (missing {missing[:5]})"
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("llvm-strip") is None, reason="llvm-strip not installed")
def test_stripped_cryptography_still_verifies(tmp_path: Path) -> None:
    """The layer strips shared objects; prove the flag keeps what Python's import needs."""
    import cryptography

    copy = tmp_path / "cryptography"
    shutil.copytree(
        Path(cryptography.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    objects = list(copy.rglob("*.so"))
    assert objects
    before = sum(p.stat().st_size for p in objects)
    subprocess.run(["llvm-strip", "--strip-unneeded", *map(str, objects)], check=True)
    assert sum(p.stat().st_size for p in objects) <= before
    code = (
        "import cryptography, json;"
        "from cryptography.hazmat.primitives.asymmetric import ec;"
        "from cryptography.hazmat.primitives import hashes;"
        "k = ec.generate_private_key(ec.SECP256R1());"
        "k.public_key().verify(k.sign(b'm', ec.ECDSA(hashes.SHA256())), b'm',"
        " ec.ECDSA(hashes.SHA256()));"
        "print(json.dumps({'from': cryptography.__file__}))"
    )
    result = run_isolated(code, tmp_path, {})
    assert str(result["from"]).startswith(str(tmp_path))


@pytest.mark.slow
def test_mcp_function_imports_nothing_its_layer_prunes() -> None:
    """Whole tool flows on this machine's packages touch no path mcp-deps/prune.txt deletes."""
    from tests.component.template.hot_modules import imported_layer_modules

    used = imported_layer_modules("mcp")
    assert any(path.startswith("mcp/server/") for path in used)
    for entry in prune_entries("mcp-deps"):
        hits = [p for p in used if p == entry or p.startswith(entry.rstrip("/") + "/")]
        assert not hits, f"mcp-deps/prune.txt removes {entry}, which the MCP function imports"
