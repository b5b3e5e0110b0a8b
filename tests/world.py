"""A seeded world for service and API tests, over fakes or DynamoDB."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from chalicelib.bootstrap import Deps
from chalicelib.services.contribution_ports import ContributionStore
from chalicelib.services.payment_ports import PaymentStore
from chalicelib.services.ports import CardStore, IdempotencyStore
from chalicelib.services.stay_ports import StayStore
from sscard_ops import devjwt
from sscard_ops.seed import Seeded, seed
from tests.fake_payments import FakePaymentStore
from tests.fake_stays import FakeStayStore
from tests.fakes import (
    FakeCardStore,
    FakeContributionQueue,
    FakeContributionStore,
    FakeIdempotencyStore,
    FakeSecrets,
)

ISSUER = "https://auth.sscard.local/"
AUDIENCE = "sscard-mobile"
_PRIVATE_PEM = devjwt.new_private_key_pem()


class World:
    def __init__(
        self,
        store: CardStore,
        idempotency: IdempotencyStore,
        secrets: FakeSecrets,
        now: datetime,
        payments: PaymentStore | None = None,
    ) -> None:
        self.store = store
        self.idempotency = idempotency
        self.contribution_queue = FakeContributionQueue()
        self.payments: PaymentStore
        self.contributions: ContributionStore
        self.stays: StayStore
        if isinstance(store, FakeCardStore) and isinstance(idempotency, FakeIdempotencyStore):
            # The fakes share one world: cards, accounts and key records (the card use cases
            # write their key records in their commit).
            store.keys = idempotency
            self.stays = FakeStayStore(store, idempotency)
            fake_payments = FakePaymentStore(store, idempotency)
            fake_payments.stays = self.stays
            self.payments = payments or fake_payments
            self.contributions = FakeContributionStore(store)
        else:
            self.stays = _dynamo_stays()
            self.payments = payments or _dynamo_payments()
            self.contributions = _dynamo_contributions()
        self.secrets = secrets
        self.now = now
        self.private_pem = _PRIVATE_PEM
        secrets.jwks = devjwt.jwks_for(_PRIVATE_PEM)
        self.seeded: Seeded = seed(store, secrets, secrets.hashing_key(), now)
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


def _dynamo_payments() -> PaymentStore:
    from chalicelib.storage.payments import DynamoPaymentStore

    return DynamoPaymentStore()


def _dynamo_stays() -> StayStore:
    from chalicelib.storage.stays import DynamoStayStore

    return DynamoStayStore()


def _dynamo_contributions() -> ContributionStore:
    from chalicelib.storage.contributions import DynamoContributionStore

    return DynamoContributionStore()
