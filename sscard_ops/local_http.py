"""Chalice's local HTTP server, hardened where it differs from API Gateway in front of Lambda.

- An unknown route: Chalice's local gateway raises ForbiddenError (403 "Missing
  Authentication Token"), as API Gateway does; our gateway responses (infra/)
  answer it as a 404 problem, and so does this handler.
- A malformed, repeated or huge Content-Length, or a chunked body: the stock
  handler crashes the connection or waits to read gigabytes; this one refuses
  with a problem (400 or 413) before reading anything.
- Until the stack is seeded (`mark_ready`), every request gets a 503 problem with
  Retry-After at once, instead of waiting unanswered in the listen backlog.
- Its access log would print request paths, which carry card numbers: the
  app's middleware logs each request (route template, no card numbers) instead.
"""

from __future__ import annotations

import re
import sys
import threading
from http.server import HTTPServer
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, ForbiddenError, LocalDevServer, LocalGatewayException

from chalicelib.api.problems import BadRequest, LengthRequired, PayloadTooLarge, Problem, gateway_problem
from chalicelib.domain.errors import StorageBusy
from chalicelib.logs import redact
from chalicelib.settings import settings

_DIGITS = re.compile(r"[0-9]{1,19}")


class ProblemRequestHandler(ChaliceRequestHandler):
    # A client that announces a body and never sends it is dropped after this many seconds.
    timeout = 30
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK of the headers (40 ms on Linux) on every response.
    disable_nagle_algorithm = True

    def _generic_handle(self) -> None:
        ready: threading.Event | None = getattr(self.server, "ready", None)
        if ready is not None and not ready.is_set():
            self.close_connection = True
            self._send_problem(
                Problem(StorageBusy("Not seeded yet: wait for the ready line of `sscard serve`")),
                {"Connection": "close"},
            )
            return
        refusal = self._refuse_body()
        if refusal is not None:
            # The body (if any) is left unread, so the connection cannot be reused.
            self.close_connection = True
            self._send_problem(refusal, {"Connection": "close"})
            return
        super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _refuse_body(self) -> Problem | None:
        if self.headers.get("transfer-encoding"):
            return Problem(
                LengthRequired(
                    "Chunked transfer encoding is not accepted; send the body with a Content-Length"
                )
            )
        values = self.headers.get_all("content-length") or []
        if not values:
            return None
        if len(set(values)) > 1 or not _DIGITS.fullmatch(values[0].strip()):
            return Problem(BadRequest("Content-Length is not valid"))
        limit = settings().max_body_bytes
        if int(values[0].strip()) > limit:
            return Problem(PayloadTooLarge(f"At most {limit} bytes"))
        return None

    def _send_error_response(self, error: LocalGatewayException) -> None:
        # No authorizers are configured, so ForbiddenError only ever means "no such route".
        status = 403 if isinstance(error, ForbiddenError) else error.CODE
        self._send_problem(gateway_problem(status))

    def _send_problem(self, problem: Problem, extra_headers: dict[str, str] | None = None) -> None:
        response = problem.response()
        headers: dict[str, Any] = {**response.headers, **(extra_headers or {})}
        self._send_http_response(response.status_code, headers, response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: the middleware writes the access log without personal data."""

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(redact(f"{self.address_string()} - {format % args}") + "\n")


LISTEN_BACKLOG = 128


def create_server(
    app_obj: Chalice, config: Config, host: str, port: int, *, ready: bool = True
) -> LocalDevServer:
    """The server `chalice local` builds, answering through ProblemRequestHandler.

    `port` 0 binds a free port; read it back with `bound_port`. ready=False: it answers
    503 to everything until `mark_ready`.
    """
    from chalice import local

    if isinstance(app_obj, local.CustomLocalChalice):
        # Chalice turns the app into a local one the first time; again would be a base cycle.
        server = local.LocalDevServer(app_obj, config, host, port)
    else:
        server = local.create_local_server(app_obj, config, host, port)
    server.server.ready = threading.Event()
    if ready:
        server.server.ready.set()
    server.server.RequestHandlerClass = _bind(app_obj, config)
    # socketserver listens with a backlog of 5: a burst of terminals would get resets.
    server.server.socket.listen(LISTEN_BACKLOG)
    return server


def _bind(app_obj: Chalice, config: Config) -> Any:
    def handler(request: Any, client_address: Any, server: HTTPServer) -> ProblemRequestHandler:
        return ProblemRequestHandler(request, client_address, server, app_object=app_obj, config=config)

    return handler


def mark_ready(server: LocalDevServer) -> None:
    """From now on the server answers requests (before: 503)."""
    server.server.ready.set()


def bound_port(server: LocalDevServer) -> int:
    return int(server.server.server_address[1])
