"""gistgate/core/observability.py and logformat.py: one JSON line per decision, carrying
its EMF metric, with a fingerprint. That no decision line holds the token, through the
real authorizer, is tests/component/core/test_observability.py."""

from __future__ import annotations

import hashlib
import json
import logging

from gistgate.core.logformat import LeanJsonFormatter
from gistgate.core.observability import fingerprint, log_with_metric


def lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_log_line_is_also_the_emf_record(log_output) -> None:
    log_with_metric(
        "authorizer decision",
        {"sub": "u-1"},
        "AuthorizerDecision",
        outcome="deny",
        reason="insufficient_scope",
    )
    (entry,) = lines(log_output.getvalue())
    assert entry["message"] == "authorizer decision"
    assert entry["level"] == "INFO"
    assert entry["sub"] == "u-1"
    metric = entry["_aws"]["CloudWatchMetrics"][0]
    assert metric["Namespace"] == "gistgate"
    assert metric["Metrics"] == [{"Name": "AuthorizerDecision", "Unit": "Count"}]
    assert sorted(metric["Dimensions"][0]) == ["outcome", "reason"]
    # EMF reads dimension values and the metric value from the same object.
    assert entry["outcome"] == "deny"
    assert entry["reason"] == "insufficient_scope"
    assert entry["AuthorizerDecision"] == [1.0]


def test_metric_state_does_not_leak_between_lines(log_output) -> None:
    log_with_metric("a", {}, "AuthorizerDecision", outcome="allow", reason="ok")
    log_with_metric("b", {}, "AuthorizerDecision", outcome="unauthorized", reason="expired")
    first, second = lines(log_output.getvalue())
    assert first["AuthorizerDecision"] == [1.0]
    assert second["AuthorizerDecision"] == [1.0]
    assert second["reason"] == "expired"


def test_formatter_keys_exceptions_and_appended_keys() -> None:
    formatter = LeanJsonFormatter("svc")
    formatter.append_keys(cold_start=True, dropped=None)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "svc", logging.ERROR, __file__, 7, "failed %s", ("x",), sys.exc_info(), func="handler"
        )
    record.request_id = "r-1"
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "failed x"
    assert entry["service"] == "svc"
    assert entry["cold_start"] is True
    assert "dropped" not in entry
    assert entry["request_id"] == "r-1"
    assert "location" not in entry  # no stack walk per line
    assert entry["exception_name"] == "ValueError"
    assert "boom" in entry["exception"]
    assert entry["timestamp"].endswith("Z")
    formatter.remove_keys(["cold_start", "service"])
    assert formatter.get_current_keys() == {"service": "svc"}
    with formatter.append_context_keys(tenant="t"):
        assert formatter.get_current_keys()["tenant"] == "t"
    assert "tenant" not in formatter.get_current_keys()


def test_fingerprint_is_short_and_stable() -> None:
    assert fingerprint("abc") == "ba7816bf"
    assert fingerprint("ignored", hashlib.sha256(b"abc").digest()) == "ba7816bf"


def test_reused_emf_records_are_restamped_and_not_shared(log_output) -> None:
    log_with_metric("a", {}, "AuthorizerDecision", outcome="allow", reason="ok")
    first = lines(log_output.getvalue())[-1]
    log_with_metric("b", {"extra": 1}, "AuthorizerDecision", outcome="allow", reason="ok")
    second = lines(log_output.getvalue())[-1]
    assert second["_aws"]["Timestamp"] >= first["_aws"]["Timestamp"]
    assert "extra" not in first
    assert second["extra"] == 1
    assert first["_aws"]["CloudWatchMetrics"] == second["_aws"]["CloudWatchMetrics"]


def test_the_spliced_line_is_one_json_object_without_repeated_members(log_output) -> None:
    def unique(pairs):
        names = [name for name, _ in pairs]
        assert len(names) == len(set(names)), names
        return dict(pairs)

    log_with_metric(
        "authorizer decision", {"sub": "u"}, "AuthorizerDecision", outcome="allow", reason="ok"
    )
    line = log_output.getvalue().strip().splitlines()[-1]
    entry = json.loads(line, object_pairs_hook=unique)
    assert entry["service"] == "gistgate"
    assert entry["AuthorizerDecision"] == [1.0]
