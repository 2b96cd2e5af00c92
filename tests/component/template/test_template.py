"""template.yaml: what it must declare, and that its SAM transform is a valid, acyclic stack."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from gistgate.cfn.responses import CORS_ALLOW_HEADERS
from gistgate.core.config import AUTH_MODES, IDP_PRESETS, load_settings
from gistgate.core.urls import base_url, prm_url, resource_url
from tests.component.template.cfn import (
    ROOT,
    Evaluator,
    intrinsic_names,
    lint,
    props,
    ref_target,
    transform,
)

API_ID = "abcdef1234"
PRM_SUFFIX = "/.well-known/oauth-protected-resource/mcp"
WELL_KNOWN_PATHS = {
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/.well-known/jwks.json",
}
# Names that must never reach the authorizer's cold start.
HEAVY_PACKAGES = {"boto3", "botocore", "mcp", "fastapi", "starlette", "mangum"}
# Warnings we accept, each for a reason: SAM inlines ReauthorizeEvery's Ref into the
# API body at transform time (CloudFormation runs the transform with the real value).
ACCEPTED_WARNINGS = {("W2001", "AuthorizerTtl")}


def resources_of(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == rtype}


# ---------------------------------------------------------------- transform + lint


@pytest.mark.slow
def test_transformed_template_has_no_lint_errors_and_no_cycle(transformed: dict[str, Any]):
    matches = lint(transformed)
    ids = [m.rule.id for m in matches]
    assert "E3004" not in ids, [str(m) for m in matches]
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert errors == []
    unexpected = [
        str(m)
        for m in matches
        if not any(m.rule.id == rule and name in m.message for rule, name in ACCEPTED_WARNINGS)
    ]
    assert unexpected == []


@pytest.mark.slow
def test_lint_of_transformed_template_catches_the_self_referencing_gateway_response(
    template: dict[str, Any],
):
    """Canary: the trap the custom resource avoids really is E3004 after the transform."""
    broken = copy.deepcopy(template)
    props(broken, "GistApi")["GatewayResponses"] = {
        "UNAUTHORIZED": {
            "StatusCode": 401,
            "ResponseParameters": {
                "Headers": {
                    "WWW-Authenticate": {
                        "Fn::Sub": (
                            "'Bearer resource_metadata=\"https://${GistApi}.execute-api.${AWS::Region}."
                            "${AWS::URLSuffix}/prod" + PRM_SUFFIX + "\"'"
                        )
                    }
                }
            },
        }
    }
    assert "E3004" in {m.rule.id for m in lint(transform(broken))}


# ---------------------------------------------------------------- API and authorizer


def test_api_is_a_rest_api_with_a_request_authorizer_on_the_authorization_header(
    template: dict[str, Any],
):
    api = template["Resources"]["GistApi"]
    assert api["Type"] == "AWS::Serverless::Api"
    auth = api["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "GistAuthorizer"
    assert auth["AddDefaultAuthorizerToCorsPreflight"] is False
    authorizer = auth["Authorizers"]["GistAuthorizer"]
    assert authorizer["FunctionPayloadType"] == "REQUEST"
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert authorizer["Identity"]["Headers"] == ["Authorization"]
    ttl = authorizer["Identity"]["ReauthorizeEvery"]
    assert ttl == {"Ref": "AuthorizerTtl"}
    ttl_param = template["Parameters"]["AuthorizerTtl"]
    assert int(ttl_param["MaxValue"]) <= 60
    assert 0 <= int(ttl_param["MinValue"]) <= int(ttl_param["Default"]) <= 60
    # The custom resource installs the responses; in the Api they would be a cycle.
    assert "GatewayResponses" not in api["Properties"]
    assert resources_of(template, "AWS::ApiGateway::GatewayResponse") == {}


@pytest.mark.slow
@pytest.mark.parametrize("ttl", [None, 0, 30, 60])
def test_transformed_authorizer_is_uncached_by_default_and_caches_at_most_60_seconds(
    template: dict[str, Any], ttl: int | None
):
    params = {} if ttl is None else {"AuthorizerTtl": ttl}
    body = props(transform(template, params), "GistApi")["Body"]
    scheme = body["components"]["securitySchemes"]["GistAuthorizer"]
    config = scheme["x-amazon-apigateway-authorizer"]
    assert config["type"] == "request"
    assert config["identitySource"] == "method.request.header.Authorization"
    # 0 by default: the authorizer decides per tool (step-up), so nothing may be cached.
    assert config["authorizerResultTtlInSeconds"] == (0 if ttl is None else ttl)
    assert config["authorizerResultTtlInSeconds"] <= 60


def test_the_authorizer_knows_whether_its_answers_are_cached(template: dict[str, Any]):
    # Per-tool decisions are only safe uncached: the authorizer reads the same parameter.
    env = props(template, "AuthorizerFunction")["Environment"]["Variables"]
    assert env["AUTHORIZER_RESULT_TTL"] == {"Ref": "AuthorizerTtl"}
    auth = props(template, "GistApi")["Auth"]["Authorizers"]["GistAuthorizer"]
    assert auth["Identity"]["ReauthorizeEvery"] == {"Ref": "AuthorizerTtl"}


def test_every_function_reads_the_same_scope_names(template: dict[str, Any]):
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            own = (resource["Properties"].get("Environment") or {}).get("Variables") or {}
            assert not {"SCOPE_READ", "SCOPE_WRITE", "SCOPE_ADMIN"} & set(own), name
    # The 401's suggested scopes are the read and write scopes every function uses.
    default = props(template, "GatewayResponses")["DefaultScopes"].split()
    assert default == [shared["SCOPE_READ"], shared["SCOPE_WRITE"]]


def test_well_known_routes_have_no_authorizer(template: dict[str, Any]):
    events = props(template, "WellKnownFunction")["Events"]
    paths = set()
    for event in events.values():
        assert event["Type"] == "Api"
        assert event["Properties"]["RestApiId"] == {"Ref": "GistApi"}
        assert event["Properties"]["Method"].upper() == "GET"
        assert event["Properties"]["Auth"]["Authorizer"] == "NONE"
        paths.add(event["Properties"]["Path"])
    assert paths == WELL_KNOWN_PATHS


@pytest.mark.slow
def test_transformed_well_known_methods_are_unauthenticated(transformed: dict[str, Any]):
    paths = props(transformed, "GistApi")["Body"]["paths"]
    for path in WELL_KNOWN_PATHS:
        security = paths[path]["get"].get("security", [])
        assert all("GistAuthorizer" not in requirement for requirement in security), path


def test_cors_preflight_allows_what_the_gateway_responses_advertise(template: dict[str, Any]):
    cors = props(template, "GistApi")["Cors"]
    assert cors["AllowHeaders"] == f"'{CORS_ALLOW_HEADERS}'"
    assert cors["AllowOrigin"] == {"Fn::Sub": "'${AllowedOrigin}'"}


# ---------------------------------------------------------------- functions and layers


def test_globals_pin_python313_on_arm64(template: dict[str, Any]):
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        assert function["Properties"].get("Runtime", "python3.13") == "python3.13", name
        assert function["Properties"].get("Architectures", ["arm64"]) == ["arm64"], name


@pytest.mark.slow
def test_every_lambda_function_runs_python313_on_arm64(transformed: dict[str, Any]):
    functions = resources_of(transformed, "AWS::Lambda::Function")
    assert set(functions) >= {"AuthorizerFunction", "WellKnownFunction", "GatewayResponsesFunction"}
    for name, function in functions.items():
        assert function["Properties"]["Runtime"] == "python3.13", name
        assert function["Properties"]["Architectures"] == ["arm64"], name


def test_function_environment_never_references_the_api(template: dict[str, Any]):
    """A function's env naming GistApi is a cycle (GistApi depends on the functions)."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        env = (function["Properties"].get("Environment") or {}).get("Variables") or {}
        assert "GistApi" not in intrinsic_names(env), name
    assert "GistApi" not in intrinsic_names(variables)
    expected = {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "LOG_LEVEL",
        "AUTH_MODE",
        "OAUTH_ISSUER",
        "OAUTH_AUDIENCE",
        "OAUTH_JWKS_URI",
        "OAUTH_ALGORITHMS",
        "OAUTH_REQUIRED_SCOPES",
        "OAUTH_TOKEN_TYPE",
        "OAUTH_IDP_PRESET",
        "OAUTH_INTROSPECTION_URL",
        "OAUTH_INTROSPECTION_CLIENT_ID",
        "OAUTH_INTROSPECTION_SECRET_ARN",
        "PUBLIC_BASE_URL",
        "TABLE_NAME",
        "GISTGATE_KMS_KEY_ID",
    }
    assert expected <= set(variables)
    assert variables["TABLE_NAME"] == {"Ref": "Table"}
    assert variables["GISTGATE_KMS_KEY_ID"] == {"Ref": "TokenKey"}


