"""The OpenAPI 3.1 document, generated from the operations and their pydantic models."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .operations import OPERATIONS, Idempotency, Operation
from .params import PATH_FORMATS
from .problems import PROBLEM_TYPE_BASE, problem_types
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
    400: "Malformed JSON, or a missing or bad Idempotency-Key",
    401: "Missing or bad credential",
    403: "Wrong kind of caller, or an institution that may not do this",
    404: "No such resource, or not yours",
    409: "The card, account or payment is not in a state that allows this, or the key is in flight",
    413: "The body is too large",
    415: "The body is not application/json",
    422: "A path, query or body value is not valid, or the key was used for another request",
    503: "Busy; retry after Retry-After seconds",
}


@cache
def document() -> dict[str, Any]:
    models: set[type[BaseModel]] = {ProblemDetails}
    for op in OPERATIONS:
        if op.body:
            models.add(op.body)
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
                + ", ".join(sorted(PROBLEM_TYPE_BASE + slug for slug in problem_types()))
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
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_FORMATS[name].description,
            "schema": {"type": "string", "pattern": PATH_FORMATS[name].pattern},
        }
        for name in op.path_params
    ]
    params += _query_parameters(op)
    if op.idempotency is not Idempotency.NONE:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": op.idempotency is Idempotency.REQUIRED,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    params += [
        {"name": h, "in": "header", "required": True, "schema": {"type": "string", "maxLength": 255}}
        for h in op.headers
    ]
    if params:
        out["parameters"] = params
    if op.body:
        out["requestBody"] = {
            "required": not op.body_optional,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}},
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
    for status in sorted(op.error_statuses()):
        out["responses"][str(status)] = {
            "description": ERROR_TEXT.get(status, "Error"),
            "content": problem,
        }
    return out


def _query_parameters(op: Operation) -> list[dict[str, Any]]:
    if op.query is None:
        return []
    schema = op.query.model_json_schema()
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        if "anyOf" in prop:  # optional: the parameter is simply absent, never null
            prop = next(p for p in prop["anyOf"] if p.get("type") != "null") | {
                k: v for k, v in prop.items() if k != "anyOf"
            }
            prop.pop("default", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        out.append(param)
    return out
