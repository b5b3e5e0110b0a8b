"""The OpenAPI 3.1 document, generated from the operations and their pydantic models."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .operations import OPERATIONS, Operation
from .problems import GATEWAY_PROBLEMS, STATUS_BY_SLUG
from .schemas import ProblemDetails

REF = "#/components/schemas/{model}"
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "service_center": [{"institutionToken": []}],
    "hospital": [{"institutionToken": []}],
    "pharmacy": [{"institutionToken": []}],
    "collection_system": [{"institutionToken": []}],
    "mobile": [{"mobileJwt": []}],
    "partner_bank": [{"standardWebhooks": []}],
    "anyone": [],
}
ERROR_TEXT = {
    400: "Malformed request, or a missing or bad Idempotency-Key",
    401: "Missing or bad credential",
    403: "Wrong kind of caller, or an institution that may not do this",
    404: "No such resource, or not yours",
    409: "The card or account is not in a state that allows this, or the key is in flight",
    413: "The body is too large",
    415: "The body is not application/json",
    422: "The body is not valid",
    503: "Busy; retry after Retry-After seconds",
}


@cache
def document() -> dict[str, Any]:
    models: set[type[BaseModel]] = {ProblemDetails}
    for op in OPERATIONS:
        if op.request:
            models.add(op.request)
        models.update(m for m in op.responses.values() if m)
    _, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Social security card service",
            "version": "1.0.0",
            "description": (
                "Activation, card swipes and contribution posting. Amounts are integer fen. "
                "Errors are application/problem+json; their `type` is one of: "
                + ", ".join(
                    sorted(
                        {f"urn:sscard:problem:{s}" for s in STATUS_BY_SLUG}
                        | {f"urn:sscard:problem:{s}" for s, _ in GATEWAY_PROBLEMS.values()}
                    )
                )
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "institutionToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Institution token",
                },
                "mobileJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "standardWebhooks": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "webhook-signature",
                    "description": "Standard Webhooks HMAC-SHA256 signature with the bank's secret",
                },
            },
        },
    }


def _operation(op: Operation) -> dict[str, Any]:
    name = re.sub(r"[^a-zA-Z0-9]+", "_", f"{op.method}_{op.path}").strip("_")
    out: dict[str, Any] = {
        "operationId": name,
        "summary": op.summary,
        "tags": [op.path.split("/")[2] if op.path.startswith("/v1/") else "service"],
        "security": [s for c in op.callers for s in SECURITY[c]],
        "responses": {},
    }
    params = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in re.findall(r"{(\w+)}", op.path)
    ]
    params += [
        {
            "name": h,
            "in": "header",
            "required": h.startswith("webhook-"),
            "schema": {"type": "string", "maxLength": 255},
        }
        for h in op.headers
    ]
    if params:
        out["parameters"] = params
    if op.request:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=op.request.__name__)}}},
        }
    for status, model in op.responses.items():
        content = (
            {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}} if model else None
        )
        out["responses"][str(status)] = {
            "description": "OK",
            **({"content": content} if content else {}),
        }
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="ProblemDetails")}}}
    statuses = {*op.errors, 413, 415} if op.request else set(op.errors)
    if "Idempotency-Key" in op.headers:
        statuses.add(400)  # a malformed Idempotency-Key (found by the contract fuzz)
    for status in sorted(statuses):
        out["responses"][str(status)] = {
            "description": ERROR_TEXT.get(status, "Error"),
            "content": problem,
        }
    return out
