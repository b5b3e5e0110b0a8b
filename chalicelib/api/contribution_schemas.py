"""Request and response bodies of the contribution endpoints (the OpenAPI document reads them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, RootModel, Tag

from chalicelib.domain.contributions import MAX_AMOUNT_FEN

from .schemas import SSN, Answer, Body

# One request carries at most this many messages (about 300 bytes each: well inside the
# 64 KiB body limit). A monthly run of hundreds of millions goes through many requests,
# or straight to the queue.
MAX_BATCH = 100
INSURANCE = Literal["pension", "medical", "unemployment", "work_injury", "maternity", "serious_illness"]
BOOK = Literal["pension", "medical", "work_injury", "unemployment"]


class ContributionMessage(Body):
    """One payer's contribution for one insurance type and month: the queue message as well."""

    contribution_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$",
        description="Unique per posting: the same id posts once however often it is sent",
    )
    ssn: str = SSN
    period: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="The month paid for, YYYY-MM")
    insurance: INSURANCE
    payer: Literal["employer", "employee", "individual"]
    employer_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$",
        description="The paying employer; required when payer is employer",
    )
    amount_fen: int = Field(gt=0, le=MAX_AMOUNT_FEN)
    paid_at: str = Field(
        min_length=10,
        max_length=40,
        description="When it was paid, ISO 8601; without an offset it is China time (UTC+8)",
    )


class ContributionBatch(Body):
    contributions: list[ContributionMessage] = Field(min_length=1, max_length=MAX_BATCH)


def _shape(value: Any) -> str:
    # A body with "contributions" is a batch; anything else is judged as one message, so a
    # bad body gets the errors of the shape it meant, not of both.
    return "batch" if isinstance(value, dict) and "contributions" in value else "one"


class ContributionsRequest(RootModel):  # type: ignore[type-arg]  # the root's type is the field's
    """One contribution message, or {"contributions": [...]} with up to 100 of them."""

    # Declared as a field, not as RootModel[...]: a parametrized RootModel is built when it is
    # written, this one on first use like the other bodies.
    model_config = ConfigDict(defer_build=True)
    root: Annotated[
        Annotated[ContributionMessage, Tag("one")] | Annotated[ContributionBatch, Tag("batch")],
        Discriminator(_shape),
    ]

    def messages(self) -> list[ContributionMessage]:
        root = self.root
        return root.contributions if isinstance(root, ContributionBatch) else [root]


class QueuedAnswer(Answer):
    queued: int = Field(description="Messages queued; each posts once its holder is looked up")
    contribution_ids: list[str]


class ContributionMonthView(Answer):
    period: str
    insurance: INSURANCE
    book: BOOK = Field(description="The fund book the money went to")
    amount_fen: int = Field(description="Paid for this month and type, every payer together")
    postings: int
    personal_account_fen: int = Field(description="Of which credited to the personal account")
    paid_on: list[date] = Field(description="Dates of the payments (China time)")
    contribution_ids: list[str]


class MyContributionsAnswer(Answer):
    contributions: list[ContributionMonthView] = Field(description="Newest month first")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end")


class CoverageView(Answer):
    insurance: INSURANCE
    book: BOOK
    insured: bool = Field(description="The month of the date, or the one before, is paid")
    months_paid: int
    first_paid_on: date | None
    first_period: str | None
    last_period: str | None
    continuous_since: str | None = Field(description="First month of the unbroken run still current")
    missing_months: list[str] = Field(description="Unpaid months since the first, before the date's month")


class SeriousIllnessView(Answer):
    eligible: bool
    reason: str
    waiting_since: date | None = Field(description="First payment of the current unbroken run")
    eligible_from: date | None = Field(description="First day benefits apply if payment stays unbroken")


class MyCoverageAnswer(Answer):
    on: date
    coverage: list[CoverageView]
    serious_illness: SeriousIllnessView


class ContributionStatusAnswer(Answer):
    contribution_id: str
    status: Literal["posted", "rejected"]
    reason: str | None = Field(description="The rejection's problem slug, e.g. contribution-id-reused")
    detail: str | None
    posted_at: datetime | None = Field(default=None, description="When it posted")
