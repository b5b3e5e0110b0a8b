"""A seeded world for service and API tests, over fakes or DynamoDB."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from chalicelib.bootstrap import Deps
from sscard_ops import devjwt
from sscard_ops.seed import Seeded, seed
from tests.fake_payments import FakePaymentStore
from tests.fake_stays import FakeStayStore
from tests.fakes import FakeCardStore, FakeContributionQueue, FakeContributionStore, FakeIdempotencyStore

ISSUER = "https://auth.sscard.local/"
AUDIENCE = "sscard-mobile"
_PRIVATE_PEM = devjwt.new_private_key_pem()


class World:
    def __init__(
        self, store: Any, idempotency: Any, secrets: Any, now: datetime, payments: Any = None
    ) -> None:
        self.store = store
        self.idempotency = idempotency
        if isinstance(store, FakeCardStore) and isinstance(idempotency, FakeIdempotencyStore):
            store.keys = idempotency  # the card use cases write their key records in their commit
        # Over the fakes, payments share the fake cards, accounts and idempotency records.
        if payments is None and isinstance(store, FakeCardStore):
            payments = FakePaymentStore(store, idempotency)
        self.payments = payments
        self.contributions: Any = (
            FakeContributionStore(store) if isinstance(store, FakeCardStore) else _dynamo_contributions()
        )
        self.contribution_queue = FakeContributionQueue()
        self.stays: Any = (
            FakeStayStore(store, idempotency) if isinstance(store, FakeCardStore) else _dynamo_stays()
        )
        if isinstance(self.payments, FakePaymentStore):
            self.payments.stays = self.stays
        self.secrets = secrets
        self.now = now
        self.private_pem = _PRIVATE_PEM
        if hasattr(secrets, "jwks"):
            secrets.jwks = devjwt.jwks_for(_PRIVATE_PEM)
        self.seeded: Seeded = seed(store, secrets, secrets.hashing_key(), now)
        if hasattr(secrets, "banks"):
            secrets.banks[self.seeded.bank_code] = [self.seeded.bank_secret]

    def deps(self) -> Deps:
        return Deps(
            store=self.store,
            idempotency=self.idempotency,
            secrets=self.secrets,
            contributions=self.contributions,
            contribution_queue=self.contribution_queue,
            payments=self.payments,
            clock=lambda: self.now,
            stays=self.stays,
        )

    def auth(self, role: str) -> dict[str, str]:
        """Headers of a seeded institution ('pharmacy', 'hospital'...) or holder ('alice'...)."""
        if role in self.seeded.tokens:
            return {"Authorization": f"Bearer {self.seeded.tokens[role]}"}
        return {"Authorization": f"Bearer {self.jwt(self.seeded.holders[role].person_id)}"}

    def jwt(self, person_id: str, **overrides: Any) -> str:
        return devjwt.mint(self.private_pem, person_id, issuer=ISSUER, audience=AUDIENCE, **overrides)

    def signed_webhook(
        self,
        payload: dict[str, Any],
        webhook_id: str,
        *,
        secret: str | None = None,
        at: datetime | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload)
        ts = at or datetime.now().astimezone()
        signature = Webhook(secret or self.seeded.bank_secret).sign(webhook_id, ts, body)
        return body.encode(), {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(ts.timestamp())),
            "webhook-signature": signature,
            "content-type": "application/json",
        }


def raw_secret(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def _dynamo_stays() -> Any:
    from chalicelib.storage.stays import DynamoStayStore

    return DynamoStayStore()


def _dynamo_contributions() -> Any:
    from chalicelib.storage.contributions import DynamoContributionStore

    return DynamoContributionStore()
