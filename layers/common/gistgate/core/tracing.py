"""X-Ray tracing for every function: Powertools Tracer over a provider with no dependencies.

Why not Powertools' default provider (the X-Ray SDK): ``aws-xray-sdk`` brings ``wrapt``
and ``botocore`` (0.35 MB + 16.9 MB of wheels for python3.13/arm64), and the authorizer's
artifact is 5.95 MB of its 6 MB budget; importing ``aws_xray_sdk.core`` also adds to every
cold start (``make bench``). Powertools' documented extension point is the ``provider``
argument of ``Tracer``; :class:`DaemonProvider` uses the standard library alone and
writes what the SDK would: one subsegment document per span, sent whole over UDP to the
Lambda's X-Ray daemon (``AWS_XRAY_DAEMON_ADDRESS``), under the invocation's trace
(``_X_AMZN_TRACE_ID``), only when that trace is sampled.

Off is free: with ``POWERTOOLS_TRACE_DISABLED=true`` (the template's ``Tracing=Disabled``),
outside Lambda (no ``LAMBDA_TASK_ROOT``) or under ``sam local``, nothing is built and
:func:`span` returns one shared no-op context manager.

What a trace may hold, whatever a caller passes (so no token, secret, claim or error
message can reach X-Ray): annotation keys from :data:`ANNOTATION_KEYS` only; values
that are booleans, numbers, or short identifier-like strings that do not look like a
credential (:func:`safe_annotation`); an exception by its type name only; no metadata
at all (``put_metadata`` drops it, so Powertools' response/error capture sends nothing).
The call sites open spans with :func:`span`, not Powertools' ``capture_method``: that
decorator also logs an exception's message, through Powertools' own logger.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer
    from aws_lambda_powertools.tracing.base import BaseProvider

__all__ = [
    "ANNOTATION_KEYS",
    "DaemonProvider",
    "Emitter",
    "Segment",
    "UdpEmitter",
    "annotate",
    "daemon_address",
    "enabled_in",
    "reset",
    "safe_annotation",
    "set_emitter",
    "span",
    "tracer",
    "tracing_enabled",
]

# Every annotation key any gistgate code may set. A key not listed is dropped: adding
# one is a reviewed change here, never a side effect of a call site.
ANNOTATION_KEYS = frozenset(
    {
        "outcome",  # the authorizer's decision: allow, deny, unauthorized, error
        "reason",  # its reason code (expired, bad_signature, ...), never a message
        "operation",  # an AWS API operation (GetItem, Sign, ...)
        "error_code",  # AWS's error code, or the exception's type name
        "http_method",
        "http_status",
        "host",  # the remote host of a JWKS fetch
        "alg",  # a signing algorithm
        "message_type",  # kms:Sign's RAW or DIGEST
        # What Powertools' capture_lambda_handler sets, should a handler use it.
        "ColdStart",
        "Service",
    }
)
MAX_VALUE_LENGTH = 64
# Identifiers, codes, hosts: letters, digits and a few separators; no spaces, quotes, '='.
_SAFE_TEXT = re.compile(r"[A-Za-z0-9_.:/|@+-]*")
# What credentials look like: GitHub tokens, a JWT or base64 JSON, a long random run
# (letters and digits mixed, no separator) such as an opaque token or a client secret.
_CREDENTIAL = re.compile(
    r"gh[opsur]_|github_pat_|eyJ|(?=[A-Za-z0-9]{20})(?=[A-Za-z]*[0-9])(?=[0-9]*[A-Za-z])"
)
_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_HEADER = b'{"format":"json","version":1}\n'
_DEFAULT_DAEMON = ("127.0.0.1", 2000)

AnnotationValue = str | int | float | bool


def safe_annotation(key: str, value: Any) -> AnnotationValue | None:
    """``value`` if it may be annotated under ``key``, else None (the pair is dropped)."""
    if key not in ANNOTATION_KEYS:
        return None
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
        return None
    if not _SAFE_TEXT.fullmatch(value) or _CREDENTIAL.search(value):
        return None
    return value


class Emitter(Protocol):
    """Sends one X-Ray document (header line included)."""

    def send(self, document: bytes) -> None:
        """Send it; never raise (tracing must not fail a request)."""
        ...


def daemon_address(setting: str | None) -> tuple[str, int]:
    """``AWS_XRAY_DAEMON_ADDRESS``: ``host:port``, or ``tcp:host:port udp:host:port``."""
    if not setting:
        return _DEFAULT_DAEMON
    chosen = setting.split()[0]
    for part in setting.split():
        if part.startswith("udp:"):
            chosen = part.removeprefix("udp:")
    host, _, port = chosen.rpartition(":")
    try:
        return (host or _DEFAULT_DAEMON[0], int(port))
    except ValueError:
        return _DEFAULT_DAEMON


class UdpEmitter:
    """The X-Ray daemon's UDP protocol; the socket is opened on the first send."""

    def __init__(self, address: str | None = None) -> None:
        self.address = daemon_address(
            address if address is not None else os.environ.get("AWS_XRAY_DAEMON_ADDRESS")
        )
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def send(self, document: bytes) -> None:
        try:
            with self._lock:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)
                self._socket.sendto(document, self.address)
        except OSError:
            pass  # a lost trace is not an error: the daemon may be busy or gone


