"""Liveness and the API's own description."""

from __future__ import annotations

import json

from chalice.app import Blueprint, Response

from .operations import operation
from .schemas import HealthAnswer

bp = Blueprint(__name__)


@operation(bp, "/health", "GET", summary="Liveness", callers=("anyone",), responses={200: HealthAnswer})
def health() -> Response:
    return Response(body='{"status":"ok"}', headers={"Content-Type": "application/json"})


@operation(
    bp,
    "/openapi.json",
    "GET",
    summary="This OpenAPI 3.1 document",
    callers=("anyone",),
    responses={200: None},
)
def openapi_document() -> Response:
    from .openapi import document

    return Response(body=json.dumps(document()), headers={"Content-Type": "application/json"})
