"""What tracing costs the authorizer: its warm decision and its cold start, tracing off vs on.

Side by side in one run, the same handler: POWERTOOLS_TRACE_DISABLED=true (the template's
Tracing=Disabled), on with the invocation's trace not sampled (most requests: X-Ray's
default rule samples 1 a second and 5% of the rest), and on and sampled (one subsegment
built and serialised per decision). The X-Ray emitter is replaced by one that counts the
documents and sends nothing. The cold start is a fresh interpreter importing the handler,
then (the lazy part: Powertools' Tracer and our provider are built on the first traced
call) deciding once. For scale, what Powertools' default provider would add instead:
importing aws_xray_sdk.core (gistgate/core/tracing.py says why it is not used).

`make bench` prints it (bench/run.py); alone: .venv/bin/python -m bench.tracing
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.authorizer import _load_handler
from bench.util import ROOT, LoopbackIdP, fresh_interpreter_ms, median, quiet_stdout, summary
from tests.fixtures.events import authorizer_event
from tests.fixtures.tokens import RESOURCE, claims, make_key

__all__ = ["BUDGETS", "cold_start", "report", "warm"]

N_WARM = 20_000
BATCH = 250
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled={}"
BUDGETS = {
    # The authorizer's own budgets (bench/run.py) hold with tracing on.
    "cold_start_ms": 200.0,
    # A sampled decision builds and serialises one subsegment: a few microseconds.
    "sampled_overhead_us": 25.0,
    # Unsampled and off: nothing measurable beyond noise.
    "unsampled_overhead_us": 3.0,
}
MODES = {
    "off": {"POWERTOOLS_TRACE_DISABLED": "true", "_X_AMZN_TRACE_ID": TRACE.format(1)},
    "on_unsampled": {"POWERTOOLS_TRACE_DISABLED": "false", "_X_AMZN_TRACE_ID": TRACE.format(0)},
    "on_sampled": {"POWERTOOLS_TRACE_DISABLED": "false", "_X_AMZN_TRACE_ID": TRACE.format(1)},
}


class CountingEmitter:
    """Stands in for the UDP emitter: counts documents and bytes, sends nothing."""

    def __init__(self) -> None:
        self.documents = 0
        self.bytes = 0

    def send(self, document: bytes) -> None:
        self.documents += 1
        self.bytes += len(document)


def _switch(mode: str, emitter: CountingEmitter) -> None:
    from gistgate.core import tracing

    os.environ.update(MODES[mode])
    tracing.reset()
    tracing.set_emitter(emitter)


def warm() -> dict[str, Any]:
    """The warm ES256 decision, per mode, in alternating batches of 250 calls."""
    saved = dict(os.environ)
    try:
        return _warm()
    finally:  # the later sections (and their fresh interpreters) see the environment as it was
        os.environ.clear()
        os.environ.update(saved)


def _warm() -> dict[str, Any]:
    from gistgate.core import tracing

    key = make_key("ES256", "ec-1")
    idp = LoopbackIdP({"keys": [key.jwk]})
    os.environ["LAMBDA_TASK_ROOT"] = "/var/task"  # what Lambda sets: tracing may be on
    app = _load_handler(
        {
            "AUTH_MODE": "jwt",
            "OAUTH_ISSUER": idp.url,
            "OAUTH_JWKS_URI": idp.url + "/jwks.json",
            "PUBLIC_BASE_URL": RESOURCE.removesuffix("/mcp"),
        }
    )
    event = authorizer_event(f"Bearer {key.sign(claims(idp.url, exp=int(time.time()) + 3600))}")
    emitters = {mode: CountingEmitter() for mode in MODES}
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    clock = time.perf_counter_ns
    with quiet_stdout():
        for mode in MODES:  # warm-up, and the first (building) call of each mode
            _switch(mode, emitters[mode])
            for _ in range(200):
                app.handler(event, None)
        for mode in MODES:
            emitters[mode] = CountingEmitter()
        for _ in range(N_WARM // BATCH):
            for mode, bucket in samples.items():
                _switch(mode, emitters[mode])
                app.handler(event, None)  # untimed: the switch rebuilt the tracer
                for _ in range(BATCH):
                    start = clock()
                    app.handler(event, None)
                    bucket.append((clock() - start) / 1000)
    tracing.set_emitter(None)
    tracing.reset()
    idp.close()
    result: dict[str, Any] = {mode: summary(values) for mode, values in samples.items()}
    for mode, emitter in emitters.items():
        result[mode]["documents"] = emitter.documents
        result[mode]["bytes_per_document"] = (
            round(emitter.bytes / emitter.documents) if emitter.documents else 0
        )
    return result


FIRST_DECISION = """
import importlib.util, sys
sys.path.insert(0, {root!r})
s = importlib.util.spec_from_file_location("app", {app!r})
m = importlib.util.module_from_spec(s); s.loader.exec_module(m)
if {decide!r}:
    from gistgate.core import tracing
    class Null:
        def send(self, document): pass
    tracing.set_emitter(Null())
    event = {{"type": "REQUEST", "methodArn": {arn!r}, "headers": {{"Authorization": "Bearer x"}},
             "requestContext": {{"domainName": "abc.execute-api.us-east-1.amazonaws.com",
                                "stage": "prod"}}}}
    try:
        m.handler(event, None)
    except Exception:
        pass
