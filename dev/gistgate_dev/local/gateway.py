"""A local API Gateway (REST API) in front of the real handlers: a DEVELOPMENT TOOL.

It is not API Gateway. It reproduces the parts gistgate depends on, as they
are documented, so ``make dev`` and the end-to-end tests exercise the same
handler functions Lambda runs, with no Docker:

- routes, the authorizer and its identity source and TTL are read from
  ``template.yaml`` (a route added there appears here with no other change);
- REST (v1) proxy events and REQUEST authorizer events, shaped like the real ones;
- the identity source: no ``Authorization`` header → 401 without calling the authorizer;
- the authorizer's result cached per identity-source value for ``ReauthorizeEvery``
  seconds, its policy evaluated against each method ARN (so a cached policy
  covers the whole API only if it says so), its ``context`` passed on;
- the 401/403/5xx challenges from the same gateway-response definitions the
  deployment installs (``gistgate.cfn.responses``), the 403's ``WWW-Authenticate``
  mapped from the Deny's ``context.authorizer.www_authenticate``;
- one execution environment per function: its module imported once, reused
  warm, one invocation at a time;
- what no handler sees because API Gateway answers first: a Host that is not
  ``host[:port]`` (or is sent twice) or a malformed Content-Length is a 400,
  and a function's answer that cannot go on the wire (a body that is not
  UTF-8-encodable) is a 502. Nothing a client sends drops the connection.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import importlib.util
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qs, urlsplit

from gistgate.cfn.responses import CORS_ALLOW_HEADERS, GatewayResponse, build_gateway_responses
from gistgate.core.config import MCP_PATH
from gistgate.core.inbound import MalformedRequest, authority
from gistgate.core.urls import PRM_PATH

ACCOUNT = "123456789012"
REGION = "us-east-1"
API_ID = "localapi01"
FUNCTION = "AWS::Serverless::Function"
MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's request payload quota


class Route(NamedTuple):
    method: str
    path: str
    function: str  # logical id
    protected: bool


class ApiSpec(NamedTuple):
    """What the template says about the REST API."""

    routes: tuple[Route, ...]
    code: dict[str, Path]  # function logical id -> its app.py
    authorizer: str | None
    identity_headers: tuple[str, ...]
    authorizer_ttl: int


def _parameter(template: Mapping[str, Any], value: Any, overrides: Mapping[str, str]) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        if name in overrides:
            return overrides[name]
        return template.get("Parameters", {}).get(name, {}).get("Default")
    return value


def read_api(
    template: Mapping[str, Any], root: Path, parameters: Mapping[str, str] | None = None
) -> ApiSpec:
    """Routes, handlers and the authorizer of the template's one REST API."""
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
    routes: list[Route] = []
    code: dict[str, Path] = {}
    for name, resource in resources.items():
        if resource["Type"] != FUNCTION:
            continue
        props = resource["Properties"]
        module = props["Handler"].split(".")[0]
        code[name] = root / props["CodeUri"] / f"{module}.py"
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            ev = event["Properties"]
            open_route = (ev.get("Auth") or {}).get("Authorizer") == "NONE"
            routes.append(
                Route(ev["Method"].upper(), ev["Path"], name, bool(default) and not open_route)
            )
    return ApiSpec(tuple(routes), code, authorizer, identity or ("Authorization",), ttl)


class LambdaContext:
    """The attributes Powertools and Mangum read from the Lambda context."""

    def __init__(self, function: str) -> None:
        self.function_name = f"gistgate-{function}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        )
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 28_000


class Invocable(Protocol):
    """A function the gateway routes to: in-process (:class:`FunctionInstance`) or a pool
    of processes (``gistgate_dev.local.workers.ProcessFunction``)."""

    def invoke(self, event: dict[str, Any]) -> Any: ...

    def close(self) -> None: ...


class FunctionInstance:
    """One execution environment: the module imported once, one invocation at a time."""

    def __init__(self, name: str, app_py: Path) -> None:
        self.name = name
        self._app_py = app_py
        self._module: ModuleType | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, initializer=self._init_loop)
        self.invocations = 0

    def _init_loop(self) -> None:
        """The worker thread's event loop (Mangum runs the ASGI app on it)."""
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

    def _load(self) -> ModuleType:
        if self._module is None:
            module_name = f"gistgate_local_{self.name}"
            spec = importlib.util.spec_from_file_location(module_name, self._app_py)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            self._module = module
        return self._module

    def _run(self, event: dict[str, Any]) -> Any:
        return self._load().handler(event, LambdaContext(self.name))

    def invoke(self, event: dict[str, Any]) -> Any:
        self.invocations += 1
        return self._pool.submit(self._run, event).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._loop is not None:
            self._loop.close()  # its thread has ended: the loop is idle


class Answer(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _internal_error() -> Answer:
    """API Gateway's answer to a function that failed or answered something unusable."""
    return Answer(
        502, [("Content-Type", "application/json")], b'{"message": "Internal server error"}'
    )


def _too_large() -> Answer:
    return Answer(413, [("Content-Type", "application/json")], b'{"message": "Request Too Long"}')


def _bad_request() -> Answer:
    """What the edge answers to a request that is not HTTP it can route (RFC 9112 §3.2)."""
    return Answer(400, [("Content-Type", "application/json")], b'{"message": "Bad Request"}')


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
            else {name: FunctionInstance(name, path) for name, path in spec.code.items()}
        )
        self._auth_cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.authorizer_calls = 0
        self._responses: dict[str, dict[str, GatewayResponse]] = {}

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
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            single[name] = value
            multi.setdefault(name, []).append(value)
        return single, multi

    # -- the request path ------------------------------------------------------------------

    def handle(
        self,
        method: str,
        target: str,
        header_pairs: list[tuple[str, str]],
        body: bytes,
        source_ip: str = "127.0.0.1",
    ) -> Answer:
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
            result = self.instances[route.function].invoke(event)
        except Exception:
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
                policy = self.instances[self.spec.authorizer].invoke(event)
            except Exception as exc:
                if str(exc) == "Unauthorized":
                    return _gateway_answer(challenges["UNAUTHORIZED"])
                return _gateway_answer(challenges["AUTHORIZER_FAILURE"])
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
            # Lambda serializes the response as UTF-8 JSON: text that cannot be encoded
            # fails there (Runtime.MarshalError), and API Gateway answers 502.
            content = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
            # Header values go out as their UTF-8 bytes (http.server writes latin-1).
            out = [(k, v.encode().decode("latin-1")) for k, v in out]
        except (ValueError, UnicodeError):
            return _internal_error()
        return Answer(int(result["statusCode"]), out, content)

    def close(self) -> None:
        for instance in self.instances.values():
            instance.close()


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
                        self.command,
                        self.path,
                        list(self.headers.items()),
                        body,
                        self.client_address[0],
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

        self._server = ThreadingHTTPServer((host, port), Handler)
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
