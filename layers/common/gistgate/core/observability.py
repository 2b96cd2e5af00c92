"""Logger, metrics and token fingerprints, shared by every function.

One Powertools Logger per process, with the lean JSON formatter
(``gistgate.core.logformat``), and one reusable Powertools EphemeralMetrics. A
decision's metric travels inside its log line: :func:`log_with_metric` puts
the EMF members that Powertools serialises into the same JSON object, so
CloudWatch extracts the metric from the one line (EMF allows other members)
and each decision costs one write, not two.

Some metrics are also published without (some of) their dimensions (:data:`ROLLUPS`):
the alarms need the total of, say, every ``AuthorizerDecision`` with outcome=error,
whatever its reason, and the one record carries both (a second EMF directive).

A token is only ever identified by the first 8 hex characters of its
SHA-256: enough to correlate, useless to replay.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from gistgate.core.logformat import EMF_ATTRIBUTE, EmfFragment, LeanJsonFormatter

__all__ = ["ROLLUPS", "SERVICE", "emf_fragment", "fingerprint", "log_with_metric", "logger"]

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "gistgate")
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "gistgate")

logger = Logger(service=SERVICE, logger_formatter=LeanJsonFormatter(SERVICE))
# Our lines are complete JSON on stdout. Propagating them would print each one again
# through any root handler: the Lambda runtime's, or the one the MCP SDK's
# basicConfig installs (seen as a bare "tool call" on stderr).
logging.getLogger(logger.name).propagate = False
# No "service" dimension: the line already carries "service" (from the Logger), and
# one JSON object must not name a member twice.
_metrics = EphemeralMetrics(namespace=NAMESPACE)


def fingerprint(secret: str, digest: bytes | None = None) -> str:
    """First 8 hex chars of the secret's SHA-256 (pass ``digest`` if already computed)."""
    return (digest or hashlib.sha256(secret.encode()).digest()).hex()[:8]


# Extra dimension sets the same EMF record publishes: the totals the alarms and the
# dashboard read (template.yaml), since CloudWatch does not add a metric up across the
# values of a dimension by itself. () is the metric with no dimension at all.
ROLLUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "AuthorizerDecision": (("outcome",),),
    "EnterpriseGrants": (("outcome",),),
    "ToolCalls": ((),),
    "ToolErrors": ((),),
}


def _serialise(metrics: tuple[str, ...], dimensions: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    for name, value in dimensions:
        _metrics.add_dimension(name=name, value=value)
    for metric in metrics:
        _metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    try:
        # Powertools' TypedDict names only "_aws"; the record also holds the dimensions and
        # the values, so it is handled as the plain dict it is.
        record: dict[str, Any] = dict(_metrics.serialize_metric_set())
    finally:
        _metrics.clear_metrics()
    # A second directive (EMF allows several) publishes the same values again under the
    # rollup dimension sets; Powertools' own directive stays as it was.
    names = {name for name, _ in dimensions}
    directive = record["_aws"]["CloudWatchMetrics"][0]
    rollups: list[list[str]] = []
    for metric in metrics:
        for rollup in ROLLUPS.get(metric, ()):
            if set(rollup) <= names and list(rollup) not in (*directive["Dimensions"], *rollups):
                rollups.append(list(rollup))
    if rollups:
        record["_aws"]["CloudWatchMetrics"].append({**directive, "Dimensions": rollups})
    return record


# Powertools' serialisation of a count is the same for a given metric and dimension
# set but for its timestamp, and inside the authorizer's hot path it cost ~60 µs as
# a dict and ~15 µs more to re-encode. So it is serialised once per (metric,
# dimensions) (a few dozen outcome/reason pairs), kept as JSON text around the
# timestamp, and the formatter splices it into the line (gistgate.core.logformat).
_TIMESTAMP = "__gistgate_emf_timestamp__"
_emf_templates: dict[
    tuple[str | tuple[str, ...], tuple[tuple[str, str], ...]], tuple[str, str]
] = {}


def emf_fragment(metric: str | tuple[str, ...], **dimensions: str) -> EmfFragment:
    """Powertools' EMF record of a count of one (per metric), as JSON members timestamped now."""
    key = (metric, tuple(dimensions.items()))
    template = _emf_templates.get(key)
    if template is None:
        record = _serialise((metric,) if isinstance(metric, str) else metric, key[1])
        record["_aws"]["Timestamp"] = _TIMESTAMP
        head, tail = json.dumps(record, separators=(",", ":"))[1:-1].split(f'"{_TIMESTAMP}"')
        template = _emf_templates[key] = (head, tail)
    return EmfFragment(f"{template[0]}{int(time.time() * 1000)}{template[1]}")


def log_with_metric(
    message: str,
    fields: dict[str, Any],
    metric: str | tuple[str, ...],
    *,
    warning: bool = False,
    **dimensions: str,
) -> None:
    """One structured log line that is also the EMF record of ``metric`` (``fields`` is taken)."""
    fields[EMF_ATTRIBUTE] = emf_fragment(metric, **dimensions)
    (logger.warning if warning else logger.info)(message, extra=fields)
