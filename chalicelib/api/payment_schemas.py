"""Bodies of the card-swipe endpoints. Amounts are integer fen: floats, strings and booleans
are refused by strict validation; the range (1 to the configured maximum) by the domain."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from chalicelib.domain.payments import DEFAULT_MAX_AMOUNT_FEN

from .schemas import CARD_NO, Answer, Body

PAYMENT_ID = r"^[A-Za-z0-9_-]{1,64}$"
VISIT = Literal["pharmacy", "outpatient", "inpatient"]
AMOUNT = Field(
    description=(
        "Integer fen, from 1 to the configured maximum per payment "
        f"(default {DEFAULT_MAX_AMOUNT_FEN}); anything else is a 422 problem"
    ),
    json_schema_extra={"minimum": 1, "maximum": DEFAULT_MAX_AMOUNT_FEN},
)

# --- requests ---------------------------------------------------------------------


class PaymentRequestBody(Body):
    card_no: str = CARD_NO
    amount_fen: int = AMOUNT
    self_pay: Literal["allowed", "refused"] = Field(
        default="allowed",
        description=(
            "allowed: the personal account pays what it can, the rest is self_pay_fen. "
            "refused: all from the account, or nothing (insufficient-balance)"
        ),
    )
    previous_card_no: str | None = Field(
        default=None,
        pattern=r"^[0-9]{16,19}$",
        description=(
            "A pharmacy's first use of a new card: the original medical insurance card, inserted "
            "first. Activates the new card, carries the account over and pays, in one step"
        ),
    )
    visit: VISIT | None = Field(
        default=None,
        description=(
            "pharmacy, outpatient or inpatient; default pharmacy for a pharmacy and outpatient for a "
            "hospital. Only a hospital may send outpatient or inpatient"
        ),
    )
    in_scope_fen: int | None = Field(
        default=None,
        ge=0,
        description="The part of amount_fen inside the insurance's catalogue; default all of it",
    )

    @model_validator(mode="after")
    def _in_scope_within_amount(self) -> PaymentRequestBody:
        if self.in_scope_fen is not None and self.in_scope_fen > self.amount_fen:
            raise ValueError("in_scope_fen cannot be more than amount_fen")
        return self


class TheirPayment(Body):
    payment_id: str = Field(pattern=PAYMENT_ID)
    account_paid_fen: int = Field(description="Net of the day: negative for one cancelled that day")


class ReconciliationRequest(Body):
    date: str = Field(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="The business day (China time), YYYY-MM-DD"
    )
    count: int = Field(
        description="How many payments you took that day, less the cancellations made that day"
    )
    total_fen: int = Field(description="The sum of their account_paid_fen (net of the day's cancellations)")
    account_paid_fen: int | None = Field(
        default=None, description="Optional day total of account pay; must equal total_fen when sent"
    )
    fund_paid_fen: int | None = Field(default=None, description="Optional day total of pooled fund pay")
    serious_illness_paid_fen: int | None = Field(
        default=None, description="Optional day total of serious-illness pay"
    )

    @model_validator(mode="after")
    def _account_is_total(self) -> ReconciliationRequest:
        if self.account_paid_fen is not None and self.account_paid_fen != self.total_fen:
            raise ValueError("account_paid_fen is total_fen: send the same figure or leave it out")
        return self

    payments: list[TheirPayment] | None = Field(
        default=None,
        max_length=2000,
        description="Optional: your payments of the day, so the ones that differ can be named",
    )

    @field_validator("date")
    @classmethod
    def _is_a_date(cls, value: str) -> str:
        dt.date.fromisoformat(value)  # ValueError: pydantic reports it as a field error
        return value


# --- responses --------------------------------------------------------------------


class NoteView(Answer):
    code: str = Field(
        description=(
            "Why a part paid nothing or less: medical-not-in-force, serious-illness-waiting, "
            "serious-illness-interrupted, serious-illness-not-insured, fund-cap-reached, "
            "serious-illness-cap-reached"
        )
    )
    detail: str


class Split(Answer):
    """A bill's settlement: amount_fen = fund_paid_fen + serious_illness_paid_fen +
    account_paid_fen + self_pay_fen, always."""

    visit: VISIT
    amount_fen: int
    in_scope_fen: int
    fund_paid_fen: int = Field(description="Paid by the pooled medical fund")
    serious_illness_paid_fen: int = Field(description="Paid by the serious-illness insurance")
    account_paid_fen: int = Field(description="Paid from the personal account")
    self_pay_fen: int = Field(description="Left for the holder to pay in cash")
    deductible_fen: int = Field(description="In-scope fen this bill counted against the deductible")
    out_of_scope_fen: int = Field(description="Outside the catalogue: the holder's")
    notes: list[NoteView]


class PaymentAnswer(Split):
    payment_id: str
    balance_fen: int = Field(description="The personal account's balance after this payment")
    card_activated: bool = Field(description="True when this payment activated the card (pharmacy first use)")
    state: Literal["completed", "cancelled"]
    paid_at: dt.datetime


class QuoteAnswer(Split):
    quote: Literal[True] = Field(description="A pre-settlement: nothing was paid or changed")
    card_no: str
    balance_fen: int = Field(description="The personal account's balance a payment would leave")


class PaymentView(Split):
    payment_id: str
    card_no: str
    self_pay: Literal["allowed", "refused"]
    state: Literal["completed", "cancelled"]
    paid_at: dt.datetime
    cancelled_at: dt.datetime | None
    card_activated: bool


class DayFiguresView(Answer):
    count: int = Field(description="Payments less cancellations booked that day")
    total_fen: int = Field(description="The sum of account_paid_fen")
    fund_paid_fen: int | None = Field(default=None, description="When you sent it: the pooled fund's")
    serious_illness_paid_fen: int | None = Field(
        default=None, description="When you sent it: the serious-illness insurance's"
    )


class EntryView(Answer):
    kind: Literal["payment", "cancellation"]
    payment_id: str
    at: dt.datetime
    amount_fen: int = Field(description="Negative for a cancellation, like every part")
    fund_paid_fen: int
    serious_illness_paid_fen: int
    account_paid_fen: int
    self_pay_fen: int


class DayEntriesAnswer(Answer):
    date: str
    entries: list[EntryView] = Field(description="In time order")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last")


class DifferenceView(Answer):
    payment_id: str
    reason: Literal["only_ours", "only_theirs", "amount_differs", "cancelled"]
    ours_fen: int | None
    theirs_fen: int | None


class ReconciliationAnswer(Answer):
    date: str
    status: Literal["matched", "mismatched"]
    ours: DayFiguresView
    theirs: DayFiguresView
    differences: list[DifferenceView] = Field(description="Named when you sent your payments")
    our_entries: list[EntryView] = Field(
        description=(
            "When mismatched: our first entries of the day, to compare; the whole day is paged at "
            "GET /v1/reconciliations/{date}/entries"
        )
    )


class AccountAnswer(Answer):
    balance_fen: int
    state: Literal["normal", "held"] = Field(description="held: a new card awaits activation")
    card_no: str | None = Field(description="The card the account is on")
    pending_card_no: str | None = Field(description="A new card awaiting activation")


class MyPaymentView(Answer):
    payment_id: str
    paid_at: dt.datetime
    institution_name: str
    card_last4: str
    amount_fen: int
    account_paid_fen: int
    self_pay_fen: int
    state: Literal["completed", "cancelled"]
    cancelled_at: dt.datetime | None


class MyPaymentsAnswer(Answer):
    payments: list[MyPaymentView] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last")


class SeriousIllnessStandingView(Answer):
    eligible: bool
    reason: str


class YearView(Answer):
    year: int
    outpatient_deductible_used_fen: int
    inpatient_stays: int
    fund_paid_fen: int
    outpatient_fund_paid_fen: int
    serious_illness_base_fen: int
    serious_illness_paid_fen: int


class InsuredAnswer(Answer):
    card_no: str
    state: Literal["issued", "active", "suspended", "cancelled", "replaced"]
    medical_in_force: bool
    serious_illness: SeriousIllnessStandingView
    balance_fen: int
    year: YearView
