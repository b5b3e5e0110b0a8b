"""RFC 9457 problem details. Every error a caller sees is one of these."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Response

from chalicelib.domain.errors import DomainError

PROBLEM_TYPE_BASE = "urn:sscard:problem:"
CONTENT_TYPE = "application/problem+json"

# HTTP status of each domain error kind; anything unlisted is 422.
STATUS_BY_SLUG: dict[str, int] = {
    "invalid-request": 422,
    "invalid-ssn": 422,
    "invalid-card-number": 422,
    "not-found": 404,
    "card-not-found": 404,
    "holder-not-found": 404,
    "institution-not-found": 404,
    "card-not-activated": 409,
    "card-suspended": 409,
    "card-unusable": 409,
    "card-transition-not-allowed": 409,
    "account-held": 409,
    "previous-card-invalid": 422,
    "ssn-mismatch": 422,
    "not-issuing-bank": 403,
    "institution-not-designated": 403,
    "already-exists": 409,
    "concurrent-update": 503,
    "temporarily-unavailable": 503,
    "idempotency-key-missing": 400,
    "idempotency-key-invalid": 400,
    "idempotency-key-in-use": 409,
    "idempotency-key-reused": 422,
    "amount-out-of-range": 422,
    "insufficient-balance": 409,
    "payment-not-found": 404,
    "payment-already-cancelled": 409,
    "invalid-cursor": 422,
    "invalid-contribution": 422,
    "contribution-ineligible": 422,
}
RETRY_AFTER_SECONDS = "1"


class Problem(Exception):
    """Raised anywhere in the API layer to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> Response:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        body.update(self.extra)
        headers: dict[str, str | list[str]] = {"Content-Type": CONTENT_TYPE, **self.headers}
        if self.status == 503:
            headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
        return Response(body=json.dumps(body), status_code=self.status, headers=headers)


def from_domain(error: DomainError) -> Problem:
    extra = {k: v for k, v in error.extra.items() if k != "label"}
    return Problem(STATUS_BY_SLUG.get(error.slug, 422), error.slug, error.title, error.detail, extra=extra)


def unauthenticated(detail: str) -> Problem:
    return Problem(
        401,
        "unauthenticated",
        "A valid credential is required",
        detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "This endpoint is not for this kind of caller", detail)


def not_found(detail: str = "No such resource") -> Problem:
    return Problem(404, "not-found", "No such resource", detail)


# Chalice and the API gateway answer some requests themselves; these replace their bodies.
GATEWAY_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "The request could not be understood"),
    403: ("not-found", "No such resource"),
    404: ("not-found", "No such resource"),
    405: ("method-not-allowed", "The method is not allowed on this resource"),
    413: ("payload-too-large", "The request body is too large"),
    415: ("unsupported-media-type", "The request body must be application/json"),
    429: ("too-many-requests", "Too many requests; retry later"),
    500: ("internal-error", "The service failed to answer; nothing was changed twice"),
    504: ("temporarily-unavailable", "The service did not answer in time; retry later"),
}


def gateway_problem(status: int, headers: dict[str, str] | None = None) -> Problem:
    slug, title = GATEWAY_PROBLEMS.get(status, ("error", "The request failed"))
    # API Gateway answers an unknown route with 403; to a caller it is simply not there.
    return Problem(404 if status == 403 else status, slug, title, headers=headers)
