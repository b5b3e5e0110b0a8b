"""Seed data that makes the local API usable at once (and the test world the same)."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain.cards import CardKind
from chalicelib.domain.contributions import InsuranceType, Payer
from chalicelib.domain.holders import InstitutionKind, Participation
from chalicelib.domain.identifiers import ssn_check_char
from chalicelib.domain.periods import CHINA, Period, china_date
from chalicelib.services import admin
from chalicelib.services.admin import SecretWriter
from chalicelib.services.contribution_ports import ContributionStore, Posting
from chalicelib.services.ports import CardStore

BANK_CODE = "ICBC"


def make_ssn(region_birth_seq: str) -> str:
    """A valid citizen ID from its first 17 digits."""
    return region_birth_seq + ssn_check_char(region_birth_seq)


@dataclass
class SeedHolder:
    person_id: str
    name: str
    ssn: str
    card_no: str
    participation: str
    old_card_no: str | None = None
    balance_fen: int = 0


@dataclass
class Seeded:
    bank_code: str
    bank_secret: str
    tokens: dict[str, str] = field(default_factory=dict)  # role -> token
    institutions: dict[str, str] = field(default_factory=dict)  # role -> institution id
    holders: dict[str, SeedHolder] = field(default_factory=dict)  # role -> holder

    def to_json(self) -> str:
        return json.dumps(
            {
                "bank_code": self.bank_code,
                "bank_secret": self.bank_secret,
                "tokens": self.tokens,
                "institutions": self.institutions,
                "holders": {k: vars(v) for k, v in self.holders.items()},
            },
            indent=2,
        )


INSTITUTIONS = (
    # role, kind, name, designated
    (
        "service_center",
        InstitutionKind.SERVICE_CENTER,
        "Chaoyang Social Security Service Center",
        False,
    ),
    ("pharmacy", InstitutionKind.PHARMACY, "Tongrentang Pharmacy (designated)", True),
    (
        "hospital",
        InstitutionKind.HOSPITAL,
        "Peking Union Medical College Hospital (designated)",
        True,
    ),
    (
        "pharmacy_not_designated",
        InstitutionKind.PHARMACY,
        "Corner Pharmacy (not designated)",
        False,
    ),
    ("collection", InstitutionKind.COLLECTION_SYSTEM, "Beijing Tax Contribution Collection", False),
)

HOLDERS = (
    # role, name, first 17 digits of the SSN, participation, old card balance (None: no old card)
    ("alice", "Alice Wang", "11010519900307123", Participation.EMPLOYEE, None),
    ("bob", "Bob Li", "11010819851120456", Participation.FREELANCER, None),
    ("carol", "Carol Zhang", "11022819780614002", Participation.EMPLOYEE, 52_300),
    ("dan", "Dan Zhao", "11010119920101333", Participation.INDIVIDUAL, None),
    # Settlement walk-throughs: a year of medical and serious-illness contributions (eligible),
    # and a holder whose first payment is last month's (serious illness still waiting).
    ("erin", "Erin Chen", "11010519800512224", Participation.EMPLOYEE, None),
    ("frank", "Frank Sun", "11010519950830117", Participation.EMPLOYEE, None),
)
# role -> how many months back, up to last month, the holder's contributions were paid on time.
PAID_MONTHS = {"erin": 12, "frank": 1}
MONTHLY_MEDICAL_FEN = 40_000  # the employee's own share: all of it to the personal account
MONTHLY_SERIOUS_ILLNESS_FEN = 1_000


def seed(store: CardStore, writer: SecretWriter, hashing_key: bytes, now: datetime) -> Seeded:
    bank_secret = admin.add_bank(store, writer, BANK_CODE, "Industrial and Commercial Bank of China")
    seeded = Seeded(BANK_CODE, bank_secret)
    for role, kind, name, designated in INSTITUTIONS:
        institution, token = admin.add_institution(
            store,
            hashing_key,
            kind,
            name,
            now,
            designated=designated,
            institution_id=role.upper().replace("_", "-"),
        )
        seeded.tokens[role] = token
        seeded.institutions[role] = institution.institution_id
    for role, name, ssn17, participation, old_balance in HOLDERS:
        ssn = make_ssn(ssn17)
        holder = admin.enroll_holder(
            store,
            hashing_key,
            ssn,
            name,
            participation,
            now,
            person_id=f"P-{role}",
            balance_fen=old_balance or 0,
        )
        old_card_no = None
        if old_balance is not None:
            old_card_no = admin.issue_card(
                store, holder.person_id, now, kind=CardKind.MEDICAL_INSURANCE
            ).card_no
        card = admin.issue_card(store, holder.person_id, now, bank_code=BANK_CODE)
        seeded.holders[role] = SeedHolder(
            holder.person_id,
            name,
            ssn,
            card.card_no,
            participation.value,
            old_card_no,
            old_balance or 0,
        )
    return seeded


def new_hashing_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def seed_contributions(store: ContributionStore, seeded: Seeded, now: datetime) -> int:
    """The months of PAID_MONTHS, posted as the worker posts them; returns how many postings
    were made."""
    return sum(
        post_months_paid_on_time(store, seeded.holders[role].person_id, months, now, id_prefix=f"seed-{role}")
        for role, months in PAID_MONTHS.items()
    )


def post_months_paid_on_time(
    store: ContributionStore,
    person_id: str,
    months: int,
    now: datetime,
    *,
    id_prefix: str,
    medical_fen: int = MONTHLY_MEDICAL_FEN,
    serious_illness_fen: int = MONTHLY_SERIOUS_ILLNESS_FEN,
    source: str | None = "COLLECTION",
) -> int:
    """`months` months of medical (all of it to the personal account) and serious-illness
    contributions, the last one last month's, each paid on the 5th of its month (China time):
    a holder serious-illness eligible once a first payment is over 6 months old. The seed, the
    e2e provisioning and the fault suite all build their paying holders with it."""
    posted = 0
    last = Period.of(china_date(now)).shift(-1)
    for back in range(months - 1, -1, -1):
        period = last.shift(-back)
        paid_at = datetime(period.year, period.month, 5, 9, 0, tzinfo=CHINA)
        for insurance, amount, share in (
            (InsuranceType.MEDICAL, medical_fen, medical_fen),
            (InsuranceType.SERIOUS_ILLNESS, serious_illness_fen, 0),
        ):
            store.post(
                Posting(
                    f"{id_prefix}-{period}-{insurance.value}",
                    person_id,
                    insurance,
                    period,
                    Payer.EMPLOYEE,
                    None,
                    amount,
                    share,
                    paid_at,
                    now,
                    source,
                )
            )
            posted += 1
    return posted
