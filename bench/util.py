"""Benchmark plumbing: percentiles, interleaved timing, quiet stdout, fresh interpreters."""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.fixtures.loopback import LoopbackIdP

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["LoopbackIdP"]


def timed(
    fn: Callable[[], Any],
    n: int,
    warmup: int = 200,
    between: Callable[[], Any] | None = None,
) -> list[float]:
    """Per-call wall times in microseconds; ``between`` runs untimed after each call."""
    for _ in range(warmup):
        fn()
        if between:
            between()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        fn()
        samples.append((clock() - start) / 1000)
        if between:
            between()
    return samples


def interleaved(
    fns: dict[str, Callable[[], Any]], n: int, batch: int = 250, warmup: int = 200
) -> dict[str, list[float]]:
    """Per-call times (µs) for several functions, measured in alternating batches.

    On a noisy VM, timing A for 20,000 calls and then B for 20,000 lets CPU drift
    land on one of them; alternating batches shares the drift out, so the ratios
    between them are what this machine really does side by side.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    clock = time.perf_counter_ns
    for _ in range(max(1, n // batch)):
        for name, fn in fns.items():
            bucket = samples[name]
            for _ in range(batch):
                start = clock()
                fn()
                bucket.append((clock() - start) / 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50": pct(samples, 0.50), "p99": pct(samples, 0.99), "n": len(samples)}


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send fd 1 to /dev/null (log lines are still formatted, as on Lambda)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def fresh_interpreter_ms(
    code: str, env: dict[str, str], runs: int = 11, *, pyc: str | None = None
) -> list[float]:
    """Wall time of a fresh ``python -c code`` (interpreter start included), per run.

    ``pyc`` is a byte-code cache directory: warmed by one untimed run, it stands
    for layers shipped precompiled. ``None`` compiles every module on every run,
    as Lambda does for a layer without .pyc (it cannot write under /opt).
    """
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    full_env = {**clean, **env, "PYTHONPATH": f"{ROOT}/layers/common"}
    if pyc is None:
        full_env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(ROOT / ".bench/none"))
        shutil.rmtree(ROOT / ".bench/none", ignore_errors=True)
    else:
        full_env["PYTHONPYCACHEPREFIX"] = pyc
        subprocess.run(
            [sys.executable, "-c", code], env=full_env, check=True, stdout=subprocess.DEVNULL
        )
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code], env=full_env, check=True, stdout=subprocess.DEVNULL
        )
        times.append((time.perf_counter() - start) * 1000)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def zip_size(name: str, dirs: list[Path], *, with_pyc: bool = True) -> int:
    """Bytes of ``dirs`` zipped together (deflate), as Lambda receives them."""
    out = ROOT / ".bench" / f"{name}.zip"
    out.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for directory in dirs:
            for path in sorted(directory.rglob("*")):
                if path.is_file() and (with_pyc or path.suffix != ".pyc"):
                    archive.write(path, path.relative_to(directory))
    return out.stat().st_size


def in_fresh_interpreter(module: str, function: str) -> Any:
    """``module.function()`` run in a new Python process; its JSON-serialisable result.

    A Lambda execution environment holds only its function: the sections measured
    before (tens of thousands of samples, other handlers, moto state) must not make
    this one's garbage collections slower.
    """
    import json

    code = (
        "import json, sys; sys.stdout.flush(); "
        f"from {module} import {function} as run; result = run(); "
        "sys.stderr.write('\\n@@RESULT@@' + json.dumps(result) + '\\n')"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers/common'}"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    marker = done.stderr.rsplit("@@RESULT@@", 1)[1]
    return json.loads(marker.splitlines()[0])


def cold_start(function: str) -> Any:
    """Import ``functions/<function>/app.py`` as a Lambda cold start would (settings and
    AWS clients read afresh from the environment)."""
    import importlib.util

    from gistgate.core.config import get_settings
    from gistgate.storage import aws as gistgate_aws

    get_settings.cache_clear()
    gistgate_aws.reset()
    spec = importlib.util.spec_from_file_location(
        f"bench_{function}_app", ROOT / "functions" / function / "app.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
