"""The request pipeline: a route is declared once, and that declaration is what runs.

`@operation(...)` takes the caller kinds, the body model, the query model, the
Idempotency-Key rule and the answers. The wrapper it registers with Chalice
authenticates and authorizes the caller, parses the path parameters (by the one
format each name has, params.py), the query and the body, builds the scoped
Idempotency-Key, decodes the page cursor, and hands the view one typed `Call`.
The view returns an answer model (sent with the declared status) or an `Outcome`
(a use case's answer, stored with its idempotency record or replayed from it).

The same declaration feeds the OpenAPI document, the authorization matrix and
the contract fuzzer, so they see exactly what the code does. Every failure
becomes a problem answer here: Chalice turns a view's exception into its own
500 before middleware sees it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from chalice.app import Blueprint, Request, Response
from pydantic import BaseModel

from chalicelib.bootstrap import Deps, deps
from chalicelib.domain.cursors import decode_cursor, encode_cursor
from chalicelib.domain.errors import DomainError
from chalicelib.domain.holders import Institution
from chalicelib.logs import get_logger
from chalicelib.services import idempotency
from chalicelib.services.idempotency import (
    IdempotencyKeyInUse,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    IdempotentRequest,
    Outcome,
    StoredResponse,
)

from . import auth
from .auth import ANYONE, Caller
from .http import parse_body, parse_query, raw_body
from .params import PATH_FORMATS, path_names
from .problems import CONTENT_TYPE, InternalError, problem_response

log = get_logger("sscard.api")

B = TypeVar("B", bound=BaseModel | None)
Q = TypeVar("Q", bound=BaseModel | None)
T = TypeVar("T")
REPLAYED_HEADER = "Idempotent-Replayed"


class Idempotency(StrEnum):
    NONE = "none"  # reads, and calls idempotent by their own ids
    ACCEPTED = "accepted"  # state-changing: a key makes retries safe
    REQUIRED = "required"  # money moves: no key, no call (400)


@dataclass(frozen=True)
class Page:
    """A paged read: at most `limit` items after the decoded `after` key (None: the first page)."""

    limit: int
    after: str | None

    @staticmethod
    def next_cursor(last_key: str | None) -> str | None:
        return encode_cursor(last_key) if last_key else None


@dataclass(frozen=True)
class Call(Generic[B, Q]):
    """What a view gets: the authenticated caller and the validated request."""

    caller: Caller
    body: B
    query: Q
    key: IdempotentRequest | None
    page: Page | None
    status: int  # the declared success status
    request: Request

    @property
    def deps(self) -> Deps:
        return deps()

    @property
    def institution(self) -> Institution:
        assert self.caller.institution is not None  # the pipeline admitted only institutions
        return self.caller.institution

    @property
    def person_id(self) -> str:
        assert self.caller.person_id is not None  # the pipeline admitted only holders
        return self.caller.person_id

    def render(self, model: BaseModel) -> StoredResponse:
        return StoredResponse(self.status, model.model_dump_json())

    def renders(self, view: Callable[[T], BaseModel]) -> Callable[[T], StoredResponse]:
        """The use case's result -> the answer stored with its idempotency record."""
        return lambda result: self.render(view(result))


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    summary: str
    callers: tuple[str, ...]
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    body_optional: bool = False
    # A verified webhook is answered 200 with an outcome even when its body is not valid:
    # the view gets body None and decides the outcome.
    body_to_view_when_invalid: bool = False
    query: type[BaseModel] | None = None
    page_key: re.Pattern[str] | None = None  # paged reads: what a decoded cursor must look like
    idempotency: Idempotency = Idempotency.NONE
    errors: tuple[int, ...] = ()
    headers: tuple[str, ...] = ()  # other declared request headers (webhook-*)
    path_params: tuple[str, ...] = field(default=())

    @property
    def status(self) -> int:
        return min(self.responses)

    def error_statuses(self) -> set[int]:
        """Every problem status this operation can answer, derived from what it declares."""
        statuses = {*self.errors, 503}
        if self.callers != (ANYONE,):
            statuses |= {401, 403}
        if self.body is not None:
            statuses |= {400, 413, 415, 422}
        if self.query is not None or self.path_params:
            statuses.add(422)
        if self.idempotency is not Idempotency.NONE:
            statuses |= {400, 409, 422}
        if self.body_to_view_when_invalid:
            statuses -= {400, 422}
        return statuses


OPERATIONS: list[Operation] = []