# The provider and its segments implement Powertools' BaseProvider and BaseSegment by
# shape, not by inheritance: importing aws_lambda_powertools.tracing.base would be one
# more module on the authorizer's cold start (the unit tests check the shape).
class Segment:
    """One subsegment: sent as a whole document when it closes."""

    def __init__(
        self, provider: DaemonProvider, name: str, trace_id: str, parent_id: str, namespace: str
    ) -> None:
        self._provider = provider
        self.name = name
        self.id = os.urandom(8).hex()  # not `random`: SnapStart restores would share its state
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.namespace = namespace
        self.start_time = time.time()
        self.annotations: dict[str, AnnotationValue] = {}
        self.error = False
        self.fault = False
        self.cause: str | None = None

    def put_annotation(self, key: str, value: Any) -> None:
        safe = safe_annotation(key, value)
        if safe is not None:
            self.annotations[key] = safe

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Dropped: metadata is free-form (a response, an error), so none is ever sent."""

    def add_exception(
        self, exception: BaseException, stack: Any = None, remote: bool = False
    ) -> None:
        self.fault = True
        self.cause = type(exception).__name__

    def fail(self, exception: BaseException, *, client_error: bool) -> None:
        """Record ``exception`` (its type only) as a client error or a fault."""
        self.add_exception(exception)
        if client_error:
            self.fault, self.error = False, True

    def add_subsegment(self, subsegment: Any) -> None:
        """Nothing to do: children name their parent and are sent on their own."""

    def remove_subsegment(self, subsegment: Any) -> None:
        """Nothing to do (see add_subsegment)."""

    def close(self, end_time: int | float | None = None) -> None:
        document: dict[str, Any] = {
            "name": self.name,
            "id": self.id,
            "trace_id": self.trace_id,
            "parent_id": self.parent_id,
            "type": "subsegment",
            "start_time": self.start_time,
            "end_time": end_time if end_time is not None else time.time(),
        }
        if self.namespace:
            document["namespace"] = self.namespace
        if self.annotations:
            document["annotations"] = self.annotations
        if self.error or self.fault:
            document["error" if self.error else "fault"] = True
        if self.cause:
            exception = {"id": os.urandom(8).hex(), "type": self.cause}
            document["cause"] = {"exceptions": [exception]}
        self._provider.emit(_HEADER + json.dumps(document, separators=(",", ":")).encode())


_current: ContextVar[Segment | None] = ContextVar("gistgate_trace_segment", default=None)


def _trace_context() -> tuple[str, str] | None:
    """(trace id, parent id) of this invocation's sampled trace, else None."""
    header = os.environ.get("_X_AMZN_TRACE_ID")
    if not header:
        return None
    cached = _parsed.get(header)
    if cached is None:
        fields: dict[str, str] = {}
        for part in header.split(";"):
            name, _, value = part.partition("=")
            fields[name.strip()] = value.strip()
        root, parent = fields.get("Root", ""), fields.get("Parent", "")
        cached = (root, parent) if root and parent and fields.get("Sampled") == "1" else ()
        if len(_parsed) > 64:
            _parsed.clear()
        _parsed[header] = cached
    return cached or None


_parsed: dict[str, tuple[str, str] | tuple[()]] = {}


