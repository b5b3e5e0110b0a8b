"""Reading request bodies and query strings into the declared models."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from chalice.app import Request
from pydantic import BaseModel, RootModel, ValidationError

from chalicelib.domain.errors import InvalidInput

from .problems import MalformedJson

M = TypeVar("M", bound=BaseModel)


def raw_body(request: Request) -> bytes:
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def json_body(request: Request) -> Any:
    raw = raw_body(request)
    if not raw.strip():
        raise MalformedJson("The body is empty")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedJson("The request body is not valid JSON") from exc


def parse_body(request: Request, model: type[M], *, optional: bool = False) -> M:
    """Validate the JSON body against `model`; every failure is a 4xx problem, never a 500."""
    if optional and not raw_body(request).strip():
        return model()
    data = json_body(request)
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object")
    return validated(model, data)


def parse_query(request: Request, model: type[M]) -> M:
    values: dict[str, str] = {}
    query = request.query_params
    for name in query or {}:
        given = query.getlist(name) if query is not None else []
        if len(given) != 1:
            raise InvalidInput(f"Query parameter {name} is given more than once")
        values[name] = given[0]
    return validated(model, values)


def validated(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # A root model's union names its branch first ("one.insurance"): the caller's field
        # is what follows.
        skip = 1 if issubclass(model, RootModel) else 0
        raise InvalidInput(
            f"{exc.error_count()} field(s) are not valid",
            errors=[
                {"field": ".".join(str(p) for p in e["loc"][skip:]), "message": e["msg"]}
                for e in exc.errors(include_url=False, include_input=False)
            ],
        ) from exc
