"""Idempotency-Key handling around a state-changing view."""

from __future__ import annotations

import json
from collections.abc import Callable

from chalice.app import Request, Response

from chalicelib.services import idempotency
from chalicelib.services.idempotency import IdempotencyKeyMissing

from .deps import deps
from .http import raw_body
from .operations import as_problem, log
from .problems import CONTENT_TYPE, from_domain

REPLAYED_HEADER = "Idempotent-Replayed"


def idempotent(
    request: Request, caller_id: str, run: Callable[[], Response], *, required: bool = False
) -> Response:
    key = request.headers.get("idempotency-key")
    if key is None:
        if required:
            return from_domain(IdempotencyKeyMissing("Send an Idempotency-Key header")).response()
        return run()
    d = deps()
    now = int(d.clock().timestamp())
    try:
        scoped = idempotency.scope_key(caller_id, key)
        print_ = request_fingerprint(request)
        stored = idempotency.begin(d.idempotency, scoped, print_, now)
    except Exception as exc:
        return as_problem(exc).response()
    if stored is not None:
        content_type = CONTENT_TYPE if stored.status >= 400 else "application/json"
        return Response(
            body=stored.body,
            status_code=stored.status,
            headers={"Content-Type": content_type, REPLAYED_HEADER: "true"},
        )
    try:
        response = run()
    except Exception as exc:
        response = as_problem(exc).response()
    if response.status_code >= 500:
        # A passing failure: let the retry run the request again.
        _quietly(lambda: idempotency.abandon(d.idempotency, scoped))
        return response
    body = response.body if isinstance(response.body, str) else json.dumps(response.body)
    _quietly(lambda: idempotency.finish(d.idempotency, scoped, print_, now, response.status_code, body))
    return response


def request_fingerprint(request: Request) -> str:
    """Method, route and path parameters, and the body: the same key on another request differs."""
    target = f"{request.context.get('resourcePath', '')}?{sorted((request.uri_params or {}).items())}"
    return idempotency.fingerprint(request.method, target, raw_body(request))


def _quietly(action: Callable[[], None]) -> None:
    # The answer is already decided; failing to record it only makes a retry wait for the lock.
    try:
        action()
    except Exception as exc:
        log.warning("idempotency_record_failed", error_type=type(exc).__name__)
