"""The composition root: the stores, clients and caches a Lambda container builds once.

HTTP routes and queue workers both read `deps()`; nothing else constructs storage.
Built on first use, so importing the app stays cheap (the storage modules pull in
PynamoDB and botocore). Tests swap in fakes with `use()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from chalicelib.domain.contribution_policy import ContributionPolicy
from chalicelib.domain.payments import PaymentPolicy
from chalicelib.domain.settlement import DEFAULT_SETTLEMENT_POLICY, SettlementPolicy
from chalicelib.long_lived import long_lived
from chalicelib.services.clock import Clock, utc_now
from chalicelib.services.contribution_ports import ContributionQueue, ContributionStore
from chalicelib.services.contributions import load_policy
from chalicelib.services.institution_cache import InstitutionCache
from chalicelib.services.payment_ports import PaymentStore
from chalicelib.services.ports import (
    CardStore,
    IdempotencyStore,
    SecretSource,
)
from chalicelib.services.stay_ports import StayStore
from chalicelib.settings import settings


@dataclass
class Deps:
    store: CardStore
    idempotency: IdempotencyStore
    secrets: SecretSource
    contributions: ContributionStore
    contribution_queue: ContributionQueue
    payments: PaymentStore
    clock: Clock = utc_now
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    payment_policy: PaymentPolicy = field(default_factory=PaymentPolicy)
    settlement_policy: SettlementPolicy = DEFAULT_SETTLEMENT_POLICY
    contribution_policy: ContributionPolicy = field(default_factory=ContributionPolicy)
    # Token digest -> institution, for a short time (services/institution_cache.py explains).
    institutions: InstitutionCache = field(default_factory=InstitutionCache)
    # Inpatient stays (a store of its own; built lazily, so Deps over fakes pass their own).
    stays: StayStore = field(default_factory=lambda: _dynamo_stays())


_deps: Deps | None = None
_cold = True  # no Deps built yet in this process


def deps() -> Deps:
    global _deps, _cold
    if _deps is None:
        if _cold:
            _cold = False
            with long_lived():
                _deps = _build()
        else:
            _deps = _build()  # tests going back to the real stores
    return _deps


def built(**overrides: object) -> Deps:
    """The container's collaborators with some replaced (tests and benchmarks)."""
    return replace(_build(), **overrides)  # type: ignore[arg-type]


def _build() -> Deps:
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
    from chalicelib.storage.payments import DynamoPaymentStore
    from chalicelib.storage.queues import SqsContributionQueue
    from chalicelib.storage.secrets import SecretsManagerSource
    from chalicelib.storage.stays import DynamoStayStore, RegistrationCache

    registrations = RegistrationCache()  # one per container: registering warms the discharge
    return Deps(
        store=DynamoCardStore(registrations=registrations),
        idempotency=DynamoIdempotencyStore(),
        secrets=SecretsManagerSource(settings().secrets_prefix),
        contributions=DynamoContributionStore(),
        contribution_queue=SqsContributionQueue(settings().contributions_queue),
        payments=DynamoPaymentStore(registrations=registrations),
        stays=DynamoStayStore(registrations),
        payment_policy=PaymentPolicy.from_setting(settings().payment_max_amount_fen),
        settlement_policy=SettlementPolicy.from_json(settings().settlement_policy),
        contribution_policy=load_policy(settings().contribution_policy),
    )


def _dynamo_stays() -> StayStore:
    from chalicelib.storage.stays import DynamoStayStore

    return DynamoStayStore()


def use(new: Deps | None) -> None:
    """Tests swap in fakes; None goes back to the real ones on next use."""
    global _deps
    _deps = new