@pytest.mark.parametrize("domain", ["", "mcp.example.com"])
def test_default_environment_is_accepted_by_the_settings_loader(
    template: dict[str, Any], domain: str
):
    env = Evaluator(template, {"DomainName": domain}).value(
        template["Globals"]["Function"]["Environment"]["Variables"]
    )
    settings = load_settings(env)
    assert settings.auth_mode == "builtin"
    assert settings.public_base_url == (f"https://{domain}" if domain else None)


def test_authorizer_function_shape(template: dict[str, Any]):
    function = props(template, "AuthorizerFunction")
    assert function["CodeUri"] == "functions/authorizer/"
    assert function["Handler"] == "app.handler"
    assert function["Timeout"] <= 10
    assert function["Layers"] == [{"Ref": "CommonLayer"}, {"Ref": "AuthorizerDepsLayer"}]


def _requirement_names(path: Path) -> set[str]:
    if not path.exists():
        return set()
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            match = re.match(r"[A-Za-z0-9._-]+", line)
            assert match, line
            names.add(match.group(0).lower().replace("_", "-"))
    return names


def test_authorizer_layers_and_code_pull_in_no_heavy_packages(template: dict[str, Any]):
    function = props(template, "AuthorizerFunction")
    own = _requirement_names(ROOT / function["CodeUri"] / "requirements.txt")
    assert own & HEAVY_PACKAGES == set()
    for layer_ref in function["Layers"]:
        layer = ref_target(template, layer_ref)
        assert layer["Type"] == "AWS::Serverless::LayerVersion"
        content = ROOT / layer["Properties"]["ContentUri"]
        names = _requirement_names(content / "requirements.txt")
        assert names & HEAVY_PACKAGES == set(), layer_ref
        # What the layer's Makefile installs (its own gistgate/mcp package is no dependency).
        installs = [
            line for line in (content / "Makefile").read_text().splitlines() if "pip" in line
        ]
        for heavy in HEAVY_PACKAGES:
            assert not any(re.search(rf"\b{heavy}\b", line) for line in installs), (
                layer_ref,
                heavy,
            )
    own_layer = _requirement_names(ROOT / "layers/authorizer-deps/requirements.txt")
    assert own_layer == {"pyjwt", "httpx", "aws-lambda-powertools"}
    prune = (ROOT / "layers/authorizer-deps/prune.txt").read_text().split()
    assert "aws_lambda_powertools/event_handler" in prune


