"""The numbers of the contribution rules that the source leaves to policy, and the shares they set.

Pure rules, standard library only. `ContributionPolicy` is configuration (the
CONTRIBUTION_POLICY setting) with documented defaults, never a constant buried
in a rule; docs/contributions.md explains each default and where it comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from .contributions import Contribution, InsuranceType, Payer

# A month paid within this many months after its end counts as paid on time for continuity:
# the same grace as 'in force' in the settlement rules (DESIGN.md section 2).
DEFAULT_GRACE_MONTHS = 3
MAX_GRACE_MONTHS = 12


def _default_shares() -> dict[Payer, int]:
    return {Payer.EMPLOYEE: 10_000, Payer.EMPLOYER: 0, Payer.INDIVIDUAL: 2_500}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ContributionPolicy:
    """Numbers the source leaves to policy. Defaults, and why (see docs/contributions.md):

    - min_working_age 16: the Labour Law (Art. 15) forbids employing anyone younger.
    - retirement ages 60 for men and 55 for women: the statutory ages of State Council
      Guofa [1978] No. 104 (men 60; women cadres 55, women workers 50) before the gradual
      rise decided by the NPC Standing Committee in September 2024 (from 2025 over 15
      years: men to 63, women to 55 or 58). The holder record does not say cadre or
      worker, so women default to 55. A deployment sets the ages its region applies.
    - personal_account_bp, basis points of a basic medical contribution credited to the
      holder's personal account, by payer: the employee's own share in full and nothing
      of the employer's, as the 2021 reform of employee medical insurance (Guobanfa
      [2021] No. 14) does; for an individual worker or freelancer, who pays both shares,
      the employee-equivalent part: 2 of the 8 points of Guofa [1998] No. 44's 6% + 2%
      rates, 25%. Only basic medical contributions feed the account; maternity and
      serious illness do not. The credit stays inside the medical book: the personal
      account is part of the basic medical insurance fund.
    - late_payment_grace_months 3: a month paid by the end of the third month after it
      still counts as paid on time for continuity (the settlement's 'in force' grace);
      paid later, it fills the record but the interruption stands.
    """

    min_working_age: int = 16
    retirement_age_male: int = 60
    retirement_age_female: int = 55
    personal_account_bp: Mapping[Payer, int] = field(default_factory=_default_shares)
    late_payment_grace_months: int = DEFAULT_GRACE_MONTHS

    def __post_init__(self) -> None:
        ages = (self.min_working_age, self.retirement_age_male, self.retirement_age_female)
        if not all(_whole(a) for a in ages):
            raise ValueError("ages are whole years")
        if not 0 < self.min_working_age < min(self.retirement_age_male, self.retirement_age_female) <= 100:
            raise ValueError("the minimum working age must be below both retirement ages")
        grace = self.late_payment_grace_months
        if not _whole(grace) or not 0 <= grace <= MAX_GRACE_MONTHS:
            raise ValueError(
                f"late_payment_grace_months is a whole number of months from 0 to {MAX_GRACE_MONTHS}"
            )
        shares = dict(_default_shares())
        shares.update({Payer(k): v for k, v in self.personal_account_bp.items()})
        for payer, bp in shares.items():
            if not _whole(bp) or not 0 <= bp <= 10_000:
                raise ValueError(f"personal_account_bp.{payer.value} is 0 to 10000 basis points")
        object.__setattr__(self, "personal_account_bp", MappingProxyType(shares))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ContributionPolicy:
        """Defaults overridden by `data` (the CONTRIBUTION_POLICY JSON). Unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown contribution policy keys: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "personal_account_bp" in values:
            raw = values["personal_account_bp"]
            if not isinstance(raw, Mapping):
                raise ValueError("personal_account_bp maps a payer to basis points")
            try:
                values["personal_account_bp"] = {Payer(k): v for k, v in raw.items()}
            except ValueError as exc:
                raise ValueError(f"personal_account_bp: {exc}") from exc
        return cls(**values)

    def retirement_age(self, sex: str) -> int:
        return self.retirement_age_female if sex == "female" else self.retirement_age_male


def personal_account_share(contribution: Contribution, policy: ContributionPolicy) -> int:
    """Fen of this contribution credited to the personal account (rounded down; the rest pools)."""
    if contribution.insurance is not InsuranceType.MEDICAL:
        return 0
    return contribution.amount_fen * policy.personal_account_bp[contribution.payer] // 10_000
