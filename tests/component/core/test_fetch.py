"""gistgate/core/fetch.py against real servers on loopback: status, size, JSON, redirects, time."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gistgate.core.fetch import MAX_REDIRECTS, USER_AGENT, FetchError, request_json

TIMEOUT = 0.2


class RawServer:
    """A stdlib HTTP server on 127.0.0.1 whose handler writes the response by hand.

    Handlers block on ``release`` instead of sleeping, so teardown ends them at once.
    """

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler, threading.Event], None]):
        self.release = threading.Event()
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.requests.append(self.path)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    respond(self, outer.release)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    started: list[RawServer] = []

    def start(respond: Callable[[BaseHTTPRequestHandler, threading.Event], None]) -> RawServer:
        server = RawServer(respond)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_200_json_is_decoded(httpserver):
    httpserver.expect_request("/doc").respond_with_json({"issuer": "x", "n": [1, 2]})

    assert request_json(httpserver.url_for("/doc")) == {"issuer": "x", "n": [1, 2]}
    request = httpserver.log[0][0]
    assert request.method == "GET"
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Accept"] == "application/json"


def test_listed_error_statuses_are_decoded_and_headers_are_sent(httpserver):
    """An OAuth endpoint's 400 with a JSON error is an answer, when the caller says so."""
    httpserver.expect_request("/token", headers={"Authorization": "Bearer t"}).respond_with_json(
        {"error": "invalid_grant"}, status=400
    )

    answer = request_json(
        httpserver.url_for("/token"), headers={"Authorization": "Bearer t"}, statuses=(200, 400)
    )

    assert answer == {"error": "invalid_grant"}
    with pytest.raises(FetchError):
        request_json(httpserver.url_for("/token"), headers={"Authorization": "Bearer t"})


@pytest.mark.parametrize("status", [201, 204, 400, 404, 500, 503])
def test_non_200_status_is_an_error(httpserver, status):
    httpserver.expect_request("/doc").respond_with_data("{}", status=status)

    with pytest.raises(FetchError) as caught:
        request_json(httpserver.url_for("/doc"))

    assert caught.value.reason == "http_status"
    assert str(status) in str(caught.value)


def test_body_over_max_bytes_with_content_length_is_too_large(httpserver):
    httpserver.expect_request("/big").respond_with_json({"pad": "x" * 2_000})

    with pytest.raises(FetchError) as caught:
        request_json(httpserver.url_for("/big"), max_bytes=1_000)

    assert caught.value.reason == "too_large"


def test_body_at_max_bytes_is_accepted(httpserver):
    body = json.dumps({"pad": "x" * 990})
    httpserver.expect_request("/doc").respond_with_data(body, content_type="application/json")

    assert request_json(httpserver.url_for("/doc"), max_bytes=len(body))["pad"] == "x" * 990


def test_declared_content_length_is_refused_before_reading(raw_server):
    # The server declares 10 MB but sends 2 bytes and waits: without the check on
    # Content-Length the client would wait for the rest and time out instead.
    def respond(handler, release):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "10000000")
        handler.end_headers()
        handler.wfile.write(b"{}")
        handler.wfile.flush()
        release.wait(5)

    server = raw_server(respond)

    with pytest.raises(FetchError) as caught:
        request_json(server.url + "/big", max_bytes=1_000, timeout=TIMEOUT)

    assert caught.value.reason == "too_large"
    assert "declared" in str(caught.value)


def test_chunked_body_over_max_bytes_is_too_large(raw_server):
    # No Content-Length: the cap must be enforced while reading.
    def respond(handler, release):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b'"' + b"x" * 4_094 + b'"'
        for _ in range(64):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    server = raw_server(respond)

    with pytest.raises(FetchError) as caught:
        request_json(server.url + "/chunked", max_bytes=50_000)

    assert caught.value.reason == "too_large"
    assert "declared" not in str(caught.value)


def test_chunked_body_within_max_bytes_is_read(raw_server):
    def respond(handler, release):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for part in (b'{"a": ', b"[1, 2, 3]", b"}"):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        handler.wfile.write(b"0\r\n\r\n")

    server = raw_server(respond)

    assert request_json(server.url + "/chunked", max_bytes=50_000) == {"a": [1, 2, 3]}


@pytest.mark.parametrize("body", ["<html>hi</html>", "", "{'single': 'quotes'}", "[1, 2"])
def test_non_json_body_is_not_json(httpserver, body):
    httpserver.expect_request("/doc").respond_with_data(body, content_type="application/json")

    with pytest.raises(FetchError) as caught:
        request_json(httpserver.url_for("/doc"))

    assert caught.value.reason == "not_json"


def test_deeply_nested_json_is_not_json_not_a_crash(httpserver):
    httpserver.expect_request("/doc").respond_with_data("[" * 100_000 + "]" * 100_000)

    with pytest.raises(FetchError) as caught:
        request_json(httpserver.url_for("/doc"), max_bytes=300_000)

    assert caught.value.reason == "not_json"


@pytest.mark.parametrize("location", ["/new", "new", "{base}/new"])
def test_redirect_to_the_same_host_is_followed(httpserver, location):
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/old").respond_with_data(
        "", status=302, headers={"Location": location.format(base=base)}
    )
    httpserver.expect_request("/new").respond_with_json({"moved": True})

    assert request_json(httpserver.url_for("/old")) == {"moved": True}
    assert [request.path for request, _ in httpserver.log] == ["/old", "/new"]


