"""Request and response bodies. These pydantic models are the source of the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CARD_NO = Field(
    pattern=r"^[0-9]{16,19}$", description="The bank card number on the card's front (Luhn-checked)"
)
SSN = Field(
    pattern=r"^[0-9]{17}[0-9Xx]$",
    description="18-character citizen ID; the last character is its ISO 7064 MOD 11-2 check character",
)


class Body(BaseModel):
    """Requests: exact types (no coercion of "1" to 1) and no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


# --- requests ---------------------------------------------------------------------


class ActivateCardRequest(Body):
    ssn: str = SSN


class HolderIdentityRequest(Body):
    """Resume or cancel at a service center: the SSN staff read from the holder's ID document."""

    ssn: str = SSN


class RegistrationRequest(Body):
    card_no: str = CARD_NO
    visit: Literal["outpatient", "inpatient"]


class ReportLossRequest(Body):
    card_no: str | None = Field(
        default=None,
        pattern=r"^[0-9]{16,19}$",
        description="Which of your cards; default the one in use",
    )


class CounterActivationData(BaseModel):
    model_config = ConfigDict(defer_build=True)

    card_no: str = CARD_NO
    ssn: str = SSN
    outlet_id: str = Field(min_length=1, max_length=64)


class CounterActivatedEvent(BaseModel):
    """The Standard Webhooks payload a partner bank sends."""

    model_config = ConfigDict(defer_build=True)

    type: Literal["card.counter_activated"]
    timestamp: str | None = None
    data: CounterActivationData


# --- responses --------------------------------------------------------------------


class CardView(Answer):
    card_no: str
    kind: Literal["social_security", "medical_insurance"]
    state: Literal["issued", "active", "suspended", "cancelled", "replaced"]
    issuing_bank: str | None
    financial_active: bool
    issued_at: datetime
    activated_at: datetime | None


class CardEventView(Answer):
    at: datetime
    action: str
    from_state: str
    to_state: str
    channel: str
    institution_id: str | None
    detail: str | None


class ActivationAnswer(Answer):
    card_no: str
    state: str
    card_activated: bool = Field(description="True when this request activated the card")
    financial_active: bool


class RegistrationAnswer(Answer):
    registration_id: str
    card_no: str
    visit: str
    card_activated: bool = Field(description="True when this registration activated the card")
    state: str


class WebhookAnswer(Answer):
    webhook_id: str
    outcome: Literal["activated", "financial_activated", "already_active", "rejected"]
    reason: str | None = Field(description="The problem type slug when rejected")
    duplicate: bool = Field(
        description="True when this webhook id was applied before (a rejected one is evaluated again)"
    )


class MyCardAnswer(Answer):
    card: CardView
    pending_card: CardView | None = Field(description="A newly issued card awaiting activation")
    history: list[CardEventView]


class HealthAnswer(Answer):
    status: Literal["ok"]


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(defer_build=True)

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, object]] | None = None
