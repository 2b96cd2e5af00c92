"""Process-wide boto3 clients, created on first use and then reused.

boto3 costs ~0.3 s to import and each client ~30 ms to build; only the code
paths that touch AWS pay it, once per execution environment. ``AWS_ENDPOINT_URL``
(boto3's own setting) points them at moto for tests and ``make dev``.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from gistgate.core.tracing import annotate, span

__all__ = ["AwsCallFailed", "call", "client", "reset"]

_lock = threading.Lock()


@cache
def _client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Short timeouts and few retries: every call sits inside a 29 s API Gateway budget.
    config = Config(
        connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}
    )
    return boto3.session.Session().client(service, config=config)


def client(service: str) -> Any:
    """The shared client for ``service`` (clients are thread-safe; creation is not)."""
    with _lock:
        return _client(service)


def reset() -> None:
    """Forget the clients (tests that switch AWS endpoints or credentials)."""
    with _lock:
        _client.cache_clear()


class AwsCallFailed(Exception):
    """An AWS call failed. ``code`` is AWS's error code (or the botocore error's name);
    ``response`` is the error response (``ReturnValuesOnConditionCheckFailure`` puts the
    item there). The message names only the service, operation and code."""

    def __init__(self, service: str, operation: str, code: str, response: dict[str, Any]) -> None:
        super().__init__(f"{service} {operation} failed: {code}")
        self.code = code
        self.response = response


def call(service: str, operation: str, **params: Any) -> Any:
    """``client(service).<operation>(**params)``, every failure as :class:`AwsCallFailed`.

    Traced: one subsegment per call, named for the service and annotated with the
    operation and, on failure, AWS's error code; never a parameter or a result.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    with span(_TRACE_NAMES.get(service, service), namespace="aws", client_error=_client_error):
        annotate(operation=_operation_name(operation))
        try:
            return getattr(client(service), operation)(**params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            annotate(error_code=code)
            raise AwsCallFailed(service, operation, code, dict(exc.response)) from None
        except BotoCoreError as exc:
            annotate(error_code=type(exc).__name__)
            raise AwsCallFailed(service, operation, type(exc).__name__, {}) from None


# X-Ray's names for the services (its service map groups AWS subsegments by them).
_TRACE_NAMES = {
    "dynamodb": "DynamoDB",
    "kms": "KMS",
    "secretsmanager": "SecretsManager",
    "apigateway": "APIGateway",
}
# 4xx answers that are load, not the caller's mistake: a fault in the trace.
_THROTTLING = ("Throttl", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "LimitExceeded")


def _operation_name(operation: str) -> str:
    """boto3's ``get_item`` as the API's ``GetItem``."""
    return "".join(part.capitalize() for part in operation.split("_"))


def _client_error(exc: BaseException) -> bool:
    """An answered 4xx (a failed condition, a missing key) is an error, not a fault."""
    if not isinstance(exc, AwsCallFailed) or any(t in exc.code for t in _THROTTLING):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return isinstance(status, int) and 400 <= status < 500
