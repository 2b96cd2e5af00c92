"""Lambda-like execution environments for the local stack: one process per instance.

Each instance is a fresh interpreter with only its function's environment
variables, which imports its ``app.py`` once (the cold start) and then runs
invocations one at a time, warm, as Lambda does. When every instance of a
function is busy, another is started, up to ``max_instances`` (Lambda's
scale-out). Process isolation keeps module globals (settings, caches, the
logger's Lambda context) per function, as in a deployment. DEVELOPMENT TOOL.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import multiprocessing
import os
import queue
import sys
import threading
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from gistgate_dev.local.gateway import LambdaContext

# What a Lambda sandbox has besides the function's own variables.
_HOST_VARIABLES = ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "TZ")


class FunctionError(Exception):
    """The handler raised; the message is what Lambda would report (type and text)."""


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
            event = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if event is None:
            return
        try:
            conn.send(("ok", module.handler(event, LambdaContext(name))))
        except Exception as exc:
            if str(exc) != "Unauthorized":
                traceback.print_exc()
            conn.send(("error", str(exc) if str(exc) == "Unauthorized" else type(exc).__name__))


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
        self._ready: str | None = None

    def wait_ready(self) -> None:
        if self._ready is None:
            kind, detail = self.conn.recv()
            if kind != "ready":
                raise FunctionError(f"init failed: {detail}")
            self._ready = kind

    def call(self, event: dict[str, Any]) -> Any:
        self.wait_ready()
        self.conn.send(event)
        kind, value = self.conn.recv()
        if kind == "error":
            raise FunctionError(value) if value != "Unauthorized" else Exception("Unauthorized")
        return value

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()


class ProcessFunction:
    """A function's pool of instances, started on demand, reused warm."""

    def __init__(
        self,
        name: str,
        app_py: Path,
        env: Mapping[str, str],
        *,
        max_instances: int = 1,
        quiet: bool = False,
    ) -> None:
        self.name = name
        self._quiet = quiet
        self._app_py = app_py
        self._env = dict(env)
        self._max = max_instances
        self._idle: queue.LifoQueue[_Instance] = queue.LifoQueue()
        self._all: list[_Instance] = []
        self._lock = threading.Lock()
        self.invocations = 0

    def prewarm(self) -> None:
        """Start one instance now, so the first request does not pay the cold start."""
        with self._lock:
            instance = _Instance(self.name, self._app_py, self._env, self._quiet)
            self._all.append(instance)
        self._idle.put(instance)

    def wait_ready(self) -> None:
        for instance in list(self._all):
            instance.wait_ready()

    def _acquire(self) -> _Instance:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._all) < self._max:
                instance = _Instance(self.name, self._app_py, self._env, self._quiet)
                self._all.append(instance)
                return instance
        return self._idle.get()

    def invoke(self, event: dict[str, Any]) -> Any:
        self.invocations += 1
        instance = self._acquire()
        try:
            result = instance.call(event)
        except (EOFError, OSError):
            with self._lock:
                self._all.remove(instance)
            raise FunctionError(f"{self.name}: the instance exited") from None
        except BaseException:
            self._idle.put(instance)
            raise
        self._idle.put(instance)
        return result

    def close(self) -> None:
        for instance in self._all:
            instance.stop()
