"""RFC 9457 problem details: the one place an error becomes an answer.

Every error a caller sees is a DomainError kind (domain/errors.py, and the HTTP-level
kinds below) carrying its slug and status; the OpenAPI list of problem types is
derived from those classes (`problem_types`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Response

from chalicelib.domain.errors import DomainError, error_kinds

PROBLEM_TYPE_BASE = "urn:sscard:problem:"
CONTENT_TYPE = "application/problem+json"
RETRY_AFTER_SECONDS = "1"


class Unauthenticated(DomainError):
    slug = "unauthenticated"
    status = 401
    title = "A valid credential is required"


class Forbidden(DomainError):
    slug = "forbidden"
    status = 403
    title = "This endpoint is not for this kind of caller"


class MalformedJson(DomainError):
    slug = "malformed-json"
    status = 400
    title = "The request body is not valid JSON"


# Chalice and the API gateway answer some requests themselves; these replace their bodies.
class BadRequest(DomainError):
    slug = "bad-request"
    status = 400
    title = "The request could not be understood"


class RouteNotFound(DomainError):
    slug = "not-found"
    status = 404
    title = "No such resource"


class MethodNotAllowed(DomainError):
    slug = "method-not-allowed"
    status = 405
    title = "The method is not allowed on this resource"


class PayloadTooLarge(DomainError):
    slug = "payload-too-large"
    status = 413
    title = "The request body is too large"


class LengthRequired(DomainError):
    slug = "length-required"
    status = 411
    title = "The request needs a Content-Length"


class UnsupportedMediaType(DomainError):
    slug = "unsupported-media-type"
    status = 415
    title = "The request body must be application/json"


class TooManyRequests(DomainError):
    slug = "too-many-requests"
    status = 429
    title = "Too many requests; retry later"


class InternalError(DomainError):
    slug = "internal-error"
    status = 500
    title = "The service failed to answer; nothing was changed twice"


class GatewayTimeout(DomainError):
    slug = "temporarily-unavailable"
    status = 504
    title = "The service did not answer in time; retry later"


GATEWAY_ERRORS: dict[int, type[DomainError]] = {
    kind.status: kind
    for kind in (
        BadRequest,
        RouteNotFound,
        MethodNotAllowed,
        PayloadTooLarge,
        UnsupportedMediaType,
        TooManyRequests,
        InternalError,
        GatewayTimeout,
    )
}
# API Gateway answers an unknown route with 403; to a caller it is simply not there.
GATEWAY_ERRORS[403] = RouteNotFound


def problem_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + error.slug,
        "title": error.title,
        "status": error.status,
    }
    if error.detail and error.detail != error.title:
        body["detail"] = error.detail
    body.update({k: v for k, v in error.extra.items() if k != "label"})  # label: storage's, internal
    return body


def problem_response(error: DomainError, headers: dict[str, str] | None = None) -> Response:
    all_headers: dict[str, str | list[str]] = {"Content-Type": CONTENT_TYPE, **(headers or {})}
    if error.status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    if error.status == 503:
        all_headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
    return Response(body=json.dumps(problem_body(error)), status_code=error.status, headers=all_headers)


@dataclass(frozen=True)
class Problem:
    """An error with the headers to answer it with (the local server and infra/ send these)."""

    error: DomainError
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        return problem_response(self.error, self.headers)


def gateway_problem(status: int, headers: dict[str, str] | None = None) -> Problem:
    """The problem answer for a status the framework or the gateway produced itself."""
    kind = GATEWAY_ERRORS.get(status)
    if kind is None:  # a status Chalice or the gateway may add later: still a problem answer
        kind = InternalError if status >= 500 else BadRequest
    return Problem(kind(), headers or {})


def problem_types() -> dict[str, set[int]]:
    """slug -> the statuses it is answered with, from every error kind the service defines."""
    table: dict[str, set[int]] = {}
    for kind in error_kinds():
        table.setdefault(kind.slug, set()).add(kind.status)
    return table