def test_authorizer_may_read_only_the_introspection_secret(template: dict[str, Any]):
    policies = props(template, "AuthorizerFunction")["Policies"]
    assert len(policies) == 1
    cond, statement_doc, otherwise = policies[0]["Fn::If"]
    assert cond == "HasIntrospectionSecret"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert statement_doc["Statement"] == [
        {
            "Sid": "ReadIntrospectionSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Ref": "IntrospectionSecretArn"},
        }
    ]


@pytest.mark.parametrize(
    ("name", "content_uri"),
    [
        ("CommonLayer", "layers/common/"),
        ("McpCodeLayer", "layers/common/"),
        ("OAuthCodeLayer", "layers/common/"),
        ("CoreDepsLayer", "layers/core-deps/"),
        ("AuthorizerDepsLayer", "layers/authorizer-deps/"),
    ],
)
def test_layers_build_with_make_for_python313_arm64(
    template: dict[str, Any], name: str, content_uri: str
):
    layer = template["Resources"][name]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == content_uri
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / content_uri / "Makefile").read_text()
    if content_uri == "layers/common/":
        assert f"build-{name}:" in makefile
    else:  # the dependency layers share layers/pydeps.mk, which defines build-$(LAYER)
        assert f"LAYER := {name}" in makefile
        assert "include $(HERE)/../pydeps.mk" in makefile
        pydeps = (ROOT / "layers/pydeps.mk").read_text()
        assert "build-$(LAYER):" in pydeps
        assert "--platform manylinux2014_aarch64" in pydeps
        assert "--python-version 3.13" in pydeps


