"""Who may contribute what: participation, payer and working age.

Pure rules, standard library only. The ages come from `ContributionPolicy`.
(Serious-illness benefit eligibility is a matter of continuity: see `coverage`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

from .contribution_policy import ContributionPolicy
from .contributions import Contribution, InsuranceType, Payer
from .errors import ContributionIneligible
from .holders import Participation
from .periods import Period, age_on

_OWN_ACCOUNT_TYPES = frozenset(
    {InsuranceType.PENSION, InsuranceType.UNEMPLOYMENT, InsuranceType.MEDICAL, InsuranceType.SERIOUS_ILLNESS}
)

# Individual workers and freelancers may join only pension, unemployment and medical
# (serious illness is part of medical); employees may join every type.
ALLOWED_TYPES: Mapping[Participation, frozenset[InsuranceType]] = MappingProxyType(
    {
        Participation.EMPLOYEE: frozenset(InsuranceType),
        Participation.INDIVIDUAL: _OWN_ACCOUNT_TYPES,
        Participation.FREELANCER: _OWN_ACCOUNT_TYPES,
    }
)

# Who may pay for whom. An employee of an individual household may have the household pay
# (as its employer); a freelancer has, by definition, no employer.
ALLOWED_PAYERS: Mapping[Participation, frozenset[Payer]] = MappingProxyType(
    {
        Participation.EMPLOYEE: frozenset({Payer.EMPLOYER, Payer.EMPLOYEE}),
        Participation.INDIVIDUAL: frozenset({Payer.INDIVIDUAL, Payer.EMPLOYER}),
        Participation.FREELANCER: frozenset({Payer.INDIVIDUAL}),
    }
)

# Social Insurance Law Arts. 33 and 53: employees do not pay work-injury or maternity
# insurance themselves; their employer pays it.
EMPLOYER_ONLY: frozenset[InsuranceType] = frozenset({InsuranceType.WORK_INJURY, InsuranceType.MATERNITY})

# Working age is checked for those who join on their own account.
AGE_CHECKED: frozenset[Participation] = frozenset({Participation.INDIVIDUAL, Participation.FREELANCER})

_WHO: Mapping[Participation, str] = MappingProxyType(
    {
        Participation.EMPLOYEE: "An employee",
        Participation.INDIVIDUAL: "An individual worker",
        Participation.FREELANCER: "A freelancer",
    }
)


def within_working_age(birth: date, sex: str, period: Period, policy: ContributionPolicy) -> bool:
    """Of working age on at least one day of the month: the minimum age reached by its last
    day, and the retirement age not yet reached on its first day."""
    return age_on(birth, period.last_day) >= policy.min_working_age and age_on(
        birth, period.first_day
    ) < policy.retirement_age(sex)


def check_eligible(
    participation: Participation,
    birth: date,
    sex: str,
    contribution: Contribution,
    policy: ContributionPolicy,
) -> None:
    """Refuse, with the reason, a contribution this holder may not make."""
    who = _WHO[participation]
    if contribution.insurance not in ALLOWED_TYPES[participation]:
        raise ContributionIneligible(f"{who} may not join {contribution.insurance.value} insurance")
    if contribution.payer not in ALLOWED_PAYERS[participation]:
        raise ContributionIneligible(f"{who}'s contribution is not paid by the {contribution.payer.value}")
    if (
        participation is Participation.EMPLOYEE
        and contribution.insurance in EMPLOYER_ONLY
        and contribution.payer is not Payer.EMPLOYER
    ):
        raise ContributionIneligible(f"Only the employer pays {contribution.insurance.value} insurance")
    if participation in AGE_CHECKED and not within_working_age(birth, sex, contribution.period, policy):
        raise ContributionIneligible(
            f"In {contribution.period} the holder is not within working age "
            f"({policy.min_working_age} to {policy.retirement_age(sex)})"
        )
