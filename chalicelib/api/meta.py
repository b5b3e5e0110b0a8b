"""Liveness and the API's own description."""

from __future__ import annotations

import json

from chalice.app import Blueprint, Response

from .auth import ANYONE
from .operations import Call, operation
from .schemas import HealthAnswer

bp = Blueprint(__name__)


@operation(bp, "/health", "GET", summary="Liveness", callers=(ANYONE,), responses={200: HealthAnswer})
def health(call: Call[None, None]) -> HealthAnswer:
    return HealthAnswer(status="ok")


@operation(
    bp,
    "/openapi.json",
    "GET",
    summary="This OpenAPI 3.1 document",
    callers=(ANYONE,),
    responses={200: None},
)
def openapi_document(call: Call[None, None]) -> Response:
    from .openapi import document

    return Response(body=json.dumps(document()), headers={"Content-Type": "application/json"})
