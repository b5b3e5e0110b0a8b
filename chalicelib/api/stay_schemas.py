"""Bodies of the inpatient stay endpoints. Amounts are integer fen (strict: no floats, strings
or booleans); ranges are the domain's (domain/stays.py)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from chalicelib.domain.stays import MAX_DESCRIPTION

from .schemas import Answer, Body

CHARGE_ID = r"^[A-Za-z0-9_-]{1,64}$"

# --- requests ---------------------------------------------------------------------


class ChargeRequest(Body):
    charge_id: str = Field(
        pattern=CHARGE_ID,
        description="The hospital's id of this charge: applied once (the same id and body: the same answer)",
    )
    amount_fen: int = Field(
        description="Integer fen, at least 1; the stay's total stays within the per-stay maximum",
        json_schema_extra={"minimum": 1},
    )
    in_scope_fen: int = Field(
        description="The part of amount_fen inside the insurance's catalogue, 0 to amount_fen",
        json_schema_extra={"minimum": 0},
    )
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION, description="What was charged")


# --- answers ----------------------------------------------------------------------


class ChargeView(Answer):
    registration_id: str
    charge_id: str
    amount_fen: int
    in_scope_fen: int
    description: str
    state: Literal["applied", "cancelled"]
    applied_at: dt.datetime
    cancelled_at: dt.datetime | None


class StayTotalsView(Answer):
    amount_fen: int = Field(description="The sum of the live (applied) charges")
    in_scope_fen: int
    out_of_scope_fen: int
    charge_count: int = Field(description="How many charges are live (applied, not cancelled)")


class StayView(Answer):
    registration_id: str
    card_no: str
    visit: Literal["inpatient"]
    state: Literal["open", "discharged", "withdrawn"]
    admitted_at: dt.datetime
    totals: StayTotalsView
    discharge_payment_id: str | None = Field(description="The payment that settled the stay at discharge")
    closed_at: dt.datetime | None


class StayWithChargesView(StayView):
    charges: list[ChargeView] = Field(description="A page of the stay's charges, in charge_id order")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")
