"""Authorizer benchmarks: warm verify, introspection hit, cold start, size."""

from __future__ import annotations

import importlib.util
import os
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from bench.util import (
    ROOT,
    LoopbackIdP,
    fresh_interpreter_ms,
    interleaved,
    median,
    quiet_stdout,
    summary,
    timed,
    zip_size,
)
from tests.fixtures.events import authorizer_event
from tests.fixtures.tokens import RESOURCE, claims, make_key

N_WARM = 20_000


def _load_handler(env: dict[str, str]) -> Any:
    os.environ.update(env)
    from gistgate.core.config import get_settings
    from gistgate.tokens.trust import resolve_trust

    get_settings.cache_clear()
    resolve_trust.cache_clear()
    spec = importlib.util.spec_from_file_location(
        "bench_authorizer_app", ROOT / "functions/authorizer/app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _measure_alg(app: Any, idp: LoopbackIdP, name: str, key: Any) -> dict[str, Any]:
    """The handler and the three reference patterns, side by side, for one algorithm."""
    token = key.sign(claims(idp.url, exp=int(time.time()) + 3600))
    event = authorizer_event(f"Bearer {token}")
    public = key.private.public_key()
    signing_input, _, sig_b64 = token.rpartition(".")
    signature = jwt.utils.base64url_decode(sig_b64)
    message = signing_input.encode()
    if name == "RS256":

        def raw() -> None:
            public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        der = jwt.utils.raw_to_der_signature(signature, public.curve)

        def raw() -> None:
            public.verify(der, message, ec.ECDSA(hashes.SHA256()))

    def decode() -> None:
        jwt.decode(token, public, algorithms=[name], audience=RESOURCE, issuer=idp.url)

    shared_client = jwt.PyJWKClient(idp.url + "/jwks.json")

    def pyjwk_shared() -> None:
        signing_key = shared_client.get_signing_key_from_jwt(token)
        jwt.decode(token, signing_key.key, algorithms=[name], audience=RESOURCE, issuer=idp.url)

    def pyjwk_per_call() -> None:
        client = jwt.PyJWKClient(idp.url + "/jwks.json")
        signing_key = client.get_signing_key_from_jwt(token)
        jwt.decode(token, signing_key.key, algorithms=[name], audience=RESOURCE, issuer=idp.url)

    assert app.handler(event, None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    before = idp.hits.get("/jwks.json", 0)
    with quiet_stdout():
        samples = interleaved(
            {
                "handler": lambda: app.handler(event, None),
                "raw_cryptography": raw,
                "jwt_decode_prebuilt": decode,
                "pyjwkclient_shared": pyjwk_shared,
            },
            N_WARM,
        )
    result = {name: summary(values) for name, values in samples.items()}
    result["handler"]["jwks_fetches"] = idp.hits.get("/jwks.json", 0) - before
    result["pyjwkclient_per_call"] = summary(timed(pyjwk_per_call, 1_000, warmup=20))
    return result


def warm_verify() -> dict[str, Any]:
    rsa_key, ec_key = make_key("RS256", "rsa-1"), make_key("ES256", "ec-1")
    idp = LoopbackIdP({"keys": [rsa_key.jwk, ec_key.jwk]})
    env = {
        "AUTH_MODE": "jwt",
        "OAUTH_ISSUER": idp.url,
        "OAUTH_JWKS_URI": idp.url + "/jwks.json",
        "PUBLIC_BASE_URL": RESOURCE.removesuffix("/mcp"),
    }
    app = _load_handler(env)
    results: dict[str, Any] = {}
    for name, key in (("RS256", rsa_key), ("ES256", ec_key)):
        results[name] = _measure_alg(app, idp, name, key)
    idp.close()
    return results


def introspection_hit() -> dict[str, Any]:
    from gistgate.tokens.introspection import Introspector
    from gistgate.tokens.presets import get_preset
    from gistgate.tokens.trust import Trust, TrustedIssuer

    idp = LoopbackIdP(
        {"keys": []},
        {
            "active": True,
            "sub": "u",
            "client_id": "c",
            "scope": "read:gists",
            "aud": RESOURCE,
            "exp": int(time.time()) + 3600,
            "iss": "https://idp.example",
        },
    )
    introspector = Introspector(
        idp.url + "/introspect", "rs", lambda: "secret", get_preset("generic")
    )
    trust = Trust(
        RESOURCE,
        {"https://idp.example": TrustedIssuer("https://idp.example", None, frozenset({RESOURCE}))},
    )
    token = "opaque-" + "q" * 40
    introspector.validate(token, trust)
    hit = summary(timed(lambda: introspector.validate(token, trust), N_WARM))
    fetches = idp.hits.get("/introspect", 0)
    idp.close()
    return {"cache_hit": hit, "introspection_requests": fetches}


def cold_start() -> dict[str, Any]:
    rsa_key = make_key("RS256", "rsa-1")
    idp = LoopbackIdP({"keys": [rsa_key.jwk]})
    code = (
        "import importlib.util as u; s=u.spec_from_file_location('app', "
        f"'{ROOT}/functions/authorizer/app.py'); m=u.module_from_spec(s); "
        "s.loader.exec_module(m)"
    )
    pyc = str(ROOT / ".bench" / "pycache")
    no_issuer = {
        "AUTH_MODE": "builtin",
        "OAUTH_ISSUER": "",
        "OAUTH_JWKS_URI": "",
        "PUBLIC_BASE_URL": "",
    }
    with_issuer = {
        "AUTH_MODE": "jwt",
        "OAUTH_ISSUER": idp.url,
        "OAUTH_JWKS_URI": idp.url + "/jwks.json",
    }
    import_only = fresh_interpreter_ms(code, no_issuer, pyc=pyc)
    with_prefetch = fresh_interpreter_ms(code, with_issuer, pyc=pyc)
    without_pyc = fresh_interpreter_ms(code, no_issuer, pyc=None)
    bare = fresh_interpreter_ms("pass", {}, pyc=pyc)
    idp.close()
    return {
        "import_only_ms": median(import_only),
        "import_only_min_ms": min(import_only),
        "import_and_prefetch_ms": median(with_prefetch),
        "import_only_no_pyc_ms": median(without_pyc),
        "bare_interpreter_ms": median(bare),
        "runs": len(import_only),
    }


def artifact_size() -> dict[str, Any]:
    build = ROOT / ".aws-sam" / "build"
    parts = [build / "AuthorizerFunction", build / "CommonLayer", build / "AuthorizerDepsLayer"]
    missing = [p.name for p in parts if not p.is_dir()]
    if missing:
        return {"error": f"run `make build` first (missing {', '.join(missing)})"}
    return {
        "zipped_bytes": zip_size("authorizer", parts),
        "zipped_bytes_without_pyc": zip_size("authorizer", parts, with_pyc=False),
        "pyc_files": sum(1 for p in parts for _ in p.rglob("*.pyc")),
        "parts": {p.name: zip_size("authorizer", [p]) for p in parts},
    }
