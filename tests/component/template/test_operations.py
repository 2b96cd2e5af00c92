"""template.yaml's operations: tracing, access logs, log retention, throttling, reserved
concurrency, alarms and dashboard (docs/operations.md), checked on the source template and
on its SAM transform."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gistgate.core.observability import emf_fragment
from tests.component.template.cfn import (
    NO_VALUE,
    ROOT,
    Evaluator,
    intrinsic_names,
    lint,
    props,
    transform,
)

NAMESPACE = {"Fn::Sub": "gistgate/${AWS::StackName}"}
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
PUBLIC_FUNCTIONS = {
    "OAuthFunction": "OAuthReservedConcurrency",
    "WellKnownFunction": "WellKnownReservedConcurrency",
}
ACCEPTED_WARNINGS = {("W2001", "AuthorizerTtl")}


def of_type(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == rtype}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(template, "AWS::Serverless::Function")


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in of_type(template, "AWS::CloudWatch::Alarm").items()}


def alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric an alarm reads: (Namespace, MetricName, {dimension: value})."""
    if "MetricName" in alarm:
        found = [(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions", []))]
    else:
        found = [
            (
                m["MetricStat"]["Metric"]["Namespace"],
                m["MetricStat"]["Metric"]["MetricName"],
                m["MetricStat"]["Metric"].get("Dimensions", []),
            )
            for m in alarm["Metrics"]
            if "MetricStat" in m
        ]
    return [
        {"namespace": ns, "name": name, "dimensions": {d["Name"]: d["Value"] for d in dims}}
        for ns, name, dims in found
    ]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors."""
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


# ---------------------------------------------------------------- tracing


def test_tracing_parameter_reaches_every_function_and_the_stage(template: dict[str, Any]):
    param = template["Parameters"]["Tracing"]
    assert param["Default"] == "Active"
    assert set(param["AllowedValues"]) == {"Active", "PassThrough", "Disabled"}
    function_globals = template["Globals"]["Function"]
    assert function_globals["Tracing"] == {"Fn::If": ["TracingActive", "Active", "PassThrough"]}
    for name, function in functions(template).items():
        assert "Tracing" not in function["Properties"], name  # all from Globals
    env = function_globals["Environment"]["Variables"]
    assert env["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingOn", "false", "true"]}
    api = props(template, "GistApi")
    assert api["TracingEnabled"] == {"Fn::If": ["TracingActive", True, False]}


@pytest.mark.parametrize(
    ("value", "stage", "mode", "disabled"),
    [
        ("Active", True, "Active", "false"),
        ("PassThrough", False, "PassThrough", "false"),
        ("Disabled", False, "PassThrough", "true"),
    ],
)
def test_tracing_values(
    template: dict[str, Any], value: str, stage: bool, mode: str, disabled: str
):
    evaluate = Evaluator(template, {"Tracing": value}).value
    assert evaluate(props(template, "GistApi")["TracingEnabled"]) is stage
    assert evaluate(template["Globals"]["Function"]["Tracing"]) == mode
    env = evaluate(template["Globals"]["Function"]["Environment"]["Variables"])
    assert env["POWERTOOLS_TRACE_DISABLED"] == disabled


@pytest.mark.slow
def test_transformed_functions_trace_and_may_write_to_xray(transformed: dict[str, Any]):
    lambdas = of_type(transformed, "AWS::Lambda::Function")
    assert len(lambdas) == 5
    for name, function in lambdas.items():
        assert function["Properties"]["TracingConfig"]["Mode"] == {
            "Fn::If": ["TracingActive", "Active", "PassThrough"]
        }, name
        role = transformed["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]
        assert any(
            "AWSXrayWriteOnlyAccess" in str(arn) for arn in role["Properties"]["ManagedPolicyArns"]
        )
    (stage,) = of_type(transformed, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] == {"Fn::If": ["TracingActive", True, False]}


# ---------------------------------------------------------------- access log and log groups


def access_log_format(template: dict[str, Any]) -> str:
    return props(template, "GistApi")["AccessLogSetting"]["Format"]


def test_access_log_is_one_json_line_with_the_fields_an_operator_needs(template: dict[str, Any]):
    text = access_log_format(template)
    assert "\n" not in text
    # Every value is quoted: a "-" for an absent value must not break the JSON.
    line = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "-", text))
    assert {
        "requestId",
        "route",
        "status",
        "latency",
        "integrationLatency",
        "authorizerStatus",
        "authorizerLatency",
        "principal",
    } <= set(line)
    assert "$context.requestId" in text
    assert "$context.authorizer.principalId" in text
    assert "$context.authorizer.latency" in text
    assert "$context.integrationLatency" in text


def test_access_log_never_holds_a_header_query_or_body(template: dict[str, Any]):
    text = access_log_format(template)
    assert "authorization" not in text.lower()
    variables = set(re.findall(r"\$[A-Za-z_.]+", text))
    assert all(v.startswith("$context.") for v in variables), variables
    for forbidden in ("header", "querystring", "requestOverride", "responseOverride", "$input"):
        assert forbidden.lower() not in text.lower(), forbidden


def test_the_stage_writes_its_access_log_to_a_group_of_this_stack(template: dict[str, Any]):
    setting = props(template, "GistApi")["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}


def test_every_log_group_keeps_logs_for_the_retention_parameter(template: dict[str, Any]):
    param = template["Parameters"]["LogRetentionDays"]
    assert param["Default"] == 30
    groups = of_type(template, "AWS::Logs::LogGroup")
    assert len(groups) == 6
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_each_function_logs_into_its_own_group_with_retention(template: dict[str, Any]):
    groups = of_type(template, "AWS::Logs::LogGroup")
    used = []
    for name, function in functions(template).items():
        ref = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert set(ref) == {"Ref"}, name
        group = groups[ref["Ref"]]
        assert group["Properties"]["LogGroupName"]["Fn::Sub"].startswith(
            "/aws/lambda/${AWS::StackName}-"
        )
        used.append(ref["Ref"])
    assert len(set(used)) == len(used) == 5
    names = [Evaluator(template).value(g["Properties"]["LogGroupName"]) for g in groups.values()]
    assert len(set(names)) == len(names)


@pytest.mark.slow
def test_transformed_functions_log_into_the_groups(transformed: dict[str, Any]):
    for name, function in of_type(transformed, "AWS::Lambda::Function").items():
        assert "LogGroup" in function["Properties"]["LoggingConfig"], name
    (stage,) = of_type(transformed, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["AccessLogSetting"]["DestinationArn"] == {
        "Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]
    }


@pytest.mark.parametrize(("setup", "created"), [("create", True), ("existing", False)])
def test_the_account_cloudwatch_role_is_created_and_ordered_before_the_stage(
    template: dict[str, Any], setup: str, created: bool
):
    evaluator = Evaluator(template, {"ApiGatewayAccountSetup": setup})
    for name in ("ApiGatewayCloudWatchRole", "ApiGatewayAccount"):
        resource = template["Resources"][name]
        assert resource["Condition"] == "CreatesApiGatewayAccount"
        # The account setting outlives the stack: other APIs may log through the role.
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
        assert evaluator.condition(resource["Condition"]) is created
    role = props(template, "ApiGatewayCloudWatchRole")
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    # The stage logs into ApiAccessLogGroup, which references the account setting.
    tags = props(template, "ApiAccessLogGroup")["Tags"]
    assert "ApiGatewayAccount" in intrinsic_names(tags)


# ---------------------------------------------------------------- limits


def test_stage_throttling_is_wired_to_its_parameters(template: dict[str, Any]):
    params = template["Parameters"]
    assert params["ApiThrottleRateLimit"]["Default"] == 50
    assert params["ApiThrottleBurstLimit"]["Default"] == 100
    (setting,) = props(template, "GistApi")["MethodSettings"]
    assert setting["ResourcePath"] == "/*"
    assert setting["HttpMethod"] == "*"
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurstLimit"}
    # Execution logs at INFO (or data tracing) would write request headers: the token.
    assert setting["LoggingLevel"] == "OFF"
    assert setting["DataTraceEnabled"] is False


@pytest.mark.slow
def test_transformed_stage_carries_the_throttle(transformed: dict[str, Any]):
    (stage,) = of_type(transformed, "AWS::ApiGateway::Stage").values()
    (setting,) = stage["Properties"]["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurstLimit"}


@pytest.mark.parametrize(("function", "param"), sorted(PUBLIC_FUNCTIONS.items()))
def test_public_functions_have_reserved_concurrency(
    template: dict[str, Any], function: str, param: str
):
    reserved = props(template, function)["ReservedConcurrentExecutions"]
    _, value, otherwise = reserved["Fn::If"]
    assert value == {"Ref": param}
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert template["Parameters"][param]["Default"] > 0
    assert Evaluator(template).value(reserved) == str(template["Parameters"][param]["Default"])
    # 0 = no reservation: ReservedConcurrentExecutions 0 would stop the function.
    assert Evaluator(template, {param: "0"}).value(reserved) is NO_VALUE


def test_only_the_public_functions_reserve_concurrency(template: dict[str, Any]):
    for name, function in functions(template).items():
        assert ("ReservedConcurrentExecutions" in function["Properties"]) is (
            name in PUBLIC_FUNCTIONS
        ), name


def test_registration_limit_is_a_parameter_of_the_oauth_function(template: dict[str, Any]):
    from gistgate.core.config import load_settings

    env = props(template, "OAuthFunction")["Environment"]["Variables"]
    assert env["REGISTRATION_RATE_PER_MINUTE"] == {"Ref": "RegistrationRatePerMinute"}
    default = template["Parameters"]["RegistrationRatePerMinute"]["Default"]
    assert load_settings({}).registration_rate_per_minute == default


# ---------------------------------------------------------------- alarms


def published_dimension_sets() -> dict[str, list[set[str]]]:
    """What the code's EMF records publish, per metric (gistgate/core/observability.py)."""
    samples = {
        "AuthorizerDecision": {"outcome": "error", "reason": "r"},
        "ToolCalls": {"tool": "t"},
        "ToolErrors": {"tool": "t"},
        "KmsSignFailures": {},
    }
    found = {}
    for metric, dims in samples.items():
        record = json.loads("{" + emf_fragment(metric, **dims) + "}")
        found[metric] = [
            set(dimension_set)
            for directive in record["_aws"]["CloudWatchMetrics"]
            for dimension_set in directive["Dimensions"]
        ]
    return found


def test_metric_names_are_the_ones_the_code_emits():
    sources = {
        "AuthorizerDecision": "authorizer/service.py",
        "ToolCalls": "mcp/runner.py",
        "ToolErrors": "mcp/runner.py",
        "KmsSignFailures": "oauth/signing.py",
    }
    for metric, path in sources.items():
        assert f'"{metric}"' in (ROOT / "layers/common/gistgate" / path).read_text(), metric


def test_alarms_on_our_metrics_read_published_dimension_sets(template: dict[str, Any]):
    published = published_dimension_sets()
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    ours = 0
    for name, alarm in alarms(template).items():
        for metric in alarm_metrics(alarm):
            if metric["namespace"] != NAMESPACE:
                assert isinstance(metric["namespace"], str), name
                assert metric["namespace"].startswith("AWS/"), name
                continue
            ours += 1
            # CloudWatch matches a metric on its exact dimension set, never a subset.
            assert set(metric["dimensions"]) in published[metric["name"]], (name, metric)
    assert ours >= 6


def test_the_listed_alarms_exist_with_their_metrics(template: dict[str, Any]):
    found = {n: alarm_metrics(a) for n, a in alarms(template).items()}
    failures = found["AuthorizerFailuresAlarm"]
    assert failures == [
        {"namespace": NAMESPACE, "name": "AuthorizerDecision", "dimensions": {"outcome": "error"}}
    ]
    api = {m["name"]: m for m in found["Api5xxAlarm"]}
    assert set(api) == {"5XXError", "Count"}
    assert api["5XXError"]["dimensions"] == {
        "ApiName": {"Ref": "AWS::StackName"},
        "Stage": {"Ref": "StageName"},
    }
    assert props(template, "GistApi")["Name"] == {"Ref": "AWS::StackName"}  # the ApiName
    assert {m["name"] for m in found["ToolErrorRateAlarm"]} == {"ToolErrors", "ToolCalls"}
    assert {m["name"] for m in found["DynamoDbThrottlesAlarm"]} == {
        "ReadThrottleEvents",
        "WriteThrottleEvents",
    }
    assert all(
        m["dimensions"] == {"TableName": {"Ref": "Table"}} for m in found["DynamoDbThrottlesAlarm"]
    )
    assert found["KmsSignFailuresAlarm"] == [
        {"namespace": NAMESPACE, "name": "KmsSignFailures", "dimensions": {}}
    ]


def test_every_function_has_an_errors_and_a_throttles_alarm(template: dict[str, Any]):
    for function in functions(template):
        base = function.removesuffix("Function")
        for kind, metric in (("Errors", "Errors"), ("Throttles", "Throttles")):
            alarm = alarms(template)[f"{base}{kind}Alarm"]
            lambda_metrics = [m for m in alarm_metrics(alarm) if m["namespace"] == "AWS/Lambda"]
            assert lambda_metrics == [
                {
                    "namespace": "AWS/Lambda",
                    "name": metric,
                    "dimensions": {"FunctionName": {"Ref": function}},
                }
            ], (function, kind)


def test_authorizer_errors_alarm_discounts_the_401s_it_raises(template: dict[str, Any]):
    """Every 401 is a Lambda error (the authorizer raises Unauthorized): only the rest alarm."""
    alarm = alarms(template)["AuthorizerErrorsAlarm"]
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    assert expression == "FILL(errors, 0) - FILL(refused, 0) - FILL(failed, 0)"
    by_id = {m["Id"]: m for m in alarm["Metrics"]}
    outcome = lambda i: by_id[i]["MetricStat"]["Metric"]["Dimensions"][0]["Value"]  # noqa: E731
    assert (outcome("refused"), outcome("failed")) == ("unauthorized", "error")


def test_alarms_say_what_to_do_first_and_link_their_runbook(template: dict[str, Any]):
    doc_anchors = anchors(OPERATIONS_DOC.read_text())
    for name, alarm in alarms(template).items():
        text = alarm["AlarmDescription"]["Fn::Sub"]
        assert "First:" in text, name
        (anchor,) = re.findall(r"Runbook: \$\{RunbookUrl\}#([a-z0-9-]+)", text)
        assert anchor in doc_anchors, (name, anchor)
        description = Evaluator(template).value(alarm["AlarmDescription"])
        assert len(description) <= 1024, name


@pytest.mark.parametrize(
    ("topic", "actions"), [("", None), ("arn:aws:sns:us-east-1:123456789012:pager", 1)]
)
def test_alarms_notify_the_optional_topic(
    template: dict[str, Any], topic: str, actions: int | None
):
    evaluator = Evaluator(template, {"AlarmTopicArn": topic})
    for name, alarm in alarms(template).items():
        for key in ("AlarmActions", "OKActions"):
            value = evaluator.value(alarm[key])
            if actions is None:
                assert value is NO_VALUE, name
            else:
                assert value == [topic], name
        assert alarm["TreatMissingData"] == "notBreaching"


def test_dashboard_is_valid_json_and_shows_every_alarmed_metric(template: dict[str, Any]):
    body = Evaluator(
        template, refs={"Table": "t", "ApiAccessLogGroup": "/aws/apigateway/g/access"}
    ).value(props(template, "Dashboard")["DashboardBody"])
    dashboard = json.loads(body)
    shown = {
        m[1] for widget in dashboard["widgets"] for m in widget["properties"].get("metrics", [])
    }
    alarmed = {m["name"] for a in alarms(template).values() for m in alarm_metrics(a)}
    assert alarmed - {"Count"} <= shown
    assert "Count" in shown
    assert any(w["type"] == "log" for w in dashboard["widgets"])
    assert "DashboardUrl" in template["Outputs"]


# ---------------------------------------------------------------- checkov skips and lint


def checkov_skips(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]


def test_every_checkov_skip_gives_its_reason(template: dict[str, Any]):
    skips = checkov_skips(template)
    assert len(skips) >= 20
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip["comment"].split()) >= 12, (name, skip["id"])
    by_resource: dict[str, set[str]] = {}
    for name, skip in skips:
        by_resource.setdefault(name, set()).add(skip["id"])
    # Concurrency is only skipped where no reservation is made.
    for name, ids in by_resource.items():
        reserves = "ReservedConcurrentExecutions" in props(template, name)
        assert not (reserves and "CKV_AWS_115" in ids), name


def test_the_makefile_runs_checkov_in_make_test():
    makefile = (ROOT / "Makefile").read_text()
    (test_line,) = re.findall(r"^test:(.*)$", makefile, flags=re.MULTILINE)
    assert "checkov" in test_line.split()
    assert re.search(r"^checkov:", makefile, flags=re.MULTILINE)


@pytest.mark.slow
def test_transform_with_every_operations_option_lints_clean(template: dict[str, Any]):
    params = {
        "Tracing": "Disabled",
        "OAuthReservedConcurrency": 0,
        "WellKnownReservedConcurrency": 0,
        "ApiGatewayAccountSetup": "existing",
        "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:pager",
        "LogRetentionDays": 365,
    }
    transformed = transform(template, params)
    matches = lint(transformed)
    unexpected = [
        str(m)
        for m in matches
        if not any(m.rule.id == rule and name in m.message for rule, name in ACCEPTED_WARNINGS)
    ]
    assert unexpected == []
