"""A local API Gateway (REST API) in front of the real handlers: a DEVELOPMENT TOOL.

It is not API Gateway. It reproduces the parts gistgate depends on, as they
are documented, so ``make dev`` and the end-to-end tests exercise the same
handler functions Lambda runs, with no Docker:

- routes, the authorizer and its identity source and TTL, each function's
  ``Timeout`` and each route's ``TimeoutInMillis`` are read from ``template.yaml``
  (a route added there appears here with no other change);
- REST (v1) proxy events and REQUEST authorizer events, shaped like the real ones:
  header values trimmed, ``headers`` holding a repeated header's last value and
  ``multiValueHeaders`` every value;
- the identity source: no ``Authorization`` header → 401 without calling the authorizer;
- the authorizer's result cached per identity-source value for ``ReauthorizeEvery``
  seconds, its policy evaluated against each method ARN (so a cached policy
  covers the whole API only if it says so), its ``context`` passed on;
- the 401/403/5xx challenges from the same gateway-response definitions the
  deployment installs (``gistgate.cfn.responses``), the 403's ``WWW-Authenticate``
  mapped from the Deny's ``context.authorizer.www_authenticate``;
- one execution environment per function: its module imported once, reused
  warm, one invocation at a time, cut at the function's ``Timeout`` and then
  replaced (the next invocation pays a cold start);
- the limits, as the deployment has them (the constants below name their doc
  pages): a URL over 10240 characters is a 414, headers over 10240 bytes a 431,
  a body over 10 MB a 413; an event over Lambda's 6 MB is refused by Lambda (500),
  a function that fails, times out or answers more than 6 MB is a 502, and an
  integration that outlasts its timeout (29 s by default) a 504;
- what no handler sees because API Gateway answers first: a Host that is not
  ``host[:port]`` (or is sent twice), a malformed Content-Length or a header value
  with CR, LF or NUL (an obs-fold) is a 400, and a function's answer that cannot go
  on the wire (a body that is not UTF-8-encodable) is a 502. Nothing a client sends
  drops the connection.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import importlib.util
import json
import queue
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qs, urlsplit

from gistgate.cfn.responses import CORS_ALLOW_HEADERS, GatewayResponse, build_gateway_responses
from gistgate.core.config import MCP_PATH
from gistgate.core.inbound import MalformedRequest, authority
from gistgate.core.urls import PRM_PATH

__all__ = [
    "DEFAULT_TIMEOUT",
    "INIT_LIMIT",
    "INTEGRATION_TIMEOUT",
    "LAMBDA_PAYLOAD",
    "MAX_HEADER_BYTES",
    "MAX_PAYLOAD",
    "MAX_URL_LENGTH",
    "Answer",
    "ApiSpec",
    "FunctionError",
    "FunctionInstance",
    "FunctionTimeout",
    "GatewayServer",
    "Invocable",
    "LambdaContext",
    "LocalGateway",
    "Route",
    "decode_event",
    "encode_event",
    "json_body",
    "marshal_response",
    "read_api",
    "screen",
]

ACCOUNT = "123456789012"
REGION = "us-east-1"
API_ID = "localapi01"
FUNCTION = "AWS::Serverless::Function"

# API Gateway, "Quotas for configuring and running a REST API in API Gateway"
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html).
# "Payload size: 10 MB": API Gateway answers its REQUEST_TOO_LARGE response (413).
MAX_PAYLOAD = 10 * 1024 * 1024
# "Total combined size of all header values, including header names, values, any line
# terminators, and whitespaces: 10240 Bytes". The page names no status for it; we answer
# 431 Request Header Fields Too Large (RFC 6585 §5), what clients report seeing.
MAX_HEADER_BYTES = 10240
# "Length, in characters, of the URL for a regional API: 10240" (template.yaml: REGIONAL).
# No status is documented; 414 URI Too Long (RFC 9110 §15.5.15), as for the method ARN.
MAX_URL_LENGTH = 10240
# "Integration timeout: 50 milliseconds - 29 seconds for all integration types, including
# Lambda, Lambda proxy": the default, and the most a route's TimeoutInMillis may ask for.
# Past it API Gateway answers INTEGRATION_TIMEOUT, 504 "Endpoint request timed out"
# ("Gateway response types for API Gateway", supported-gateway-response-types.html).
INTEGRATION_TIMEOUT = 29.0
MIN_INTEGRATION_TIMEOUT = 0.05

# Lambda, "Lambda quotas" (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
# "Invocation payload (request and response): 6 MB each for request and response
# (synchronous)". Lambda's own message says 6291456 bytes for a request (it lets a response
# have 100 bytes more; one limit for both is the stricter reading).
LAMBDA_PAYLOAD = 6 * 1024 * 1024
# AWS::Serverless::Function "Timeout ... Default: 3" (SAM, sam-resource-function.html),
# when neither the function nor Globals set one.
DEFAULT_TIMEOUT = 3.0
# "Lambda execution environment lifecycle" (lambda-runtime-environment.html): "The Init
# phase is limited to 10 seconds"; past that Lambda retries the init within the first
# invocation, under the function's timeout. Here, more simply: an init may take
# INIT_LIMIT + Timeout in all, and what it takes past INIT_LIMIT comes out of the
# handler's time.
INIT_LIMIT = 10.0


class Route(NamedTuple):
    method: str
    path: str
    function: str  # logical id
    protected: bool
    timeout: float = INTEGRATION_TIMEOUT  # the integration's, in seconds (TimeoutInMillis)


class ApiSpec(NamedTuple):
    """What the template says about the REST API."""

    routes: tuple[Route, ...]
    code: dict[str, Path]  # function logical id -> its app.py
    authorizer: str | None
    identity_headers: tuple[str, ...]
    authorizer_ttl: int
    timeouts: dict[str, float]  # function logical id -> its Timeout, in seconds


def _parameter(template: Mapping[str, Any], value: Any, overrides: Mapping[str, str]) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        if name in overrides:
            return overrides[name]
        return template.get("Parameters", {}).get(name, {}).get("Default")
    return value


def _integration_timeout(event: Mapping[str, Any]) -> float:
    """A route's ``TimeoutInMillis`` in seconds; out of API Gateway's range is refused,
    as a deployment would refuse it."""
    millis = event.get("TimeoutInMillis")
    if millis is None:
        return INTEGRATION_TIMEOUT
    seconds = int(millis) / 1000
    if not MIN_INTEGRATION_TIMEOUT <= seconds <= INTEGRATION_TIMEOUT:
        raise ValueError(f"TimeoutInMillis {millis} is outside 50-29000")
    return seconds


def read_api(
    template: Mapping[str, Any], root: Path, parameters: Mapping[str, str] | None = None
) -> ApiSpec:
    """Routes, handlers, timeouts and the authorizer of the template's one REST API."""
    parameters = parameters or {}
    resources = template["Resources"]
    api = next(r for r in resources.values() if r["Type"] == "AWS::Serverless::Api")
    auth = api["Properties"].get("Auth") or {}
    default = auth.get("DefaultAuthorizer")
    authorizer = identity = None
    ttl = 300
    if default:
        config = auth["Authorizers"][default]
        authorizer = config["FunctionArn"]["Fn::GetAtt"][0]
        identity = tuple(config.get("Identity", {}).get("Headers") or ("Authorization",))
        ttl = int(
            _parameter(
                template, config.get("Identity", {}).get("ReauthorizeEvery", 300), parameters
            )
        )
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    default_timeout = _parameter(template, globals_.get("Timeout", DEFAULT_TIMEOUT), parameters)
    routes: list[Route] = []
    code: dict[str, Path] = {}
    timeouts: dict[str, float] = {}
    for name, resource in resources.items():
        if resource["Type"] != FUNCTION:
            continue
        props = resource["Properties"]
        module = props["Handler"].split(".")[0]
        code[name] = root / props["CodeUri"] / f"{module}.py"
        timeouts[name] = float(
            _parameter(template, props.get("Timeout", default_timeout), parameters)
        )
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            ev = event["Properties"]
            open_route = (ev.get("Auth") or {}).get("Authorizer") == "NONE"
            routes.append(
                Route(
                    ev["Method"].upper(),
                    ev["Path"],
                    name,
                    bool(default) and not open_route,
                    _integration_timeout(ev),
                )
            )
    return ApiSpec(tuple(routes), code, authorizer, identity or ("Authorization",), ttl, timeouts)


