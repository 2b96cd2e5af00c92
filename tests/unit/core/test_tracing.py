"""gistgate/core/tracing.py and the call sites it traces: what reaches X-Ray, and what never
does (a token, a secret, a claim, an error message, any metadata). The daemon is replaced
by an emitter that keeps every document; nothing is sent anywhere."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gistgate.core import tracing
from gistgate.core.tracing import ANNOTATION_KEYS, DaemonProvider, safe_annotation

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
SAMPLED = f"Root={TRACE_ID};Parent={PARENT};Sampled=1;Lineage=a87bd80c:0"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8"


class Captured:
    """The emitter the tests install: keeps each document, sends nothing."""

    def __init__(self) -> None:
        self.documents: list[bytes] = []

    def send(self, document: bytes) -> None:
        self.documents.append(document)

    @property
    def segments(self) -> list[dict[str, Any]]:
        found = []
        for document in self.documents:
            header, _, body = document.partition(b"\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            found.append(json.loads(body))
        return found

    def text(self) -> str:
        return b"".join(self.documents).decode()


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    """Tracing on, as in Lambda with a sampled trace; documents captured."""
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", SAMPLED)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    captured = Captured()
    tracing.reset()
    tracing.set_emitter(captured)
    yield captured
    tracing.set_emitter(None)
    tracing.reset()


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    tracing.reset()
    yield
    tracing.reset()


# ---------------------------------------------------------------- on and off


def test_off_outside_lambda_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    captured = Captured()
    tracing.set_emitter(captured)
    try:
        with tracing.span("x"):
            tracing.annotate(outcome="allow")
        assert tracing.tracing_enabled() is False
        assert tracing.tracer() is None
        assert captured.documents == []
        assert tracing.span("x") is tracing.span("y")  # one shared no-op
    finally:
        tracing.set_emitter(None)


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({}, False),
    ],
)
def test_the_decision_follows_powertools_rules(env: dict[str, str], enabled: bool) -> None:
    assert tracing.enabled_in(env) is enabled


def test_an_unsampled_trace_sends_nothing(
    traced: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={TRACE_ID};Parent={PARENT};Sampled=0")
    with tracing.span("x"):
        tracing.annotate(outcome="allow")
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    with tracing.span("y"):
        pass
    assert traced.documents == []


# ---------------------------------------------------------------- the documents


def test_nested_spans_are_subsegments_of_the_function_segment(traced: Captured) -> None:
    with tracing.span("outer", namespace="remote"):
        tracing.annotate(outcome="allow", reason="ok")
        with tracing.span("inner", namespace="aws"):
            tracing.annotate(operation="GetItem", http_status=200)
    inner, outer = traced.segments  # each is sent as it closes
    assert outer["trace_id"] == inner["trace_id"] == TRACE_ID
    assert outer["parent_id"] == PARENT
    assert inner["parent_id"] == outer["id"]
    assert len(outer["id"]) == 16
    assert outer["type"] == inner["type"] == "subsegment"
    assert outer["namespace"] == "remote"
    assert outer["annotations"] == {"outcome": "allow", "reason": "ok"}
    assert inner["annotations"] == {"operation": "GetItem", "http_status": 200}
    assert outer["start_time"] <= inner["start_time"] <= inner["end_time"] <= outer["end_time"]
    assert "error" not in outer
    assert "fault" not in outer


def test_an_exception_is_recorded_by_type_only(traced: Captured) -> None:
    secret_message = "token " + GITHUB_TOKEN + " was refused"
    with pytest.raises(RuntimeError), tracing.span("ours"):
        raise RuntimeError(secret_message)
    with (
        pytest.raises(KeyError),
        tracing.span("theirs", client_error=lambda e: isinstance(e, KeyError)),
    ):
        raise KeyError(secret_message)
    fault, error = traced.segments
    assert fault["fault"] is True
    assert "error" not in fault
    assert fault["cause"]["exceptions"][0]["type"] == "RuntimeError"
    assert error["error"] is True
    assert "fault" not in error
    assert error["cause"]["exceptions"][0]["type"] == "KeyError"
    assert GITHUB_TOKEN not in traced.text()
    assert "refused" not in traced.text()


# ---------------------------------------------------------------- what may be annotated


@pytest.mark.parametrize(
    ("key", "value", "kept"),
    [
        ("outcome", "allow", True),
        ("reason", "insufficient_scope", True),
        ("http_status", 404, True),
        ("host", "idp.example.com", True),
        ("error_code", "ConditionalCheckFailedException", True),
        ("operation", "GetItem", True),
        ("token", "allow", False),  # not a listed key
        ("secret", 1, False),
        ("reason", GITHUB_TOKEN, False),
        ("reason", "github_pat_11ABCDEFG0123456789", False),
        ("reason", "eyJhbGciOiJFUzI1NiJ9", False),
        ("reason", "Zx81Qp0LmN7vBc4TgH2kWd9s", False),  # an opaque random run
        ("reason", "x" * 65, False),
        ("reason", "has space", False),
        ("reason", 'quote"', False),
        ("outcome", None, False),
        ("outcome", {"nested": "dict"}, False),
    ],
)
def test_safe_annotation(key: str, value: Any, kept: bool) -> None:
    assert (safe_annotation(key, value) is not None) is kept


def test_unsafe_annotations_never_reach_the_document(traced: Captured) -> None:
    with tracing.span("x"):
        tracing.annotate(outcome="allow", token=GITHUB_TOKEN, reason=GITHUB_TOKEN)
        tracing.tracer().put_annotation("reason", "eyJhbGciOiJFUzI1NiJ9.e30")  # type: ignore[union-attr]
    (segment,) = traced.segments
    assert segment["annotations"] == {"outcome": "allow"}
    assert GITHUB_TOKEN not in traced.text()


def test_metadata_is_never_sent(traced: Captured) -> None:
    tracer = tracing.tracer()
    assert tracer is not None

    @tracer.capture_method
    def leaks() -> dict[str, str]:
        tracer.put_metadata("token", GITHUB_TOKEN)
        return {"access_token": GITHUB_TOKEN}

    @tracer.capture_method
    def fails() -> None:
        raise ValueError(GITHUB_TOKEN)

    leaks()
    with pytest.raises(ValueError, match="ghp_"):
        fails()
    names = [s["name"] for s in traced.segments]
    assert [n.rsplit(".", 1)[-1] for n in names] == ["leaks", "fails"]
    assert GITHUB_TOKEN not in traced.text()
    assert all("metadata" not in s for s in traced.segments)


# ---------------------------------------------------------------- Powertools' provider shape


def test_the_provider_is_a_powertools_tracer_provider(traced: Captured) -> None:
    from aws_lambda_powertools import Tracer
    from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

    tracer = tracing.tracer()
    assert isinstance(tracer, Tracer)
    assert isinstance(tracer.provider, DaemonProvider)
    for base, ours in ((BaseProvider, DaemonProvider), (BaseSegment, tracing.Segment)):
        for name in base.__abstractmethods__:
            assert callable(getattr(ours, name, None)), (ours, name)
            wanted = set(inspect.signature(getattr(base, name)).parameters)
            assert wanted <= set(inspect.signature(getattr(ours, name)).parameters), name


async def _async_span(provider: DaemonProvider) -> None:
    async with provider.in_subsegment_async("async") as segment:
        segment.put_annotation("outcome", "allow")


def test_async_subsegments(traced: Captured) -> None:
    import asyncio

    tracer = tracing.tracer()
    assert tracer is not None
    asyncio.run(_async_span(tracer.provider))  # type: ignore[arg-type]
    (segment,) = traced.segments
    assert segment["name"] == "async"
    assert segment["annotations"] == {"outcome": "allow"}


# ---------------------------------------------------------------- the UDP emitter


@pytest.mark.parametrize(
    ("setting", "address"),
    [
        (None, ("127.0.0.1", 2000)),
        ("", ("127.0.0.1", 2000)),
        ("169.254.79.129:2000", ("169.254.79.129", 2000)),
        ("tcp:127.0.0.1:2000 udp:127.0.0.2:2001", ("127.0.0.2", 2001)),
        ("nonsense", ("127.0.0.1", 2000)),
    ],
)
def test_daemon_address(setting: str | None, address: tuple[str, int]) -> None:
    assert tracing.daemon_address(setting) == address


def test_the_emitter_sends_one_datagram_and_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[bytes, Any]] = []

    class FakeSocket:
        def __init__(self, *args: Any) -> None:
            pass

        def setblocking(self, flag: bool) -> None:
            pass

        def sendto(self, data: bytes, address: Any) -> None:
            if data == b"fail":
                raise OSError("no buffer space")
            sent.append((data, address))

    monkeypatch.setattr(tracing.socket, "socket", FakeSocket)
    emitter = tracing.UdpEmitter("169.254.79.129:2000")
    emitter.send(b"doc")
    emitter.send(b"fail")  # swallowed: a lost trace never fails a request
    assert sent == [(b"doc", ("169.254.79.129", 2000))]


# ---------------------------------------------------------------- the call sites


def test_the_authorizer_decision_is_traced_without_the_token(traced: Captured) -> None:
    from gistgate.authorizer.service import Authorizer, AuthorizerFailure
    from gistgate.core.config import load_settings
    from gistgate.core.discovery import Discovery
    from gistgate.tokens.errors import VerifierUnavailable
    from gistgate.tokens.jwks import JwksCache
    from gistgate.tokens.keys import KeySet
    from gistgate.tokens.validator import JwtValidator
    from tests.fixtures.events import authorizer_event
    from tests.fixtures.tokens import claims, make_key

    key = make_key("ES256", "ec-1")
    issuer = "https://idp.example"
    settings = load_settings(
        {"AUTH_MODE": "jwt", "OAUTH_ISSUER": issuer, "OAUTH_JWKS_URI": issuer + "/jwks.json"}
    )
    jwks = JwksCache(fetch=lambda uri: KeySet.from_document({"keys": [key.jwk]}))
    authorizer = Authorizer(settings, JwtValidator(settings, jwks, Discovery()))
    good = key.sign(claims(issuer))
    forged = good[:-6] + "AAAAAA"
    assert authorizer.handle(authorizer_event(f"Bearer {good}"))["principalId"]
    with pytest.raises(Exception, match="Unauthorized"):
        authorizer.handle(authorizer_event(f"Bearer {forged}"))

    def down(uri: str) -> KeySet:
        raise VerifierUnavailable("JWKS unavailable (timeout)")

    failing = Authorizer(settings, JwtValidator(settings, JwksCache(fetch=down), Discovery()))
    with pytest.raises(AuthorizerFailure):
        failing.handle(authorizer_event(f"Bearer {good}"))

    decisions = [s for s in traced.segments if s["name"] == "## authorizer decision"]
    allow, refused, failure = decisions
    assert allow["annotations"] == {"outcome": "allow", "reason": "ok"}
    assert "error" not in allow
    assert "fault" not in allow
    assert refused["annotations"]["outcome"] == "unauthorized"
    assert refused["error"] is True  # the caller's 401, not our fault
    assert failure["annotations"]["outcome"] == "error"
    assert failure["fault"] is True
    text = traced.text()
    for part in (good, forged, *good.split("."), "user-123", "client-abc"):
        assert part not in text


def test_a_jwks_fetch_is_a_remote_subsegment_named_by_its_host(
    traced: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gistgate.tokens import jwks

    monkeypatch.setattr(jwks, "request_json", lambda uri, **kwargs: {"keys": []})
    jwks.fetch_keyset("https://idp.example/tenant/secret-path/jwks.json?sig=abc")
    (segment,) = traced.segments
    assert segment["name"] == "JWKS fetch"
    assert segment["namespace"] == "remote"
    assert segment["annotations"] == {"host": "idp.example"}
    assert "secret-path" not in traced.text()
    assert "sig=abc" not in traced.text()


class FakeAws:
    """What storage.aws.call reaches instead of a boto3 client."""

    def __init__(self, error: tuple[str, int] | None = None) -> None:
        self.error = error

    def __getattr__(self, operation: str) -> Any:
        def run(**params: Any) -> Any:
            if self.error is None:
                return {"Item": {"pk": {"S": "x"}}}
            from botocore.exceptions import ClientError

            code, status = self.error
            raise ClientError(
                {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                operation,
            )

        return run


@pytest.mark.parametrize(
    ("error", "flag", "code"),
    [
        (None, None, None),
        (("ConditionalCheckFailedException", 400), "error", "ConditionalCheckFailedException"),
        (("ProvisionedThroughputExceededException", 400), "fault", None),
        (("ThrottlingException", 400), "fault", None),
        (("InternalServerError", 500), "fault", "InternalServerError"),
    ],
)
def test_aws_calls_are_traced_by_service_and_operation(
    traced: Captured,
    monkeypatch: pytest.MonkeyPatch,
    error: tuple[str, int] | None,
    flag: str | None,
    code: str | None,
) -> None:
    from gistgate.storage import aws

    monkeypatch.setattr(aws, "client", lambda service: FakeAws(error))
    try:
        aws.call("dynamodb", "get_item", TableName="t", Key={"pk": {"S": GITHUB_TOKEN}})
    except aws.AwsCallFailed:
        assert error is not None
    (segment,) = traced.segments
    assert segment["name"] == "DynamoDB"
    assert segment["namespace"] == "aws"
    assert segment["annotations"]["operation"] == "GetItem"
    if flag:
        assert segment[flag] is True
        assert segment["annotations"]["error_code"] == (code or error[0])  # type: ignore[index]
    else:
        assert "fault" not in segment
        assert "error" not in segment
    assert GITHUB_TOKEN not in traced.text()


def test_kms_signing_is_traced_and_a_failure_counted(
    traced: Captured, monkeypatch: pytest.MonkeyPatch, log_output: Any
) -> None:
    from gistgate.oauth import signing
    from gistgate.storage.aws import AwsCallFailed

    signer = signing.KmsSigner(("alias/sign",))
    public = signing.PublicSigningKey(
        "arn:aws:kms:us-east-1:123456789012:key/k", "kid-1", {"kty": "EC"}
    )
    monkeypatch.setattr(signer, "_key", lambda key_id: public)

    def refused(service: str, operation: str, **params: Any) -> Any:
        raise AwsCallFailed(service, operation, "KMSInvalidStateException", {})

    monkeypatch.setattr(signing, "call", refused)
    with pytest.raises(signing.SigningUnavailable):
        signer.sign({"sub": "user-123", "secret_claim": GITHUB_TOKEN})
    (segment,) = traced.segments
    assert segment["name"] == "## kms sign"
    assert segment["annotations"] == {"alg": "ES256", "message_type": "RAW"}
    assert segment["fault"] is True
    assert GITHUB_TOKEN not in traced.text()
    assert "user-123" not in traced.text()
    (line,) = [json.loads(x) for x in log_output.getvalue().splitlines() if "kms sign" in x]
    assert line["message"] == "kms sign failed"
    assert line["KmsSignFailures"] == [1.0]
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert "KMSInvalidStateException" in line["detail"]
    assert GITHUB_TOKEN not in log_output.getvalue()


def test_github_calls_are_remote_subsegments_without_token_or_path(traced: Captured) -> None:
    from gistgate.mcp.github import GitHubClient, GitHubNotFound

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/missing"):
            return httpx.Response(404, json={"message": "Not Found"})
        return httpx.Response(200, json={"id": "g1", "login": "octo"})

    client = GitHubClient("https://api.github.com", transport=httpx.MockTransport(answer))
    try:
        client.get_gist(GITHUB_TOKEN, "secret-gist-id")
        with pytest.raises(GitHubNotFound):
            client.get_gist(GITHUB_TOKEN, "missing")
    finally:
        client.close()
    ok, missing = traced.segments
    assert ok["name"] == missing["name"] == "api.github.com"
    assert ok["namespace"] == "remote"
    assert ok["annotations"] == {"http_method": "GET", "http_status": 200}
    assert missing["annotations"] == {"http_method": "GET", "http_status": 404}
    assert missing["error"] is True  # GitHub's 4xx: an error, not our fault
    text = traced.text()
    assert GITHUB_TOKEN not in text
    assert "secret-gist-id" not in text


def test_annotation_keys_are_documented() -> None:
    """Every key a call site uses is listed (a typo would be silently dropped)."""
    import re
    from pathlib import Path

    package = Path(tracing.__file__).parents[1]
    used: set[str] = set()
    for path in package.rglob("*.py"):
        for call in re.findall(r"annotate\(([^)]*)\)", path.read_text()):
            used |= set(re.findall(r"(\w+)=", call))
    assert used
    assert used <= ANNOTATION_KEYS
