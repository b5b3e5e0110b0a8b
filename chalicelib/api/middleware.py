"""Around every HTTP request: size limit, problem+json for the framework's own errors, access log."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from chalice.app import Request, Response

from chalicelib.logs import get_logger
from chalicelib.settings import settings

from .http import raw_body
from .problems import CONTENT_TYPE, PayloadTooLarge, gateway_problem, problem_response

log = get_logger("sscard.http")


def problem_middleware(request: Request, get_response: Callable[[Request], Response]) -> Response:
    started = time.perf_counter()
    request_id = str((request.context or {}).get("requestId") or uuid.uuid4())
    try:
        if len(raw_body(request)) > settings().max_body_bytes:
            response = problem_response(PayloadTooLarge(f"At most {settings().max_body_bytes} bytes"))
        else:
            response = _as_problem_if_error(get_response(request))
    except Exception as exc:  # the last line of defence: never a stack trace
        log.exception("unhandled_error", extra={"error_type": type(exc).__name__})
        response = gateway_problem(500).response()
    response.headers["X-Request-Id"] = request_id
    log.info(
        "request",
        extra={
            "method": request.method,
            "route": (request.context or {}).get("resourcePath"),  # the template: no card numbers
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "request_id": request_id,
        },
    )
    return response


def _as_problem_if_error(response: Response) -> Response:
    """Chalice answers 405, 415 and its own 500 with a non-problem body; replace it."""
    if response.status_code < 400:
        return response
    headers = {k: str(v) for k, v in response.headers.items() if k.lower() != "content-type"}
    if any(k.lower() == "content-type" and v == CONTENT_TYPE for k, v in response.headers.items()):
        return response
    if isinstance(response.body, str):
        try:
            if json.loads(response.body).get("type"):
                return response
        except (ValueError, AttributeError):
            pass
    return gateway_problem(
        response.status_code,
        headers={k: v for k, v in headers.items() if k.lower() in ("allow", "retry-after")},
    ).response()
