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
    # The web ACL's own rules (body size, request rates) answer with custom responses
    # (413, 429); what reaches this is a block by the AWS managed common rule set: a
    # request shaped like an attack (cross-site scripting, path traversal...).
    "WAF_FILTERED": 400,
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

# Per-method budgets (requests a second, burst) by who calls the operation
# (chalicelib/api/operations.py OPERATIONS). Counter terminals (pharmacies, hospitals,
# service centers) keep the stage's whole budget; every other caller gets a method
# budget of its own, so a flood from mobile backends, collection systems or banks
# takes its own routes into 429s and leaves the budget the terminals need. An
# operation whose callers are not all named here fails the synth (no default).
TERMINALS = "terminals"
CALLER_BUDGETS: dict[str, str] = {
    "pharmacy": TERMINALS,
    "hospital": TERMINALS,
    "service_center": TERMINALS,
    "mobile": "mobile",
    "collection_system": "contributions",
    "partner_bank": "webhooks",
    "anyone": "public",
}
METHOD_THROTTLES: dict[str, tuple[int, int]] = {
    # Holders' reads through the mobile app backends; a few per holder a day.
    "mobile": (2_000, 1_000),
    # Each request is a batch of contributions; the monthly run is spread over days.
    "contributions": (200, 100),
    # One per counter activation at a bank outlet.
    "webhooks": (500, 250),
    # /health and /openapi.json.
    "public": (50, 50),
}

# WAF rate-based rules: requests per RATE_WINDOW_SECONDS before WAF answers 429 for the
# rest of the window. WAF counts with a delay of some seconds, so these stop floods, not
# bursts (the per-method budgets do that).
RATE_WINDOW_SECONDS = 300
# Per source IP: 100 a second sustained. A hospital or chain behind one NAT stays far
# below. Mobile backends (/v1/me/...) are exempt: one backend carries many holders from
# few addresses; their budget above bounds them.
RATE_LIMIT_PER_IP = 30_000
# Per credential (the Authorization header: an institution token, or a holder's JWT):
# 50 a second sustained, above the busiest hospital's counters together, so one
# institution's runaway terminal cannot spend the budget of the others.
RATE_LIMIT_PER_CREDENTIAL = 15_000
MOBILE_PATH_MARK = "/v1/me/"
# Rules of the managed common rule set that only count: its body size rule blocks bodies
# over 8 KB, where the API takes up to max_body_bytes (contribution batches; the web
# ACL's own size rule enforces that); and a counter terminal's HTTP client need not send
# a User-Agent, which must not stop a swipe.
COMMON_RULES_COUNTED = ("SizeRestrictions_BODY", "NoUserAgent_HEADER")

# API Gateway access log, one JSON line per request. The route template (resourcePath),
# never the path: paths carry card numbers. Nor the query string, headers or body.
ACCESS_LOG_FORMAT: dict[str, str] = {
    "requestId": "$context.requestId",
    "time": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "method": "$context.httpMethod",
    "route": "$context.resourcePath",
    "status": "$context.status",
    "bytes": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integration.latency",
    "wafStatus": "$context.waf.status",
    "errorType": "$context.error.responseType",
}


def method_throttles() -> list[dict[str, Any]]:
    """Stage MethodSettings: the stage default, then each non-terminal operation's budget."""
    from chalicelib.api.operations import OPERATIONS

    settings: list[dict[str, Any]] = [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": THROTTLE_RATE_PER_SECOND,
            "ThrottlingBurstLimit": THROTTLE_BURST,
        }
    ]
    for op in OPERATIONS:
        unknown = set(op.callers) - set(CALLER_BUDGETS)
        if unknown:
            raise ValueError(f"{op.method} {op.path}: name a budget for {sorted(unknown)} in CALLER_BUDGETS")
        budgets = {CALLER_BUDGETS[c] for c in op.callers}
        if len(budgets) != 1:
            raise ValueError(f"{op.method} {op.path} is called from two budgets: {sorted(budgets)}")
        (budget,) = budgets
        if budget == TERMINALS:
            continue
        rate, burst = METHOD_THROTTLES[budget]
        settings.append(
            {
                # API Gateway names a resource path with "/" escaped as "~1".
                "ResourcePath": "/" + op.path.replace("/", "~1"),
                "HttpMethod": op.method,
                "ThrottlingRateLimit": rate,
                "ThrottlingBurstLimit": burst,
            }
        )
    return settings


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