class DaemonProvider:
    """A Powertools tracing provider that sends subsegments straight to the daemon."""

    def __init__(self, emitter: Emitter | None = None) -> None:
        self.emitter: Emitter = emitter or UdpEmitter()

    def emit(self, document: bytes) -> None:
        self.emitter.send(document)

    def begin(self, name: str, namespace: str = "") -> Segment | None:
        """A subsegment under the current one (or the function's segment), if sampled."""
        context = _trace_context()
        if context is None:
            return None
        parent = _current.get()
        parent_id = parent.id if parent is not None and parent.trace_id == context[0] else None
        return Segment(self, name, context[0], parent_id or context[1], namespace)

    @contextmanager
    def in_subsegment(
        self, name: str | None = None, **kwargs: Any
    ) -> Iterator[Segment | _NoopSegment]:
        segment = self.begin(name or "subsegment", str(kwargs.get("namespace") or ""))
        if segment is None:
            yield _NOOP_SEGMENT
            return
        token = _current.set(segment)
        try:
            yield segment
        except BaseException as exc:
            segment.add_exception(exc)
            raise
        finally:
            _current.reset(token)
            segment.close()

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Segment | _NoopSegment]:
        with self.in_subsegment(name, **kwargs) as segment:
            yield segment

    def put_annotation(self, key: str, value: Any) -> None:
        segment = _current.get()
        if segment is not None:
            segment.put_annotation(key, value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Dropped, like Segment.put_metadata."""

    def patch(self, modules: Sequence[str]) -> None:
        """Nothing is monkey-patched: the call sites open their own spans."""

    def patch_all(self) -> None:
        """See patch."""


class _NoopSegment:
    """What in_subsegment yields for an unsampled trace."""

    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(
        self, exception: BaseException, stack: Any = None, remote: bool = False
    ) -> None: ...


_NOOP_SEGMENT = _NoopSegment()


class _Span:
    """The context manager :func:`span` returns when tracing is on."""

    __slots__ = ("_client_error", "_name", "_namespace", "_provider", "_segment", "_token")

    def __init__(
        self,
        provider: DaemonProvider,
        name: str,
        namespace: str,
        client_error: Callable[[BaseException], bool] | None,
    ) -> None:
        self._provider = provider
        self._name = name
        self._namespace = namespace
        self._client_error = client_error
        self._segment: Segment | None = None
        self._token: Any = None

    def __enter__(self) -> None:
        segment = self._segment = self._provider.begin(self._name, self._namespace)
        if segment is not None:
            self._token = _current.set(segment)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        segment = self._segment
        if segment is None:
            return
        _current.reset(self._token)
        if exc is not None:
            client = self._client_error is not None and self._client_error(exc)
            segment.fail(exc, client_error=client)
        segment.close()


class _NoSpan:
    """The shared no-op span: tracing is off."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_SPAN = _NoSpan()
_state_lock = threading.Lock()
_enabled: bool | None = None
_tracer: Tracer | None = None
_provider: DaemonProvider | None = None
_emitter: Emitter | None = None


def enabled_in(env: Any) -> bool:
    """Powertools Tracer's own rule: off when disabled, outside Lambda, or under sam local."""
    if env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUE:
        return False
    return bool(env.get("LAMBDA_TASK_ROOT")) and not env.get("AWS_SAM_LOCAL")


def tracing_enabled() -> bool:
    """Decided once per process from the environment (``reset`` decides again)."""
    global _enabled
    if _enabled is None:
        _enabled = enabled_in(os.environ)
    return _enabled


def _build() -> DaemonProvider:
    """Powertools' Tracer with our provider, built on the first traced call."""
    global _tracer, _provider
    with _state_lock:
        if _provider is None:
            from aws_lambda_powertools import Tracer

            provider = DaemonProvider(_emitter)
            # disabled=False: we decided already, and Powertools' own "disable" path
            # would import aws_xray_sdk. auto_patch=False: nothing to patch.
            _tracer = Tracer(
                disabled=False, auto_patch=False, provider=cast("BaseProvider", provider)
            )
            _provider = provider
        return _provider


def tracer() -> Tracer | None:
    """The process's Powertools Tracer when tracing is on, else None."""
    if not tracing_enabled():
        return None
    _build()
    return _tracer


def span(
    name: str,
    *,
    namespace: str = "",
    client_error: Callable[[BaseException], bool] | None = None,
) -> _Span | _NoSpan:
    """A subsegment around a block (``with span("DynamoDB", namespace="aws"):``).

    An exception leaving the block is recorded by type as a fault, or as a client
    error when ``client_error(exc)`` says so; it always propagates.
    """
    if not tracing_enabled() or _trace_context() is None:  # off, or this trace not sampled
        return _NO_SPAN
    provider = _provider or _build()
    return _Span(provider, name, namespace, client_error)


def annotate(**annotations: Any) -> None:
    """Annotate the innermost open span (unsafe pairs are dropped; see module doc).

    Straight to the span, not through ``Tracer.put_annotation``: outside a sampled span
    (tracing off, or most requests) this is one context-variable read, and Powertools'
    method would format a debug line with the raw value first.
    """
    segment = _current.get()
    if segment is None:
        return
    for key, value in annotations.items():
        segment.put_annotation(key, value)


def set_emitter(emitter: Emitter | None) -> None:
    """Send documents to ``emitter`` (tests, ``make bench``); None = the daemon over UDP."""
    global _emitter
    with _state_lock:
        _emitter = emitter
        if _provider is not None:
            _provider.emitter = emitter or UdpEmitter()


def reset() -> None:
    """Forget the decision and the tracer (tests and benchmarks that change the env)."""
    global _enabled, _tracer, _provider
    with _state_lock:
        _enabled = None
        _tracer = None
        _provider = None
        _parsed.clear()
