"""Lambda-like execution environments for the local stack: one process per instance.

Each instance is a fresh interpreter with only its function's environment
variables, which imports its ``app.py`` once (the cold start) and then runs
invocations one at a time, warm, as Lambda does. When every instance of a
function is busy, another is started, up to ``max_instances`` (Lambda's
scale-out). Process isolation keeps module globals (settings, caches, the
logger's Lambda context) per function, as in a deployment.

An invocation is cut at the function's ``Timeout``: the instance is killed
and a fresh one starts for the next invocation (its cold start included), as
Lambda resets an execution environment whose function timed out ("Lambda
execution environment lifecycle", lambda-runtime-environment.html: "If the
Lambda function crashes or times out during the Invoke phase, Lambda resets
the execution environment"). No request can hold an instance for longer.
Events and answers cross as the UTF-8 JSON Lambda carries (gateway.encode_event,
gateway.marshal_response). DEVELOPMENT TOOL.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import multiprocessing
import os
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path

from gistgate_dev.local.gateway import (
    DEFAULT_TIMEOUT,
    INIT_LIMIT,
    ApiSpec,
    FunctionError,
    FunctionTimeout,
    LambdaContext,
    decode_event,
    marshal_response,
)

__all__ = ["FunctionError", "FunctionTimeout", "ProcessFunction", "process_function"]

# What a Lambda sandbox has besides the function's own variables.
_HOST_VARIABLES = ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "TZ")


def _serve(
    conn: Connection, name: str, app_py: str, env: Mapping[str, str], quiet: bool = False
) -> None:
    """The child process: import once, then answer events until the pipe closes."""
    if quiet:  # benchmarks: the log lines are still formatted and written, to nowhere
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    kept = {k: v for k, v in os.environ.items() if k in _HOST_VARIABLES}
    os.environ.clear()
    os.environ.update({**kept, **env})
    asyncio.set_event_loop(asyncio.new_event_loop())
    try:
        spec = importlib.util.spec_from_file_location(f"gistgate_fn_{name}", app_py)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        traceback.print_exc()
        conn.send(("init_error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if message is None:
            return
        payload, budget = message
        try:
            result = module.handler(decode_event(payload), LambdaContext(name, budget))
        except Exception as exc:
            if str(exc) != "Unauthorized":
                traceback.print_exc()
            conn.send(("error", str(exc) if str(exc) == "Unauthorized" else type(exc).__name__))
            continue
        try:
            conn.send(("ok", marshal_response(result)))
        except FunctionError as exc:
            print(f"{name}: {exc}", file=sys.stderr, flush=True)
            conn.send(("error", str(exc)))


class _Instance:
    def __init__(
        self, name: str, app_py: Path, env: Mapping[str, str], quiet: bool = False
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, name, str(app_py), dict(env), quiet), daemon=True
        )
        self.process.start()
        child.close()
        self.ready = False

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait for the import to finish; :class:`FunctionTimeout` after ``timeout``."""
        if self.ready:
            return
        if not self.conn.poll(timeout):
            raise FunctionTimeout(f"init did not finish in {timeout} s")
        kind, detail = self.conn.recv()
        if kind != "ready":
            raise FunctionError(f"init failed: {detail}")
        self.ready = True

    def call(self, payload: bytes, budget: float) -> bytes:
        """One invocation; :class:`FunctionTimeout` if no answer within ``budget`` s."""
        self.conn.send((payload, budget))
        if not self.conn.poll(max(budget, 0.0)):
            raise FunctionTimeout(f"Task timed out after {budget:.2f} s")
        kind, value = self.conn.recv()
        if kind == "error":
            raise FunctionError(value) if value != "Unauthorized" else Exception("Unauthorized")
        assert isinstance(value, bytes)
        return value

    def kill(self) -> None:
        """What Lambda does to an environment whose function timed out."""
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()


class ProcessFunction:
    """A function's pool of instances, started on demand, reused warm, each invocation cut
    at ``timeout`` seconds (the function's ``Timeout`` in template.yaml)."""

    def __init__(
        self,
        name: str,
        app_py: Path,
        env: Mapping[str, str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_instances: int = 1,
        quiet: bool = False,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self._quiet = quiet
        self._app_py = app_py
        self._env = dict(env)
        self._max = max_instances
        self._idle: list[_Instance] = []  # the last one back is the next one out (warmest)
        self._all: list[_Instance] = []
        self._changed = threading.Condition()
        self._closed = False
        self.invocations = 0
        self.cold_starts = 0

    def _start(self) -> _Instance:
        """A new instance (the caller holds ``_changed``)."""
        instance = _Instance(self.name, self._app_py, self._env, self._quiet)
        self._all.append(instance)
        self.cold_starts += 1
        return instance

    def prewarm(self) -> None:
        """Start one instance now, so the first request does not pay the cold start."""
        with self._changed:
            self._idle.append(self._start())

    def wait_ready(self) -> None:
        for instance in list(self._all):
            instance.wait_ready()

    def _acquire(self) -> _Instance:
        with self._changed:
            while True:
                if self._closed:
                    raise FunctionError(f"{self.name}: closed")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < self._max:
                    return self._start()
                self._changed.wait()

    def _release(self, instance: _Instance) -> None:
        with self._changed:
            self._idle.append(instance)
            self._changed.notify()

    def _discard(self, instance: _Instance) -> None:
        """Kill the instance; the next invocation that needs one starts a fresh one."""
        instance.kill()
        with self._changed:
            self._all.remove(instance)
            self._changed.notify()

    def invoke(self, payload: bytes) -> bytes:
        with self._changed:
            self.invocations += 1
        instance = self._acquire()
        started = time.monotonic()
        try:
            instance.wait_ready(INIT_LIMIT + self.timeout)
            # Init past INIT_LIMIT runs in the invocation, on the function's time.
            overrun = max(0.0, time.monotonic() - started - INIT_LIMIT)
            answer = instance.call(payload, self.timeout - overrun)
        except FunctionTimeout:
            self._discard(instance)
            raise
        except (EOFError, OSError):
            self._discard(instance)
            raise FunctionError(f"{self.name}: the instance exited") from None
        except FunctionError:
            if not instance.ready:  # the import failed and the child has ended
                self._discard(instance)
            else:
                self._release(instance)
            raise
        except BaseException:
            self._release(instance)
            raise
        self._release(instance)
        return answer

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            instances = list(self._all)
        for instance in instances:
            instance.stop()


def process_function(
    spec: ApiSpec, name: str, env: Mapping[str, str], *, max_instances: int = 1, quiet: bool = False
) -> ProcessFunction:
    """The template's function ``name`` as the local stack runs it: its code, and its
    ``Timeout`` (the function's own, else Globals', else SAM's default)."""
    return ProcessFunction(
        name,
        spec.code[name],
        env,
        timeout=spec.timeouts[name],
        max_instances=max_instances,
        quiet=quiet,
    )