class LambdaContext:
    """The attributes Powertools and Mangum read from the Lambda context; the remaining
    time counts down from the function's timeout, as Lambda's does."""

    def __init__(self, function: str, budget: float = DEFAULT_TIMEOUT) -> None:
        self.function_name = f"gistgate-{function}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        )
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + budget

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionError(Exception):
    """The function failed as Lambda reports it (a type such as ``Runtime.MarshalError``):
    API Gateway answers 502."""


class FunctionTimeout(FunctionError):
    """The invocation outlasted the function's ``Timeout``; its instance was replaced."""


def encode_event(event: Mapping[str, Any]) -> bytes:
    """The Invoke payload: the event as UTF-8 JSON (its size is what Lambda limits).

    Bytes a client sent that are not UTF-8 travel as themselves (surrogate escapes),
    so the handler sees them as the gateway does.
    """
    return json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogateescape")


def decode_event(payload: bytes) -> Any:
    """The event back from :func:`encode_event`, as the runtime hands it to the handler."""
    return json.loads(payload.decode("utf-8", "surrogateescape"))


def marshal_response(result: Any) -> bytes:
    """What the Python runtime sends back: UTF-8 JSON (3.12+ runtimes leave non-ASCII
    unescaped, so text that cannot be UTF-8 fails here, ``Runtime.MarshalError``), at most
    6 MB (``Function.ResponseSizeTooLarge``). Either is a function error: 502."""
    try:
        payload = json.dumps(result, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        raise FunctionError("Runtime.MarshalError") from None
    if len(payload) > LAMBDA_PAYLOAD:
        raise FunctionError("Function.ResponseSizeTooLarge")
    return payload


class Invocable(Protocol):
    """A function the gateway routes to: in-process (:class:`FunctionInstance`) or a pool
    of processes (``gistgate_dev.local.workers.ProcessFunction``). Both cut an invocation at
    the function's timeout (:class:`FunctionTimeout`) and replace the instance it ran on."""

    def invoke(self, payload: bytes) -> bytes: ...

    def close(self) -> None: ...


class _Runner:
    """A daemon thread with its own event loop (Mangum runs the ASGI app on it) that runs
    one call at a time. A daemon: one abandoned mid-call must not hold up the exit."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._main, name=name, daemon=True).start()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            while (task := self._calls.get()) is not None:
                call, future = task
                try:
                    future.set_result(call())
                except BaseException as exc:  # the caller re-raises it
                    future.set_exception(exc)
        finally:
            loop.close()  # this thread has ended its last call: the loop is idle

    def submit(self, call: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._calls.put((call, future))
        return future

    def stop(self) -> None:
        """End after the call under way, if any."""
        self._calls.put(None)


class FunctionInstance:
    """One in-process execution environment: the module imported once, one invocation at
    a time, cut at ``timeout``. A thread cannot be killed: a timed-out one is abandoned
    (it ends when its call returns) and the next invocation gets a fresh thread and a
    fresh import of the module."""

    def __init__(self, name: str, app_py: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.timeout = timeout
        self._app_py = app_py
        self.module: ModuleType | None = None
        self._runner = _Runner(f"fn-{name}")
        self._lock = threading.Lock()
        self._closed = False
        self.invocations = 0
        self.cold_starts = 0

    def _import(self) -> ModuleType:
        module_name = f"gistgate_local_{self.name}"
        spec = importlib.util.spec_from_file_location(module_name, self._app_py)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module

    def _replace(self) -> None:
        self._runner.stop()
        self._runner = _Runner(f"fn-{self.name}")
        self.module = None

    def _wait(self, future: Future[Any], budget: float) -> Any:
        try:
            return future.result(timeout=max(budget, 0.0))
        except FutureTimeout:
            self._replace()
            raise FunctionTimeout(f"{self.name}: Task timed out after {self.timeout} s") from None

    def invoke(self, payload: bytes) -> bytes:
        with self._lock:  # one invocation at a time; waiting here is not the function's time
            if self._closed:
                raise FunctionError(f"{self.name}: closed")
            self.invocations += 1
            started = time.monotonic()
            if self.module is None:
                self.cold_starts += 1
                self.module = self._wait(
                    self._runner.submit(self._import), INIT_LIMIT + self.timeout
                )
            overrun = max(0.0, time.monotonic() - started - INIT_LIMIT)
            budget = self.timeout - overrun
            module = self.module

            def run() -> bytes:
                event = decode_event(payload)
                return marshal_response(module.handler(event, LambdaContext(self.name, budget)))

            result: bytes = self._wait(self._runner.submit(run), budget)
            return result

    def close(self) -> None:
        self._closed = True
        self._runner.stop()


class Answer(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_answer(status: int, message: str) -> Answer:
    body = json.dumps({"message": message}).encode()
    return Answer(status, [("Content-Type", "application/json")], body)


def _internal_error() -> Answer:
    """API Gateway's answer to a function that failed or answered something unusable."""
    return _json_answer(502, "Internal server error")


def _invocation_refused() -> Answer:
    """Lambda refused the Invoke (here: an event over 6 MB). "If the Lambda API rejects the
    invocation request, API Gateway returns a 500 error code" (Lambda developer guide,
    "Handling Lambda errors with an API Gateway API", services-apigateway-errors.html)."""
    return _json_answer(500, "Internal server error")


def _integration_timed_out() -> Answer:
    """INTEGRATION_TIMEOUT's default response (supported-gateway-response-types.html)."""
    return _json_answer(504, "Endpoint request timed out")


def _too_large() -> Answer:
    return _json_answer(413, "Request Too Long")


def _headers_too_large() -> Answer:
    return _json_answer(431, "Request Header Fields Too Large")


def _uri_too_long() -> Answer:
    return _json_answer(414, "Request-URI Too Long")


def _bad_request() -> Answer:
    """What the edge answers to a request that is not HTTP it can route (RFC 9112 §3.2)."""
    return _json_answer(400, "Bad Request")


def _domain(multi: Mapping[str, list[str]]) -> str | None:
    """The request's Host as ``host[:port]`` (API Gateway's domainName); None if malformed."""
    hosts = [v for name, values in multi.items() if name.lower() == "host" for v in values]
    if not hosts:
        return "127.0.0.1"
    if len(hosts) > 1:
        return None
    try:
        return authority(hosts[0])
    except MalformedRequest:
        return None


def screen(target: str, header_pairs: list[tuple[str, str]]) -> Answer | None:
    """What API Gateway refuses before routing: a URL or headers over their quotas, and a
    header value no HTTP/1.1 server may take (CR, LF or NUL, e.g. an obs-fold: RFC 9110
    §5.5, RFC 9112 §5.2 let a server answer 400). Header bytes are counted as they come
    on the wire, ``name: value`` and CRLF per line (the server decodes them as Latin-1,
    one character a byte)."""
    if len(target) > MAX_URL_LENGTH:
        return _uri_too_long()
    size = sum(len(name) + len(value) + 4 for name, value in header_pairs)
    if size > MAX_HEADER_BYTES:
        return _headers_too_large()
    if any(c in value for _, value in header_pairs for c in "\r\n\0"):
        return _bad_request()
    return None


def _gateway_answer(response: GatewayResponse, context: Mapping[str, Any] | None = None) -> Answer:
    """A gateway response; its mapped headers read ``context.authorizer.<key>``, as
    API Gateway's parameter mapping does (a value the context lacks sends no header)."""
    headers = [("Content-Type", "application/json"), *response.headers.items()]
    for name, source in response.mapped.items():
        key = source.removeprefix("context.authorizer.")
        value = (context or {}).get(key) if key != source else None
        if value is not None:
            headers.append((name, str(value)))
    return Answer(int(response.status_code), headers, response.body.encode())


def _allowed(policy: Mapping[str, Any], method_arn: str) -> bool | None:
    """IAM evaluation of the authorizer's policy: an explicit Deny wins; None = no match."""
    decision = None
    for statement in policy.get("policyDocument", {}).get("Statement", []):
        resources = statement.get("Resource")
        resources = [resources] if isinstance(resources, str) else resources or []
        if any(fnmatch.fnmatchcase(method_arn, pattern) for pattern in resources):
            if statement.get("Effect") == "Deny":
                return False
            decision = True
    return decision


class _Refused(Exception):
    """Lambda refused the invocation (the event is over its payload quota)."""


class _TimedOut(Exception):
    """The integration timeout passed first; the function may still be running."""


class LocalGateway:
    """Route HTTP requests to function instances, with the authorizer in front."""

    def __init__(
        self,
        spec: ApiSpec,
        *,
        stage: str = "prod",
        stage_in_path: bool = True,
        required_scopes: str = "",
        default_scopes: str = "",
        clock: Callable[[], float] = time.time,
        instances: Mapping[str, Invocable] | None = None,
    ) -> None:
        self.spec = spec
        self.stage = stage
        self.stage_in_path = stage_in_path
        self.required_scopes = required_scopes
        self.default_scopes = default_scopes
        self.clock = clock
        # In-process instances by default (tests with moto in-process); the local stack
        # passes process-isolated ones (gistgate_dev.local.workers).
        self.instances: dict[str, Invocable] = (
            dict(instances)
            if instances is not None
            else {
                name: FunctionInstance(name, path, spec.timeouts.get(name, DEFAULT_TIMEOUT))
                for name, path in spec.code.items()
            }
        )
        self._auth_cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.authorizer_calls = 0
        self._responses: dict[str, dict[str, GatewayResponse]] = {}
        # Invocations run here so the request can stop waiting at the integration timeout
        # while the function runs on to its own (and is then cut by its instance).
        self._integrations = ThreadPoolExecutor(max_workers=256, thread_name_prefix="integration")

    # -- events --------------------------------------------------------------------------

    def _context(self, method: str, resource: str, domain: str, source_ip: str) -> dict[str, Any]:
        prefix = f"/{self.stage}" if self.stage_in_path else ""
        return {
            "resourcePath": resource,
            "httpMethod": method,
            "path": prefix + resource,
            "accountId": ACCOUNT,
            "resourceId": "local",
            "stage": self.stage if self.stage_in_path else "$default",
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(self.clock() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": None},
            "apiId": API_ID,
            "protocol": "HTTP/1.1",
        }

    def _method_arn(self, method: str, path: str) -> str:
        return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{self.stage}/{method}{path}"

    @staticmethod
    def _headers(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
        """``headers`` (a repeated header's last value) and ``multiValueHeaders`` (every
        value, in order), as the proxy event has them ("Lambda proxy integrations in API
        Gateway", set-up-lambda-proxy-integrations.html, multi-value headers); values
        without the whitespace around them, which is not part of a field value (RFC 9110
        §5.5)."""
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, raw in pairs:
            value = raw.strip(" \t")
            single[name] = value
            multi.setdefault(name, []).append(value)
        return single, multi

    def _invoke(self, function: str, event: Mapping[str, Any], limit: float) -> Any:
        """One synchronous Invoke, as API Gateway makes it: refused over Lambda's payload
        quota, given up after ``limit`` seconds (the function runs on to its timeout)."""
        payload = encode_event(event)
        if len(payload) > LAMBDA_PAYLOAD:
            raise _Refused
        future = self._integrations.submit(self.instances[function].invoke, payload)
        try:
            answer: bytes = future.result(timeout=limit)
        except FutureTimeout:
            raise _TimedOut from None
        return json.loads(answer)

    # -- the request path ------------------------------------------------------------------

    def handle(
        self,
        method: str,
        target: str,
        header_pairs: list[tuple[str, str]],
        body: bytes,
        source_ip: str = "127.0.0.1",
    ) -> Answer:
        refused = screen(target, header_pairs)
        if refused is not None:
            return refused
        try:
            parts = urlsplit(target)
        except ValueError:  # e.g. an unclosed "[" in an absolute-form target
            return _bad_request()
        path = parts.path
        if self.stage_in_path:
            if not path.startswith(f"/{self.stage}/"):
                return self._missing_token()
            path = path[len(self.stage) + 1 :]
        headers, multi = self._headers(header_pairs)
        lower = {k.lower(): v for k, v in headers.items()}
        domain = _domain(multi)
        if domain is None:
            return _bad_request()
        if method == "OPTIONS":
            return self._preflight()
        route = next((r for r in self.spec.routes if r.path == path and r.method == method), None)
        if route is None:
            return self._missing_token()
        authorizer_context: dict[str, Any] | None = None
        if route.protected:
            decided = self._authorize(route, lower, headers, multi, domain, source_ip)
            if isinstance(decided, Answer):
                return decided
            authorizer_context = decided
        # Bytes that are not UTF-8 stay surrogate escapes, as in the body: the handler refuses
        # them (gistgate.core.inbound) instead of seeing U+FFFD.
        query = parse_qs(parts.query, keep_blank_values=True, errors="surrogateescape")
        context = self._context(method, path, domain, source_ip)
        if authorizer_context is not None:
            context["authorizer"] = authorizer_context
        text = body.decode("utf-8", "surrogateescape") if body else None
        event = {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": context,
            "body": text,
            "isBase64Encoded": False,
        }
        try:
            result = self._invoke(route.function, event, route.timeout)
        except _Refused:
            return _invocation_refused()
        except _TimedOut:
            return _integration_timed_out()
        except Exception:  # the function failed, timed out, or answered too much: 502
            return _internal_error()
        return self._proxy_answer(result)

    def _missing_token(self) -> Answer:
        return Answer(
            403,
            [("Content-Type", "application/json")],
            b'{"message":"Missing Authentication Token"}',
        )

    def _preflight(self) -> Answer:
        return Answer(
            200,
            [
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS),
                ("Access-Control-Allow-Methods", "GET,POST,DELETE,OPTIONS"),
                ("Access-Control-Max-Age", "600"),
            ],
            b"",
        )

    def _challenges(self, domain: str) -> dict[str, GatewayResponse]:
        """The installed gateway responses for this host (built once per host)."""
        found = self._responses.get(domain)
        if found is None:
            prefix = f"/{self.stage}" if self.stage_in_path else ""
            loopback = domain.split(":")[0] in ("127.0.0.1", "localhost", "[::1]")
            prm = f"{'http' if loopback else 'https'}://{domain}{prefix}{PRM_PATH}{MCP_PATH}"
            built = build_gateway_responses(
                prm, self.required_scopes, default_scopes=self.default_scopes
            )
            found = self._responses[domain] = {r.response_type: r for r in built}
        return found

    def _authorize(
        self,
        route: Route,
        lower: Mapping[str, str],
        headers: dict[str, str],
        multi: dict[str, list[str]],
        domain: str,
        source_ip: str,
    ) -> dict[str, Any] | Answer:
        challenges = self._challenges(domain)
        identity = tuple(lower.get(h.lower(), "") for h in self.spec.identity_headers)
        if not all(identity):
            return _gateway_answer(challenges["UNAUTHORIZED"])
        method_arn = self._method_arn(route.method, route.path)
        now = self.clock()
        with self._lock:
            cached = self._auth_cache.get(identity)
        if cached and cached[0] > now:
            policy = cached[1]
        else:
            event = {
                "type": "REQUEST",
                "methodArn": method_arn,
                "resource": route.path,
                "path": route.path,
                "httpMethod": route.method,
                "headers": headers,
                "multiValueHeaders": multi,
                "queryStringParameters": None,
                "multiValueQueryStringParameters": None,
                "pathParameters": {},
                "stageVariables": None,
                "requestContext": self._context(route.method, route.path, domain, source_ip),
            }
            assert self.spec.authorizer is not None
            self.authorizer_calls += 1
            try:
                # No TimeoutInMillis applies to an authorizer; the integration default bounds
                # the wait, and its own Timeout (5 s in template.yaml) comes first.
                policy = self._invoke(self.spec.authorizer, event, INTEGRATION_TIMEOUT)
            except Exception as exc:
                if str(exc) == "Unauthorized":
                    return _gateway_answer(challenges["UNAUTHORIZED"])
                # It raised, timed out, or could not be invoked: it did not decide. API
                # Gateway answers that as AUTHORIZER_CONFIGURATION_ERROR ("Handling Lambda
                # errors with an API Gateway API": 500 AuthorizerConfigurationException).
                return _gateway_answer(challenges["AUTHORIZER_CONFIGURATION_ERROR"])
            if not isinstance(policy, dict) or "policyDocument" not in policy:
                return _gateway_answer(challenges["AUTHORIZER_CONFIGURATION_ERROR"])
            if self.spec.authorizer_ttl > 0:
                with self._lock:
                    self._auth_cache[identity] = (now + self.spec.authorizer_ttl, policy)
        if not _allowed(policy, method_arn):
            return _gateway_answer(challenges["ACCESS_DENIED"], policy.get("context"))
        context = {k: v for k, v in (policy.get("context") or {}).items()}
        context["principalId"] = policy.get("principalId")
        return context

    @staticmethod
    def _proxy_answer(result: Any) -> Answer:
        """The function's proxy response on the wire; one Lambda could not return is a 502."""
        if not isinstance(result, dict) or "statusCode" not in result:
            return _internal_error()
        out: list[tuple[str, str]] = []
        multi = result.get("multiValueHeaders") or {}
        for name, values in multi.items():
            out += [(name, str(v)) for v in values]
        for name, value in (result.get("headers") or {}).items():
            if name not in multi:
                out.append((name, str(value)))
        raw = result.get("body") or ""
        try:
            # marshal_response already refused text Lambda could not serialize; this
            # keeps the answer a 502 for anything else that cannot go on the wire.
            content = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
            # Header values go out as their UTF-8 bytes (http.server writes latin-1).
            out = [(k, v.encode().decode("latin-1")) for k, v in out]
        except (ValueError, UnicodeError):
            return _internal_error()
        return Answer(int(result["statusCode"]), out, content)

    def close(self) -> None:
        for instance in self.instances.values():
            instance.close()
        # Instances are closed: no invocation is left waiting on one.
        self._integrations.shutdown(wait=False, cancel_futures=True)


class _Server(ThreadingHTTPServer):
    """socketserver's listen backlog is 5: twenty clients connecting at once overflow it and
    the kernel drops their handshakes. API Gateway refuses no connection at that rate."""

    request_queue_size = 128


class GatewayServer:
    """The gateway on a loopback HTTP port (threads: concurrent requests, as API Gateway)."""

    def __init__(self, gateway: LocalGateway, host: str = "127.0.0.1", port: int = 0) -> None:
        self.gateway = gateway
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
                # algorithm and the client's delayed ACK add ~40 ms to every keep-alive reply.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().setup()

            def _answer(self) -> Answer:
                pairs = list(self.headers.items())
                refused = screen(self.path, pairs)
                if refused is not None:  # before the body, which stays unread
                    self.close_connection = True
                    return refused
                declared = [v.strip() for v in self.headers.get_all("Content-Length") or ["0"]]
                if len(declared) > 1 or not (declared[0].isascii() and declared[0].isdigit()):
                    self.close_connection = True  # where the body ends is unknown
                    return _bad_request()
                length = int(declared[0]) if len(declared[0]) <= 9 else MAX_PAYLOAD + 1
                if length > MAX_PAYLOAD:
                    self.close_connection = True
                    return _too_large()
                body = self.rfile.read(length) if length else b""
                try:
                    return outer.gateway.handle(
                        self.command, self.path, pairs, body, self.client_address[0]
                    )
                except Exception:  # a bug here must be an answer, not a dropped connection
                    return _internal_error()

            def _serve(self) -> None:
                answer = self._answer()
                self.send_response(answer.status)
                for name, value in answer.headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            # Every method API Gateway accepts; routes decide (403 where there is none).
            do_GET = do_POST = do_DELETE = do_PUT = do_OPTIONS = do_PATCH = do_HEAD = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server: (host, port)
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """Where the API's stage lives (the issuer in builtin mode)."""
        gateway = self.gateway
        return self.origin + (f"/{gateway.stage}" if gateway.stage_in_path else "")

    def start(self) -> GatewayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.gateway.close()


def json_body(answer: Answer) -> Any:
    return json.loads(answer.body)