# ---------------------------------------------------------------- gateway responses


def test_gateway_responses_function_may_only_put_responses_and_deploy(template: dict[str, Any]):
    function = props(template, "GatewayResponsesFunction")
    assert function["CodeUri"] == "functions/gateway_responses/"
    assert function["Layers"] == [{"Ref": "CommonLayer"}]
    statements = function["Policies"][0]["Statement"]
    evaluated = Evaluator(template, refs={"GistApi": API_ID}).value(statements)
    arn = f"arn:aws:apigateway:us-east-1::/restapis/{API_ID}"
    assert {(s["Action"], s["Resource"]) for s in evaluated} == {
        ("apigateway:PUT", f"{arn}/gatewayresponses/*"),
        ("apigateway:POST", f"{arn}/deployments"),
    }


@pytest.mark.slow
def test_custom_resource_follows_every_sam_deployment(transformed: dict[str, Any]):
    resource = transformed["Resources"]["GatewayResponses"]
    assert resource["Type"] == "Custom::GatewayResponses"
    properties = resource["Properties"]
    assert properties["ServiceToken"] == {"Fn::GetAtt": ["GatewayResponsesFunction", "Arn"]}
    assert properties["RestApiId"] == {"Ref": "GistApi"}
    deployment = ref_target(transformed, properties["DeploymentId"])
    assert deployment["Type"] == "AWS::ApiGateway::Deployment"
    assert deployment["Properties"]["RestApiId"] == {"Ref": "GistApi"}
    stage = ref_target(transformed, properties["StageName"])
    assert stage["Type"] == "AWS::ApiGateway::Stage"
    assert stage["Properties"]["DeploymentId"] == properties["DeploymentId"]
    assert properties["RequiredScopes"] == {"Ref": "OAuthRequiredScopes"}
    assert properties["AllowOrigin"] == {"Ref": "AllowedOrigin"}


def test_custom_resource_references_sam_generated_deployment_and_stage(template: dict[str, Any]):
    properties = props(template, "GatewayResponses")
    assert properties["DeploymentId"] == {"Ref": "GistApi.Deployment"}
    assert properties["StageName"] == {"Ref": "GistApi.Stage"}


def _event_for(domain: str, stage: str) -> dict[str, Any]:
    return {"requestContext": {"domainName": domain, "stage": stage}, "headers": {"Host": domain}}


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["", "mcp.example.com"])
def test_prm_url_is_absolute_and_matches_what_the_functions_derive(
    template: dict[str, Any], transformed: dict[str, Any], domain: str
):
    evaluator = Evaluator(transformed, {"DomainName": domain}, refs={"GistApi": API_ID})
    prm = evaluator.value(props(transformed, "GatewayResponses")["PrmUrl"])
    assert prm.startswith("https://")
    assert prm.endswith(PRM_SUFFIX)
    if domain:
        assert prm == f"https://{domain}{PRM_SUFFIX}"
        request_domain = domain
    else:
        request_domain = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
        assert prm == f"https://{request_domain}/prod{PRM_SUFFIX}"
    # The functions build the same URL from PUBLIC_BASE_URL or the request.
    env = evaluator.value(template["Globals"]["Function"]["Environment"]["Variables"])
    base = base_url(load_settings(env), _event_for(request_domain, "prod"))
    assert prm_url(base) == prm
    outputs = evaluator.value(transformed["Outputs"])
    assert outputs["ProtectedResourceMetadataUrl"]["Value"] == prm
    assert outputs["McpUrl"]["Value"] == resource_url(base)


