"""Secrets Manager calls, counted with a botocore hook: an unknown bank code costs one call
per cache time, and a flood of random codes cannot push real secrets out of the cache."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.storage.secrets import MAX_ABSENT, MAX_SECRETS, SecretsManagerSource

PREFIX = "sscard/test/"


class Calls:
    """GetSecretValue calls, by secret id, as botocore is about to send them."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.ids.append(params["SecretId"])


@pytest.fixture
def source() -> Iterator[tuple[SecretsManagerSource, Calls]]:
    with mock_aws():
        src = SecretsManagerSource(PREFIX)
        src.put("banks/ICBC", json.dumps({"secrets": ["whsec_aWNiYw=="]}))
        calls = Calls()
        src._secrets_client().meta.events.register(
            "provide-client-params.secrets-manager.GetSecretValue", calls
        )
        yield src, calls


def test_an_unknown_bank_costs_one_call_within_the_cache_time(source):
    src, calls = source
    for _ in range(5):
        assert src.bank_secrets("NOPE") == []
    assert calls.ids == [PREFIX + "banks/NOPE"]


def test_a_bank_added_here_is_found_at_once_though_it_was_unknown(source):
    src, _ = source
    assert src.bank_secrets("NEW") == []
    src.put("banks/NEW", json.dumps({"secrets": ["whsec_bmV3"]}))
    assert src.bank_secrets("NEW") == ["whsec_bmV3"]


def test_an_unknown_name_is_asked_again_after_its_absence_expires():
    with mock_aws():
        src = SecretsManagerSource(PREFIX, absent_seconds=0)
        calls = Calls()
        src._secrets_client().meta.events.register(
            "provide-client-params.secrets-manager.GetSecretValue", calls
        )
        src.bank_secrets("NOPE")
        src.bank_secrets("NOPE")
        assert len(calls.ids) == 2


def test_a_flood_of_random_codes_leaves_other_callers_secrets_cached(source):
    src, calls = source
    assert src.bank_secrets("ICBC") == ["whsec_aWNiYw=="]
    assert calls.ids == [PREFIX + "banks/ICBC"]
    flood = [f"X{secrets.token_hex(6)}" for _ in range(MAX_ABSENT + MAX_SECRETS + 50)]
    for code in flood:
        assert src.bank_secrets(code) == []
    assert len(calls.ids) == 1 + len(flood)  # each new code once

    assert src.bank_secrets("ICBC") == ["whsec_aWNiYw=="]
    assert len(calls.ids) == 1 + len(flood)  # the real bank's secret did not leave the cache
    # The absent names are bounded: the newest are remembered, the oldest asked again.
    src.bank_secrets(flood[-1])
    assert len(calls.ids) == 1 + len(flood)
    src.bank_secrets(flood[0])
    assert len(calls.ids) == 2 + len(flood)
