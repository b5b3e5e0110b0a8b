"""Contract fuzzing with schemathesis against GET /openapi.json of the running local stack
(issue #7): every operation, with each kind of caller's credentials (none, the right one, a
wrong kind), must never answer 5xx, and every answer must conform to the document (status
code, content type, body schema).

Bounded for `make test` (SSCARD_FUZZ_EXAMPLES, default 3 per operation and caller kind);
`make fuzz` runs it with many more.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import requests

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("SSCARD_FUZZ_EXAMPLES", "3"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
RAN: Counter[str] = Counter()
WITH_QUERY: Counter[str] = Counter()  # cases that sent at least one query parameter

# The caller kinds of chalicelib.api.operations -> a seeded role of that kind.
ROLE_OF_KIND = {
    "service_center": "service_center",
    "pharmacy": "pharmacy",
    "hospital": "hospital",
    "collection_system": "collection",
}


def credentials(stack, kind: str) -> dict[str, str]:
    if kind == "mobile":
        return stack.holder_auth(stack.seed["holders"]["alice"]["person_id"])
    if kind in ROLE_OF_KIND:
        return stack.auth(ROLE_OF_KIND[kind])
    return {}


def callers_for(path: str, method: str) -> list[str]:
    import app  # noqa: F401  (fills OPERATIONS)
    from chalicelib.api.operations import OPERATIONS

    [op] = [o for o in OPERATIONS if o.path == path and o.method == method.upper()]
    right = [k for k in op.callers if k in (*ROLE_OF_KIND, "mobile")]
    wrong = [k for k in (*ROLE_OF_KIND, "mobile") if k not in op.callers][:2]
    return ["none", *right, *wrong]


def fuzz(stack, session: requests.Session, operation: Any) -> Any:
    kinds = callers_for(operation.path, operation.method)

    @settings(
        max_examples=EXAMPLES * len(kinds),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), kind=st.sampled_from(kinds))
    def run(case: Any, kind: str) -> None:
        headers = dict(case.headers or {})
        headers.pop("Authorization", None)
        headers.update(credentials(stack, kind))
        response = case.call(base_url=stack.api, session=session, headers=headers)
        RAN[f"{operation.method.upper()} {operation.path} as {kind}"] += 1
        if case.query:
            WITH_QUERY[f"{operation.method.upper()} {operation.path}"] += 1
        case.validate_response(response, checks=CHECKS)

    return run


def test_every_operation_against_the_schema_with_every_kind_of_caller(stack):
    schema = schemathesis.openapi.from_url(stack.url("/openapi.json"))
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        fuzz(stack, session, operation)()
    total = sum(RAN.values())
    print(
        f"\nschemathesis: {total} cases over {len(operations)} operations; "
        f"{sum(WITH_QUERY.values())} sent query parameters, to {sorted(WITH_QUERY)}"
    )
    assert total >= len(operations)
    # The document declares query parameters (issue #10), so the fuzzer sends them: each
    # operation that has one got at least one case with it.
    with_query = {f"{o.method.upper()} {o.path}" for o in operations if list(o.query)}
    assert with_query and with_query <= set(WITH_QUERY), sorted(with_query - set(WITH_QUERY))
