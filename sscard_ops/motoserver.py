"""moto's server behind a lock that serves one request at a time.

moto 5.2 is not atomic under concurrent requests (lost updates, overdrafts,
RuntimeError inside transactions), while DynamoDB is. Serialising requests
makes the stand-in honour the conditions our correctness rests on; and because
it does, a transaction's rollback needs only the items it touched (moto_journal.py),
not a copy of every table it names.

Connections are kept alive: werkzeug's development server closes every one after a
single response, so each AWS call would connect anew and the server start a thread
for it (a fifth of moto's time under load, and as much again in the caller).
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import multiprocessing.process
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from sscard_ops import moto_journal, moto_speedups

_access_log = logging.getLogger("werkzeug")


class LockedApp:
    """A WSGI app that lets one request in at a time, body included."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            # Drain the iterable inside the lock: moto may compute while it is consumed.
            return list(self._app(environ, start_response))


def _read_whole_body(environ: dict[str, Any]) -> None:
    """Take the request body off the connection before the app runs, whatever the app reads
    of it, so that the connection is at the next request line afterwards."""
    stream = environ["wsgi.input"]
    length = str(environ.get("CONTENT_LENGTH") or "")
    if length.isdigit():
        body = stream.read(int(length)) if int(length) else b""
    elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug's reader stops at the last chunk
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)


NO_BODY = {204, 304}


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, answering every request on a connection until the client closes it.

    werkzeug's `run_wsgi` ends each response with `Connection: close` and then reads whatever
    else the client sent (http.server cannot otherwise skip a body the app left unread), so
    it cannot keep a connection. This one reads each body whole before the app runs, answers
    with a Content-Length, and leaves the connection open unless the client asked to close it
    (HTTP/1.0, or `Connection: close`). The environ is werkzeug's (moto's make_environ).
    """

    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK of the headers (40 ms on Linux) on every response.
    disable_nagle_algorithm = True

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        _read_whole_body(environ)
        answer: list[Any] = []
        parts: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return parts.append

        try:
            parts.extend(self.server.app(environ, start_response))
            status, headers = answer
        except Exception:
            self.log_error("Error on request:\n%s", traceback.format_exc())
            self.close_connection = True
            status, headers, parts = "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], [b""]
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("connection", "transfer-encoding"):
                self.send_header(name, value)
        body = b"".join(parts)
        if int(code) not in NO_BODY and not any(n.lower() == "content-length" for n, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and int(code) not in NO_BODY:
            self.wfile.write(body)
        self.wfile.flush()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if _access_log.isEnabledFor(logging.INFO):  # formatting the line costs, even if dropped
            super().log_request(code, size)


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

    def _bind(self, fd: int | None = None) -> BaseWSGIServer:
        """The server, on `fd` (a socket already listening) or bound now to host and port."""
        moto_journal.install()
        moto_speedups.install()
        app = LockedApp(DomainDispatcherApplication(create_backend_app))
        return make_server(
            self._host, self._port, app, threaded=True, request_handler=KeepAliveHandler, fd=fd
        )

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


def _serve_in_child(listening: socket.socket, report: Connection) -> None:
    """The child's whole life: serve on the socket the parent bound, until told to stop."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    host, port = listening.getsockname()[:2]
    server = LockedMotoServer(host, port)
    server._server = server._bind(fd=listening.fileno())
    report.send("serving")
    parent = os.getppid()

    def orphaned() -> None:  # the parent was killed without stopping us: go too
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    server._server.serve_forever()


class MotoProcess:
    """A LockedMotoServer in a process of its own.

    The local stack's API, poller and moto would otherwise share one interpreter lock,
    so on a machine with more than one core moto's work and the API's run in parallel
    here. This process binds the port (a port in use is an OSError here, at once) and
    hands the listening socket to the child; `launch()` returns while the child is still
    importing moto, so the caller can do its own imports meanwhile, and `start()` waits
    until the child serves.
    """

    START_TIMEOUT = 120

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._process: multiprocessing.process.BaseProcess | None = None
        self._socket: socket.socket | None = None
        self._report: Connection | None = None
        self._serving = False

    def launch(self) -> MotoProcess:
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
            listening.bind((self._host, self._port))
            listening.listen(128)
        except OSError:
            listening.close()
            raise
        self._socket = listening
        context = multiprocessing.get_context("spawn")  # no fork of this process's threads
        parent_end, child_end = context.Pipe(duplex=False)
        self._report = parent_end
        self._process = context.Process(
            target=_serve_in_child, args=(listening, child_end), name="moto", daemon=True
        )
        self._process.start()
        child_end.close()
        return self

    def start(self) -> MotoProcess:
        if self._process is None:
            self.launch()
        assert self._report is not None
        if not self._serving:
            try:
                ready = self._report.poll(self.START_TIMEOUT) and self._report.recv() == "serving"
            except EOFError:  # the child died before serving
                ready = False
            if not ready:
                self.stop()
                raise RuntimeError("moto's process did not start serving")
            self._serving = True
        return self

    @property
    def endpoint(self) -> str:
        """Known from launch(): the parent bound the port."""
        assert self._socket is not None, "launch() first"
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
