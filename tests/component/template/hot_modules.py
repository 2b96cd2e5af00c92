"""Which dependency modules a function imports on a cold start and its first requests:
the ones its layer precompiles (layers/<layer>/hot-modules.txt).

Regenerate after a dependency upgrade:
    .venv/bin/python -m tests.component.template.hot_modules \\
        > layers/authorizer-deps/hot-modules.txt

The "mcp" profile lists what the MCP function imports; tests/component/template/test_layers.py
uses it to prove mcp-deps/prune.txt removes nothing the function needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.component.template.cfn import ROOT

# Top-level names the AuthorizerDepsLayer installs (requirements + their dependencies).
LAYER_PACKAGES = frozenset(
    {
        "jwt",
        "cryptography",
        "httpx",
        "httpcore",
        "h11",
        "anyio",
        "idna",
        "certifi",
        "sniffio",
        "aws_lambda_powertools",
        "jmespath",
        "typing_extensions",
        "_cffi_backend",
    }
)

# ... and the McpDepsLayer (the MCP function's).
MCP_LAYER_PACKAGES = LAYER_PACKAGES | {
    "mcp",
    "mcp_types",
    "fastapi",
    "mangum",
    "starlette",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "annotated_doc",
    "typing_inspection",
    "sse_starlette",
    "uvicorn",
    "click",
    "httpx2",
    "httpcore2",
    "jsonschema",
    "jsonschema_specifications",
    "referencing",
    "rpds",
    "attrs",
    "opentelemetry",
    "multipart",
    "python_multipart",
    "truststore",
}

MCP_EXERCISE = """
import json, os, sys, importlib.util
from pathlib import Path
import boto3
from moto import mock_aws
for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "t",
             "AWS_SECRET_ACCESS_KEY": "t"}.items():
    os.environ[k] = v
from gistgate_dev.local.fake_github import FakeGitHub
from gistgate_dev.local.provision import provision_from_file
from tests.fixtures.lambda_runtime import LambdaInstance, authorizer_context
from tests.fixtures.mcp_client import McpCaller
with mock_aws(), FakeGitHub() as github:
    ids = provision_from_file(Path("template.yaml"), boto3.session.Session())
    github.add_user("svc-token", "bot", 1)
    os.environ.update(GITHUB_API_URL=github.url, GITHUB_SERVICE_TOKEN="svc-token",
                      TABLE_NAME=ids["Table"], GISTGATE_KMS_KEY_ID=ids["TokenKey"])
    spec = importlib.util.spec_from_file_location("app", "functions/mcp/app.py")
    app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
    lam = LambdaInstance(app.handler)
    caller = McpCaller(lam, authorizer_context("u", "read:gists write:gists"))
    caller.ok("whoami")
    made = caller.ok("create_gist", {"files": {"a": "a"}})
    caller.ok("list_gists")
    caller.ok("get_gist", {"gist_id": made["id"]})
    caller.ok("update_gist", {"gist_id": made["id"], "description": "d"})
    caller.error("get_gist", {"gist_id": "ffff"})
    caller.ok("delete_gist", {"gist_id": made["id"]})
    lam.close()
# (the test client's few extra modules are included too: harmless, a little larger)
files = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
print(json.dumps(files))
"""

EXERCISE = """
import json, os, sys, time, importlib.util
from tests.fixtures.loopback import LoopbackIdP
from tests.fixtures.tokens import make_key, claims, RESOURCE
from tests.fixtures.events import authorizer_event
rsa, ec = make_key("RS256", "r"), make_key("ES256", "e")
idp = LoopbackIdP({"keys": [rsa.jwk, ec.jwk]}, {"active": True, "sub": "u", "aud": RESOURCE,
                   "scope": "read:gists", "exp": int(time.time()) + 300})
os.environ.update(AUTH_MODE="jwt", OAUTH_ISSUER=idp.url, OAUTH_JWKS_URI=idp.url + "/jwks.json",
                  OAUTH_REQUIRED_SCOPES="read:gists")
spec = importlib.util.spec_from_file_location("app", "functions/authorizer/app.py")
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
denied = ec.sign(claims(idp.url, scope="write:gists"))
forged = rsa.sign(claims(idp.url))[:-4] + "AAAA"
for token in (rsa.sign(claims(idp.url)), ec.sign(claims(idp.url)), denied, forged):
    try:
        app.handler(authorizer_event("Bearer " + token), None)
    except Exception:
        pass
from gistgate.core.config import load_settings
from gistgate.authorizer.service import build_authorizer
settings = load_settings({"AUTH_MODE": "introspection", "OAUTH_ISSUER": idp.url,
                          "OAUTH_INTROSPECTION_URL": idp.url + "/introspect",
                          "OAUTH_INTROSPECTION_CLIENT_ID": "c",
                          "OAUTH_INTROSPECTION_CLIENT_SECRET": "s"})
build_authorizer(settings, prefetch=False).handle(authorizer_event("Bearer opaque"))
files = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
print(json.dumps(files))
"""


PROFILES = {
    "authorizer": (EXERCISE, LAYER_PACKAGES, "AuthorizerDepsLayer"),
    "mcp": (MCP_EXERCISE, MCP_LAYER_PACKAGES, "McpDepsLayer"),
}


def imported_layer_modules(function: str = "authorizer") -> list[str]:
    """Paths, relative to the layer's python/, of the layer's .py files the flows import."""
    exercise, packages, _ = PROFILES[function]
    out = (
        subprocess.run(
            [sys.executable, "-c", exercise],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    result = set()
    for path in json.loads(out):
        if not path.endswith(".py") or "site-packages" not in path:
            continue
        relative = path.split("site-packages" + os.sep, 1)[1]
        if relative.split(os.sep, 1)[0].removesuffix(".py") in packages:
            result.add(relative)
    return sorted(result)


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "authorizer"
    source = "tests/component/template/hot_modules.py"
    print(f"# Generated by {source}: precompiled in {PROFILES[name][2]}.")
    print("\n".join(imported_layer_modules(name)))
