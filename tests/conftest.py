"""Shared fixtures. Nothing here may reach real AWS: fake credentials, local endpoints only."""

from __future__ import annotations

import logging
import os

# Set before any chalicelib import: PynamoDB reads table names and region when models load.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "cn-north-1",
        "SSCARD_STAGE": "local",
        "TABLE_PREFIX": "sscard-test-",
        "SECRETS_PREFIX": "sscard/test/",
    }
)
os.environ.pop("AWS_PROFILE", None)

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from chalicelib import bootstrap as deps_module
from sscard_ops import moto_journal, moto_speedups
from tests.fakes import FakeCardStore, FakeIdempotencyStore, FakeSecrets
from tests.world import World

# Every mock_aws of the suite journals its transactions and parses each expression once, as the
# local stack's moto server does.
moto_journal.install()
moto_speedups.install()
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
# The moto server logs every request; the tests' own assertions say what matters.
logging.getLogger("werkzeug").setLevel(logging.ERROR)


# Session fixtures that take a minute to build: `make test` runs on every core (pytest-xdist,
# --dist loadgroup), and the tests sharing one of these go to one worker together, instead of
# each worker building its own (the local stack of tests/e2e; the CDK synth of tests/infra).
SHARED_BY_ONE_WORKER = ("stack", "synthesized")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in SHARED_BY_ONE_WORKER:
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(fixture))


@pytest.fixture
def fake_world() -> Iterator[World]:
    """Fakes behind the API, seeded like the local stack."""
    world = World(FakeCardStore(), FakeIdempotencyStore(), FakeSecrets(), now=NOW)
    deps_module.use(world.deps())
    yield world
    deps_module.use(None)


@pytest.fixture
def api(fake_world: World):
    from tests.client import ApiClient

    with ApiClient() as client:
        yield client
