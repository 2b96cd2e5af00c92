"""gistgate/core/observability.py's rollups: one EMF record also publishes the totals the
alarms read (template.yaml; tests/component/template/test_operations.py checks that every
alarm on our namespace names a dimension set published here)."""

from __future__ import annotations

import json

from gistgate.core.observability import ROLLUPS, emf_fragment


def record(metric: str | tuple[str, ...], **dimensions: str) -> dict:
    return json.loads("{" + emf_fragment(metric, **dimensions) + "}")


def test_authorizer_decisions_are_also_counted_by_outcome_alone() -> None:
    line = record("AuthorizerDecision", outcome="error", reason="jwks_unavailable")
    full, rollup = line["_aws"]["CloudWatchMetrics"]
    assert full["Dimensions"] == [["outcome", "reason"]]  # Powertools' directive, unchanged
    assert rollup["Dimensions"] == [["outcome"]]
    assert rollup["Namespace"] == full["Namespace"]
    assert rollup["Metrics"] == full["Metrics"] == [{"Name": "AuthorizerDecision", "Unit": "Count"}]
    assert line["outcome"] == "error"
    assert line["AuthorizerDecision"] == [1.0]


def test_tool_calls_and_errors_are_also_counted_across_tools() -> None:
    line = record(("ToolCalls", "ToolErrors"), tool="create_gist")
    full, rollup = line["_aws"]["CloudWatchMetrics"]
    assert (full["Dimensions"], rollup["Dimensions"]) == ([["tool"]], [[]])
    assert [m["Name"] for m in rollup["Metrics"]] == ["ToolCalls", "ToolErrors"]
    ok = record("ToolCalls", tool="whoami")
    assert [d["Dimensions"] for d in ok["_aws"]["CloudWatchMetrics"]] == [[["tool"]], [[]]]


def test_a_metric_without_rollups_keeps_its_one_dimension_set() -> None:
    line = record("SomethingElse", kind="x")
    assert [d["Dimensions"] for d in line["_aws"]["CloudWatchMetrics"]] == [[["kind"]]]


def test_the_cached_template_is_reused_with_a_fresh_timestamp() -> None:
    first = record("AuthorizerDecision", outcome="allow", reason="ok")
    second = record("AuthorizerDecision", outcome="allow", reason="ok")
    assert first["_aws"]["CloudWatchMetrics"] == second["_aws"]["CloudWatchMetrics"]
    assert isinstance(second["_aws"]["Timestamp"], int)


def test_every_rollup_is_a_subset_of_what_its_metric_is_logged_with() -> None:
    # The call sites: authorizer/service.py (outcome, reason), mcp/runner.py (tool),
    # oauth/token_endpoint.py (outcome, reason).
    logged_with = {
        "AuthorizerDecision": {"outcome", "reason"},
        "EnterpriseGrants": {"outcome", "reason"},
        "ToolCalls": {"tool"},
        "ToolErrors": {"tool"},
    }
    for metric, rollups in ROLLUPS.items():
        for rollup in rollups:
            assert set(rollup) < logged_with[metric], (metric, rollup)
