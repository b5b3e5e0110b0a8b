"""moto's server behind a lock that serves one request at a time.

moto 5.2 is not atomic under concurrent requests (lost updates, overdrafts,
RuntimeError inside transactions), while DynamoDB is. Serialising requests
makes the stand-in honour the conditions our correctness rests on; and because
it does, a transaction's rollback needs only the items it touched (moto_journal.py),
not a copy of every table it names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from sscard_ops import moto_journal


class LockedApp:
    """A WSGI app that lets one request in at a time, body included."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            # Drain the iterable inside the lock: moto may compute while it is consumed.
            return list(self._app(environ, start_response))


class LockedMotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host}:{port}"

    def _bind(self) -> BaseWSGIServer:
        moto_journal.install()
        app = LockedApp(DomainDispatcherApplication(create_backend_app))
        return make_server(self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler)

    def start(self) -> LockedMotoServer:
        self._server = self._bind()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server = self._bind()
        self._server.serve_forever()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