@pytest.mark.slow
def test_custom_domain_is_conditional_and_maps_the_stage(transformed: dict[str, Any]):
    domain = transformed["Resources"]["ApiDomain"]
    assert domain["Type"] == "AWS::ApiGateway::DomainName"
    assert domain["Condition"] == "HasDomain"
    assert domain["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["Properties"]["RegionalCertificateArn"] == {"Ref": "CertificateArn"}
    mapping = transformed["Resources"]["ApiBasePathMapping"]
    assert mapping["Condition"] == "HasDomain"
    assert mapping["Properties"]["RestApiId"] == {"Ref": "GistApi"}
    stage = ref_target(transformed, mapping["Properties"]["Stage"])
    assert stage["Type"] == "AWS::ApiGateway::Stage"
    assert Evaluator(transformed, {"DomainName": "mcp.example.com"}).condition("HasDomain")
    assert not Evaluator(transformed).condition("HasDomain")


# ---------------------------------------------------------------- data, keys, secrets


def test_table_keys_ttl_pitr_and_encryption(template: dict[str, Any]):
    table = template["Resources"]["Table"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    p = table["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert {(a["AttributeName"], a["AttributeType"]) for a in p["AttributeDefinitions"]} == {
        ("pk", "S"),
        ("sk", "S"),
    }
    assert [(k["AttributeName"], k["KeyType"]) for k in p["KeySchema"]] == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert p["SSESpecification"]["SSEEnabled"] is True
    assert p["SSESpecification"]["SSEType"] == "KMS"


ACCOUNT_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}


def _root_has_full_access(key: dict[str, Any]) -> bool:
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    return any(
        s["Effect"] == "Allow" and s["Action"] == "kms:*" and s["Principal"]["AWS"] == ACCOUNT_ROOT
        for s in statements
    )


def test_kms_keys(template: dict[str, Any]):
    token_key = template["Resources"]["TokenKey"]
    assert token_key["Type"] == "AWS::KMS::Key"
    assert token_key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert token_key["Properties"].get("KeyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"
    assert token_key["Properties"]["EnableKeyRotation"] is True
    assert _root_has_full_access(token_key)
    signing_key = template["Resources"]["SigningKey"]
    assert signing_key["Type"] == "AWS::KMS::Key"
    assert signing_key["Properties"]["KeySpec"] == "ECC_NIST_P256"
    assert signing_key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert _root_has_full_access(signing_key)


def test_github_service_secret(template: dict[str, Any]):
    secret = template["Resources"]["GitHubServiceSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert '{"token"' in secret["Properties"]["Description"]
    # A placeholder, never a token: nothing token-shaped is committed.
    assert not re.search(r"gh[pousr]_|github_pat_", secret["Properties"]["SecretString"])


# ---------------------------------------------------------------- parameters and outputs


def test_parameters(template: dict[str, Any]):
    params = template["Parameters"]
    required = {
        "StageName",
        "AuthMode",
        "OAuthIssuer",
        "OAuthAudience",
        "OAuthJwksUri",
        "OAuthAlgorithms",
        "OAuthIdpPreset",
        "OAuthRequiredScopes",
        "OAuthTokenType",
        "IntrospectionUrl",
        "IntrospectionClientId",
        "IntrospectionSecretArn",
        "DomainName",
        "CertificateArn",
        "AllowedOrigin",
        "AuthorizerTtl",
    }
    assert required <= set(params)
    assert params["StageName"]["Default"] == "prod"
    assert tuple(params["AuthMode"]["AllowedValues"]) == AUTH_MODES
    assert params["AuthMode"]["Default"] == "builtin"
    assert tuple(params["OAuthIdpPreset"]["AllowedValues"]) == IDP_PRESETS
    assert params["OAuthAlgorithms"]["Default"] == "RS256,ES256"
    assert params["AllowedOrigin"]["Default"] == "*"
    # A quote would break out of the gateway response's single-quoted static value.
    assert not re.fullmatch(params["AllowedOrigin"]["AllowedPattern"], "https://a'b")
    assert not re.fullmatch(params["OAuthRequiredScopes"]["AllowedPattern"], 'read"x')
    assert re.fullmatch(params["OAuthRequiredScopes"]["AllowedPattern"], "read:gists write:gists")


def test_outputs(template: dict[str, Any]):
    outputs = template["Outputs"]
    assert {"McpUrl", "ProtectedResourceMetadataUrl", "ApiId", "TableName"} <= set(outputs)
    assert outputs["ApiId"]["Value"] == {"Ref": "GistApi"}
    assert outputs["TableName"]["Value"] == {"Ref": "Table"}
    evaluator = Evaluator(template, refs={"GistApi": API_ID})
    assert evaluator.value(outputs["McpUrl"]["Value"]) == (
        f"https://{API_ID}.execute-api.us-east-1.amazonaws.com/prod/mcp"
    )


def _statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Every IAM statement of the function's inline policies (both branches of an If)."""
    found: list[dict[str, Any]] = []
    for policy in props(template, function).get("Policies", []):
        candidates = policy["Fn::If"][1:2] if "Fn::If" in policy else [policy]
        for document in candidates:
            found += document.get("Statement", [])
    return found


def test_oauth_function_routes_are_unauthenticated_and_complete(template: dict[str, Any]):
    events = props(template, "OAuthFunction")["Events"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()}
    assert routes == {
        ("GET", "/oauth/authorize"),
        ("GET", "/oauth/callback"),
        ("POST", "/oauth/consent"),
        ("POST", "/oauth/register"),
        ("POST", "/oauth/token"),
        ("POST", "/oauth/revoke"),
        ("GET", "/oauth/github/connect"),
        ("GET", "/oauth/github/callback"),
    }
    for event in events.values():
        assert event["Properties"]["Auth"]["Authorizer"] == "NONE"
        assert event["Properties"]["RestApiId"] == {"Ref": "GistApi"}


def test_oauth_function_may_sign_only_with_the_signing_key(template: dict[str, Any]):
    statements = _statements(template, "OAuthFunction")
    kms = [s for s in statements if any(str(a).startswith("kms:") for a in _list(s["Action"]))]
    signing = [s for s in kms if "kms:Sign" in _list(s["Action"])]
    assert len(signing) == 1
    assert signing[0]["Resource"] == {"Fn::GetAtt": ["SigningKey", "Arn"]}
    assert set(_list(signing[0]["Action"])) == {"kms:Sign", "kms:GetPublicKey"}
    vault = [s for s in kms if s not in signing]
    assert len(vault) == 1
    assert _list(vault[0]["Action"]) == ["kms:GenerateDataKey"]  # encrypt only, never Decrypt
    assert vault[0]["Condition"]["StringEquals"] == {
        "kms:EncryptionContext:purpose": "github-token"
    }
    for statement in statements:
        assert statement["Resource"] != "*"
        assert "dynamodb:Scan" not in _list(statement["Action"])


def test_only_the_oauth_function_can_sign_tokens(template: dict[str, Any]):
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function" or name == "OAuthFunction":
            continue
        for statement in _statements(template, name):
            assert "kms:Sign" not in _list(statement["Action"]), name


def test_oauth_outputs_give_the_issuer_and_the_github_callback(template: dict[str, Any]):
    evaluator = Evaluator(template, refs={"GistApi": API_ID})
    outputs = template["Outputs"]
    base = f"https://{API_ID}.execute-api.us-east-1.amazonaws.com/prod"
    assert evaluator.value(outputs["IssuerUrl"]["Value"]) == base
    assert evaluator.value(outputs["GitHubCallbackUrl"]["Value"]) == base + "/oauth"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
