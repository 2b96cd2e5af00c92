"""Around every tool call: scope check, rate limit, error mapping, audit line.

A tool body only does its work; :meth:`ToolRunner.run` decides whether it may
run, turns any failure into an MCP tool error (``isError: true``) with a
message the user can act on, and writes one audit line that is also the EMF
record of the ``ToolCalls`` (and, on failure, ``ToolErrors``) metric per tool.
An unexpected exception is logged with a correlation id, and the caller sees
only that id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from gistgate.core.observability import log_with_metric, logger
from gistgate.mcp.errors import Failure, MissingScope, describe
from gistgate.mcp.identity import Identity

__all__ = ["Limiter", "ToolRunner"]

T = TypeVar("T")


class Limiter(Protocol):
    """The per-caller rate limit (:class:`gistgate.storage.ratelimit.RateLimiter`)."""

    def acquire(self, sub: str) -> object:
        """Take one call for ``sub``, or raise ``RateLimited``."""
        ...


class ToolFailed(Exception):
    """Raised out of a tool so the SDK answers ``isError: true`` with this message."""


def scope_message(tool: str, needed: str, held: tuple[str, ...]) -> str:
    """The refusal for a missing scope, with how to step up."""
    have = " ".join(held) if held else "(none)"
    wanted = " ".join(dict.fromkeys((*held, needed)))
    return (
        f"Insufficient scope: {tool} requires the scope '{needed}'. Your token has: {have}. "
        f'Ask your MCP client to sign in again requesting scope "{wanted}".'
    )


class ToolRunner:
    """Runs tool bodies under the guard rails."""

    def __init__(self, limiter: Limiter, error_factory: type[Exception] = ToolFailed) -> None:
        self._limiter = limiter
        self._error = error_factory

    def run(
        self,
        identity: Identity,
        tool: str,
        scope: str | None,
        body: Callable[[], T],
        *,
        gist_id: str | None = None,
        passthrough: tuple[type[Exception], ...] = (),
    ) -> T:
        """Run ``body`` for ``identity`` as ``tool``, or raise the tool error.

        An exception of a ``passthrough`` type is audited like any failure but raised
        as it is, for a caller that can do better than an error (ask for input).
        """
        started = time.perf_counter()
        credential: str | None = None
        try:
            if scope and not identity.has(scope):
                raise MissingScope(scope_message(tool, scope, identity.scopes))
            self._limiter.acquire(identity.sub)
            result = body()
            if isinstance(result, dict):
                credential = result.get("credential")
        except Exception as exc:
            failure = describe(exc)
            correlation = None
            if failure is None:
                correlation = uuid.uuid4().hex[:16]
                logger.exception(
                    "unexpected tool failure",
                    extra={"tool": tool, "sub": identity.sub, "correlation_id": correlation},
                )
                failure = Failure(
                    "internal_error",
                    f"Internal error (correlation id {correlation}); the operators can look it up.",
                )
            self._audit(identity, tool, failure.outcome, started, gist_id, credential, failure)
            if isinstance(exc, passthrough):
                raise
            raise self._error(failure.message) from None
        self._audit(identity, tool, "ok", started, gist_id, credential, None)
        return result

    def _audit(
        self,
        identity: Identity,
        tool: str,
        outcome: str,
        started: float,
        gist_id: str | None,
        credential: str | None,
        failure: Failure | None,
    ) -> None:
        fields: dict[str, Any] = {
            "sub": identity.sub,
            "client_id": identity.client_id,
            "gist_id": gist_id,
            "credential": credential,
            "outcome": outcome,
            "github_status": failure.github_status if failure else None,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        # "tool" is the metrics' dimension, so the EMF members write it into the line.
        metrics = ("ToolCalls",) if failure is None else ("ToolCalls", "ToolErrors")
        log_with_metric("tool call", fields, metrics, warning=failure is not None, tool=tool)