"""


def cold_start() -> dict[str, Any]:
    """Fresh interpreters (median of 11, .pyc present): import, and import + one decision."""
    pyc = str(ROOT / ".bench" / "pycache")
    base = {
        "AUTH_MODE": "builtin",
        "OAUTH_ISSUER": "",
        "OAUTH_JWKS_URI": "",
        "PUBLIC_BASE_URL": "",
        "LAMBDA_TASK_ROOT": "/var/task",
    }
    arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/POST/mcp"
    result: dict[str, Any] = {}
    for mode in ("off", "on_sampled"):
        env = {**base, **MODES[mode]}
        for label, decide in (("import", False), ("import_and_decide", True)):
            code = FIRST_DECISION.format(
                root=str(ROOT),
                app=str(ROOT / "functions/authorizer/app.py"),
                decide=decide,
                arn=arn,
            )
            runs = fresh_interpreter_ms(code, env, pyc=pyc)
            result[f"{mode}_{label}_ms"] = median(runs)
            result[f"{mode}_{label}_min_ms"] = min(runs)
    try:
        import aws_xray_sdk  # noqa: F401
    except ImportError:
        result["xray_sdk_import_ms"] = None
    else:
        sdk = fresh_interpreter_ms("import aws_xray_sdk.core", {}, pyc=pyc)
        bare = fresh_interpreter_ms("pass", {}, pyc=pyc)
        result["xray_sdk_import_ms"] = median(sdk) - median(bare)
    return result


def _check(label: str, value: float, budget: float, unit: str) -> str:
    verdict = "ok" if value <= budget else "OVER BUDGET"
    return f"  {label:<52} {value:>10.2f} {unit:<3} (budget <= {budget} {unit}) {verdict}"


def report(results: dict[str, object]) -> None:
    """Print the figures side by side and keep them in ``results`` (bench/run.py)."""
    print(
        "== Tracing: the authorizer's warm ES256 decision, off / on (not sampled) / on "
        f"(sampled), alternating batches ({N_WARM:,} calls each; emitter sends nothing)"
    )
    warm_figures = warm()
    results["tracing_warm"] = warm_figures
    off = warm_figures["off"]["p50"]
    for mode in MODES:
        row = warm_figures[mode]
        print(
            f"  {mode:<14} p50 {row['p50']:>8.1f} us  p99 {row['p99']:>8.1f} us  "
            f"subsegments sent {row['documents']:>6} ({row['bytes_per_document']} B each)"
        )
    print(
        _check(
            "sampled p50 - off p50",
            warm_figures["on_sampled"]["p50"] - off,
            BUDGETS["sampled_overhead_us"],
            "us",
        )
    )
    print(
        _check(
            "not sampled p50 - off p50",
            warm_figures["on_unsampled"]["p50"] - off,
            BUDGETS["unsampled_overhead_us"],
            "us",
        )
    )
    print("== Tracing: the authorizer's cold start, off / on (fresh interpreters, median of 11)")
    cold = cold_start()
    results["tracing_cold"] = cold
    for label in ("import", "import_and_decide"):
        print(
            f"  {label:<18} off {cold[f'off_{label}_ms']:>7.1f} ms   "
            f"on {cold[f'on_sampled_{label}_ms']:>7.1f} ms"
        )
    print(
        _check(
            "cold start with tracing on: import of the handler",
            cold["on_sampled_import_ms"],
            BUDGETS["cold_start_ms"],
            "ms",
        )
    )
    if cold["xray_sdk_import_ms"] is not None:
        print(
            "  for scale: importing aws_xray_sdk.core (Powertools' default provider) "
            f"adds {cold['xray_sdk_import_ms']:.1f} ms"
        )


if __name__ == "__main__":
    figures: dict[str, object] = {}
    report(figures)
    print(json.dumps(figures, indent=2))
