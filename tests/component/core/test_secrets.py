"""The introspection client secret comes from Secrets Manager via Powertools Parameters
(moto, real boto3 calls), and is cached."""

from __future__ import annotations

import base64
import json
import uuid

import boto3
import pytest
from moto import mock_aws

from tests.fixtures.events import authorizer_event
from tests.fixtures.tokens import RESOURCE


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        yield boto3.client("secretsmanager", region_name="us-east-1")
        parameters.clear_caches()


def test_introspection_authenticates_with_the_secret_and_caches_it(aws, idp, make_authorizer):
    secret_value = f"s-{uuid.uuid4().hex}"
    arn = aws.create_secret(Name="gistgate/introspection", SecretString=secret_value)["ARN"]
    seen: list[str] = []

    def introspect(request):
        from werkzeug import Response

        seen.append(request.headers["Authorization"])
        return Response(
            json.dumps({"active": True, "sub": "u", "aud": RESOURCE, "scope": "read:gists"}),
            content_type="application/json",
        )

    idp.server.expect_request("/introspect", method="POST").respond_with_handler(introspect)
    authorizer = make_authorizer(
        AUTH_MODE="introspection",
        OAUTH_INTROSPECTION_URL=idp.server.url_for("/introspect"),
        OAUTH_INTROSPECTION_CLIENT_ID="rs-client",
        OAUTH_INTROSPECTION_SECRET_ARN=arn,
    )
    authorizer.handle(authorizer_event("Bearer opaque-one"))
    expected = "Basic " + base64.b64encode(f"rs-client:{secret_value}".encode()).decode()
    assert seen == [expected]

    aws.put_secret_value(SecretId=arn, SecretString="rotated")  # within max_age: still cached
    authorizer.handle(authorizer_event("Bearer opaque-two"))
    assert seen == [expected, expected]