def operation(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    callers: tuple[str, ...],
    responses: dict[int, type[BaseModel] | None],
    body: type[BaseModel] | None = None,
    body_optional: bool = False,
    body_to_view_when_invalid: bool = False,
    query: type[BaseModel] | None = None,
    page_key: re.Pattern[str] | None = None,
    idempotency: Idempotency = Idempotency.NONE,
    errors: tuple[int, ...] = (),
    headers: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    names = path_names(path)
    unknown = [n for n in names if n not in PATH_FORMATS]
    if unknown:  # a path parameter without a format would reach a view unchecked
        raise TypeError(f"{path}: no format for path parameter(s) {unknown} in params.PATH_FORMATS")
    if page_key is not None and (query is None or "cursor" not in query.model_fields):
        raise TypeError(f"{path}: a paged operation needs a query model with limit and cursor")
    op = Operation(
        path=path,
        method=method,
        summary=summary,
        callers=callers,
        responses=responses,
        body=body,
        body_optional=body_optional,
        body_to_view_when_invalid=body_to_view_when_invalid,
        query=query,
        page_key=page_key,
        idempotency=idempotency,
        errors=errors,
        headers=headers,
        path_params=names,
    )
    OPERATIONS.append(op)

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(**raw_params: str) -> Response:
            try:
                return _run(op, view, bp.current_request, raw_params)
            except Exception as exc:
                return _problem(exc)

        bp.route(path, methods=[method])(guarded)
        return view

    return register


def _run(op: Operation, view: Callable[..., Any], request: Request, raw_params: dict[str, str]) -> Response:
    caller = auth.authenticate(request, op.callers, raw_params)
    params = {name: PATH_FORMATS[name].parse(raw_params.get(name, "")) for name in op.path_params}
    query = parse_query(request, op.query) if op.query is not None else None
    key = _key(op, request, caller)
    body: BaseModel | None = None
    if op.body is not None:
        try:
            body = parse_body(request, op.body, optional=op.body_optional)
        except DomainError:
            if not op.body_to_view_when_invalid:
                raise
    page = None
    if op.page_key is not None and query is not None:
        cursor = getattr(query, "cursor", None)
        page = Page(int(getattr(query, "limit")), decode_cursor(cursor, op.page_key) if cursor else None)  # noqa: B009
    call: Call[Any, Any] = Call(caller, body, query, key, page, op.status, request)
    try:
        result = view(call, **params)
    except DomainError as refusal:
        if key is None or not _remembered(refusal):
            raise
        return _stored(idempotency.remember(deps().idempotency, key, _refusal(refusal)))
    if isinstance(result, Outcome):
        return _stored(result)
    if isinstance(result, BaseModel):
        return Response(
            body=result.model_dump_json(), status_code=op.status, headers={"Content-Type": "application/json"}
        )
    if isinstance(result, Response):  # the document routes (/openapi.json)
        return result
    raise TypeError(f"{op.method} {op.path}: a view returns an answer model or an Outcome")


def _key(op: Operation, request: Request, caller: Caller) -> IdempotentRequest | None:
    if op.idempotency is Idempotency.NONE:
        return None
    header = request.headers.get("idempotency-key")
    if header is None:
        if op.idempotency is Idempotency.REQUIRED:
            raise IdempotencyKeyMissing("Send an Idempotency-Key header")
        return None
    target = f"{request.context.get('resourcePath', '')}?{sorted((request.uri_params or {}).items())}"
    print_ = idempotency.fingerprint(request.method, target, raw_body(request))
    return idempotency.keyed(caller.scope, header, print_, int(deps().clock().timestamp()))


def _remembered(refusal: DomainError) -> bool:
    """A rule's refusal is the answer to this key; a passing failure or a key conflict is not."""
    return refusal.status < 500 and not isinstance(refusal, IdempotencyKeyInUse | IdempotencyKeyReused)


def _refusal(refusal: DomainError) -> StoredResponse:
    response = problem_response(refusal)
    return StoredResponse(response.status_code, str(response.body))


def _stored(outcome: Outcome[Any]) -> Response:
    stored = outcome.response
    headers: dict[str, str | list[str]] = {
        "Content-Type": CONTENT_TYPE if stored.status >= 400 else "application/json"
    }
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(body=stored.body, status_code=stored.status, headers=headers)


def _problem(exc: Exception) -> Response:
    if isinstance(exc, DomainError):
        return problem_response(exc)
    # The last net: no known input reaches it (tests/test_pipeline_properties.py).
    log.exception("unhandled_error", extra={"error_type": type(exc).__name__})
    return problem_response(InternalError())
