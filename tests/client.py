"""chalice.test.Client with JSON helpers; an unknown route gets the gateway's problem answer,
as API Gateway's gateway responses (infra/) and the local server give it."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

import app as app_module
from chalicelib.api.problems import gateway_problem


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.raw = body

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.raw[:300]!r})"


class ApiClient:
    def __init__(self) -> None:
        self._client = Client(app_module.app, stage_name="local")

    def __enter__(self) -> ApiClient:
        self._client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.__exit__(*exc)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        h = {"content-type": "application/json", **(headers or {})}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        r = self._client.http.request(method, path, headers=h, body=data)
        if r.status_code == 403 and b"Missing Authentication Token" in r.body:
            p = gateway_problem(403).response()
            return Reply(p.status_code, p.headers, p.body.encode())
        return Reply(r.status_code, r.headers, r.body)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)