def json_responder(document):
    def respond(handler, release):
        body = json.dumps(document).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


def test_redirect_to_another_host_is_refused_without_contacting_it(httpserver, raw_server):
    other = raw_server(json_responder({"keys": []}))
    assert other.url.startswith("http://127.0.0.1:")
    assert request_json(other.url + "/jwks.json") == {"keys": []}  # it does answer
    httpserver.expect_request("/jwks.json").respond_with_data(
        "", status=307, headers={"Location": other.url + "/jwks.json"}
    )

    with pytest.raises(FetchError) as caught:
        request_json(httpserver.url_for("/jwks.json"))

    assert caught.value.reason == "redirect_off_host"
    assert len(httpserver.log) == 1
    assert other.requests == ["/jwks.json"]  # only the direct probe above


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("http://127.0.0.1:{port}/x", id="same-port-other-name"),
        pytest.param("http://localhost:{other}/x", id="same-name-other-port"),
        pytest.param("https://localhost:{port}/x", id="scheme-upgrade"),
        pytest.param("http://169.254.169.254/latest/meta-data/", id="metadata-service"),
    ],
)
def test_redirect_changing_scheme_or_netloc_is_refused(httpserver, target):
    port = httpserver.port
    location = target.format(port=port, other=closed_port())
    httpserver.expect_request("/doc").respond_with_data(
        "", status=302, headers={"Location": location}
    )

    with pytest.raises(FetchError) as caught:
        request_json(httpserver.url_for("/doc"))

    assert caught.value.reason == "redirect_off_host"
    assert [request.path for request, _ in httpserver.log] == ["/doc"]


@pytest.mark.parametrize("status", [300, 304])
def test_3xx_without_location_is_an_http_status_error_after_one_request(httpserver, status):
    httpserver.expect_request("/doc").respond_with_data("", status=status)

    with pytest.raises(FetchError) as caught:
        request_json(httpserver.url_for("/doc"))

    assert caught.value.reason == "http_status"
    assert len(httpserver.log) == 1


def test_redirect_loop_stops_after_max_redirects(httpserver):
    httpserver.expect_request("/loop").respond_with_data(
        "", status=302, headers={"Location": "/loop"}
    )

    with pytest.raises(FetchError) as caught:
        request_json(httpserver.url_for("/loop"))

    assert caught.value.reason == "too_many_redirects"
    assert len(httpserver.log) == MAX_REDIRECTS + 1


@pytest.mark.parametrize(
    "url",
    ["http://192.0.2.1/jwks.json", "ftp://192.0.2.1/jwks.json", "https://u:p@192.0.2.1/"],
)
def test_unsafe_url_fails_without_network(url):
    # 192.0.2.1 (TEST-NET-1) never answers: a connection attempt would end in a timeout.
    started = time.monotonic()

    with pytest.raises(FetchError) as caught:
        request_json(url, timeout=1.0)

    assert caught.value.reason == "unsafe_url"
    assert time.monotonic() - started < 0.5


def test_connection_refused_is_a_transport_error():
    with pytest.raises(FetchError) as caught:
        request_json(f"http://127.0.0.1:{closed_port()}/jwks.json", timeout=TIMEOUT)

    assert caught.value.reason == "transport"


def test_server_that_never_answers_times_out_within_bound(raw_server):
    def respond(handler, release):
        release.wait(5)

    server = raw_server(respond)
    started = time.monotonic()

    with pytest.raises(FetchError) as caught:
        request_json(server.url + "/slow", timeout=TIMEOUT)

    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 3 * TIMEOUT
    assert server.requests == ["/slow"]


def test_slow_body_times_out_within_bound(raw_server):
    # Each byte arrives well inside the per-read timeout; only the overall
    # deadline stops a body that trickles forever.
    def respond(handler, release):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"[")
        handler.wfile.flush()
        while not release.wait(0.02):
            handler.wfile.write(b" ")
            handler.wfile.flush()

    server = raw_server(respond)
    started = time.monotonic()

    with pytest.raises(FetchError) as caught:
        request_json(server.url + "/trickle", timeout=TIMEOUT)

    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 3 * TIMEOUT


def test_slow_headers_time_out_within_bound(raw_server):
    # Headers trickle for 0.7 s (3.5x the timeout), then a valid response completes.
    def respond(handler, release):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
        for _ in range(35):
            if release.wait(0.02):
                return
            handler.wfile.write(b"a")
            handler.wfile.flush()
        handler.wfile.write(b"\r\nContent-Length: 2\r\n\r\n{}")
        handler.wfile.flush()

    server = raw_server(respond)
    started = time.monotonic()

    with pytest.raises(FetchError) as caught:
        request_json(server.url + "/trickle-headers", timeout=TIMEOUT)

    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 3 * TIMEOUT


def test_post_sends_form_and_basic_auth(httpserver):
    client_id = "gistgate-rs"
    secret = secrets.token_urlsafe(16)
    opaque = secrets.token_urlsafe(32)
    httpserver.expect_request("/introspect", method="POST").respond_with_json({"active": False})

    answer = request_json(
        httpserver.url_for("/introspect"),
        method="POST",
        form={"token": opaque, "token_type_hint": "access_token"},
        auth=(client_id, secret),
    )

    assert answer == {"active": False}
    request = httpserver.log[0][0]
    assert request.method == "POST"
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {"token": opaque, "token_type_hint": "access_token"}
    expected = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
