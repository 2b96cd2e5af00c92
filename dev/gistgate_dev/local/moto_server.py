"""moto's server for the local stack: one request at a time, replies without Nagle delay.

moto's backends are not thread-safe: TransactWriteItems deep-copies the tables
for its rollback while another thread writes, and fails with "dictionary changed
size during iteration" (DynamoDB itself has no such race). The threaded server
still accepts connections concurrently; the lock only serialises the backend.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


class _Serialised:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


class _NoDelayHandler(MotoRequestHandler):
    """botocore keeps connections alive; without TCP_NODELAY each reply (headers, then
    body, in two writes) waits out the client's delayed ACK, ~40 ms."""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class SerialMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose backend handles one request at a time."""

    def _server_entry(self) -> None:
        app = _Serialised(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=_NoDelayHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
