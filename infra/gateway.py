"""API Gateway's own answers as problem+json, and the API's limits.

API Gateway answers some requests before the function sees them: an unknown route
(MISSING_AUTHENTICATION_TOKEN, 403 by default), throttling, a body over its limit.
Each gets the body chalicelib.api.problems.gateway_problem gives the same status, so
a caller cannot tell the gateway's answer from the function's.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

# API Gateway response type -> the status handed to gateway_problem (which turns the
# gateway's 403 for an unknown route into 404 not-found).
RESPONSE_TYPES: dict[str, int] = {
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "RESOURCE_NOT_FOUND": 404,
    "BAD_REQUEST_BODY": 400,
    "BAD_REQUEST_PARAMETERS": 400,
    "REQUEST_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    # The web ACL's only rule is the body size limit below.
    "WAF_FILTERED": 413,
    "THROTTLED": 429,
    "QUOTA_EXCEEDED": 429,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    # Anything else (the API uses no API keys, authorizers or IAM auth).
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 500,
}
# Extra headers for some answers: a throttled caller may come back in a second.
EXTRA_HEADERS: dict[int, dict[str, str]] = {429: {"Retry-After": "1"}}

# Stage throttling, for every method. Peak is 10,000 swipes a second nationally
# (DESIGN.md 6); the rest of the traffic (mobile, webhooks, contributions) is far
# smaller. Above 10,000 a second the account's regional API Gateway quota must be
# raised too (docs/deploy.md).
THROTTLE_RATE_PER_SECOND = 12_000
THROTTLE_BURST = 5_000


def max_body_bytes() -> int:
    """The function's own limit (chalicelib.settings): the gateway refuses the same sizes."""
    from chalicelib.settings import Settings

    (field,) = [f for f in dataclasses.fields(Settings) if f.name == "max_body_bytes"]
    if not isinstance(field.default, int):
        raise TypeError("Settings.max_body_bytes has no integer default")
    return field.default


def problem_answer(status: int) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of gateway_problem(status), as the function would answer."""
    from chalicelib.api.problems import gateway_problem

    problem = gateway_problem(status, headers=EXTRA_HEADERS.get(status))
    response = problem.response()
    headers = {k: str(v) for k, v in response.headers.items()}
    return response.status_code, headers, str(response.body)


def gateway_responses() -> dict[str, dict[str, Any]]:
    """The `x-amazon-apigateway-gateway-responses` extension of the API definition."""
    out: dict[str, dict[str, Any]] = {}
    for response_type, status in RESPONSE_TYPES.items():
        code, headers, body = problem_answer(status)
        json.loads(body)  # a template is literal JSON: no VTL in it
        if "$" in body or "#" in body:
            raise ValueError(f"The {response_type} body would be read as a VTL template: {body}")
        out[response_type] = {
            "statusCode": str(code),
            "responseParameters": {f"gatewayresponse.header.{k}": f"'{v}'" for k, v in headers.items()},
            "responseTemplates": {"application/json": body},
        }
    return out
