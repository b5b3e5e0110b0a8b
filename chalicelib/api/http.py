"""Reading request bodies and writing JSON answers."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from .problems import Problem

M = TypeVar("M", bound=BaseModel)


def raw_body(request: Request) -> bytes:
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def json_body(request: Request) -> Any:
    raw = raw_body(request)
    if not raw.strip():
        raise Problem(400, "malformed-json", "The request body is not valid JSON", "The body is empty")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Problem(400, "malformed-json", "The request body is not valid JSON") from exc


def parse(request: Request, model: type[M], *, optional: bool = False) -> M:
    """Validate the JSON body against `model`; every failure is a 4xx problem, never a 500."""
    if optional and not raw_body(request).strip():
        return model()
    data = json_body(request)
    if not isinstance(data, dict):
        raise Problem(422, "invalid-request", "The request is not valid", "The body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Problem(
            422,
            "invalid-request",
            "The request is not valid",
            f"{exc.error_count()} field(s) are not valid",
            extra={
                "errors": [
                    {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in exc.errors(include_url=False, include_input=False)
                ]
            },
        ) from exc


def answer(model: BaseModel, status: int = 200) -> Response:
    return Response(
        body=model.model_dump_json(),
        status_code=status,
        headers={"Content-Type": "application/json"},
    )
