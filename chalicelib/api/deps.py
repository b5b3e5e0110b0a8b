"""The services' collaborators, built on first use so importing the app stays cheap."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.domain.payments import PaymentPolicy
from chalicelib.services.clock import Clock, utc_now
from chalicelib.services.contribution_ports import ContributionQueue, ContributionStore
from chalicelib.services.payment_ports import PaymentStore
from chalicelib.services.ports import (
    CardStore,
    IdempotencyStore,
    SecretSource,
)
from chalicelib.settings import settings

from .institution_cache import InstitutionCache


@dataclass
class Deps:
    store: CardStore
    idempotency: IdempotencyStore
    secrets: SecretSource
    clock: Clock = utc_now
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    # Contribution posting; None where a caller (a test world) does not use it.
    contributions: ContributionStore | None = None
    contribution_queue: ContributionQueue | None = None
    # Card swipes; None where a caller (a test world) does not use them.
    payments: PaymentStore | None = None
    payment_policy: PaymentPolicy = field(default_factory=PaymentPolicy)
    # Token digest -> institution, for a short time (institution_cache.py explains).
    institutions: InstitutionCache = field(default_factory=InstitutionCache)


_deps: Deps | None = None


def deps() -> Deps:
    global _deps
    if _deps is None:
        from chalicelib.storage.contributions import DynamoContributionStore
        from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
        from chalicelib.storage.payments import DynamoPaymentStore
        from chalicelib.storage.queues import SqsContributionQueue
        from chalicelib.storage.secrets import SecretsManagerSource

        _deps = Deps(
            store=DynamoCardStore(),
            idempotency=DynamoIdempotencyStore(),
            secrets=SecretsManagerSource(settings().secrets_prefix),
            contributions=DynamoContributionStore(),
            contribution_queue=SqsContributionQueue(settings().contributions_queue),
            payments=DynamoPaymentStore(),
            payment_policy=PaymentPolicy.from_setting(settings().payment_max_amount_fen),
        )
    return _deps


def use(new: Deps | None) -> None:
    """Tests swap in fakes; None goes back to the real ones on next use."""
    global _deps
    _deps = new
