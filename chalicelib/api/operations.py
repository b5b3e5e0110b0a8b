"""Routes declare their bodies and callers once; Chalice routing and OpenAPI both read it.

The wrapper is also where every failure of a view becomes a problem answer:
Chalice turns a view's exception into its own 500 before middleware sees it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from chalice.app import Blueprint, Response
from pydantic import BaseModel

from chalicelib.domain.errors import DomainError
from chalicelib.logs import get_logger

from .problems import Problem, from_domain, gateway_problem

log = get_logger("sscard.api")


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    summary: str
    callers: tuple[str, ...]
    request: type[BaseModel] | None
    responses: dict[int, type[BaseModel] | None]
    errors: tuple[int, ...]
    headers: tuple[str, ...] = ()


OPERATIONS: list[Operation] = []


def as_problem(exc: Exception) -> Problem:
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, DomainError):
        return from_domain(exc)
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return gateway_problem(500)


def operation(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    callers: tuple[str, ...],
    responses: dict[int, type[BaseModel] | None],
    request: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    headers: tuple[str, ...] = (),
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    OPERATIONS.append(Operation(path, method, summary, callers, request, responses, errors, headers))

    def register(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def guarded(**params: str) -> Response:
            try:
                return view(**params)
            except Exception as exc:
                return as_problem(exc).response()

        bp.route(path, methods=[method])(guarded)
        return view

    return register
