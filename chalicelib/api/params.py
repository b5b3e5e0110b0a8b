"""Path and query parameters: each name has ONE format, used to parse it and to document it.

The pipeline (operations.py) parses every `{name}` of a route's path with its
format here, so a view receives a checked value; a route naming a parameter
with no format fails at import. Query models use the ASCII whole-number type,
because pydantic's own int parsing accepts " 12", "1_0" and "+5".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.identifiers import parse_card_no, parse_day, parse_payment_id


@dataclass(frozen=True)
class PathFormat:
    pattern: str  # the OpenAPI schema's pattern (ASCII)
    description: str
    parse: Callable[[str], object]  # raises InvalidInput (422) for anything else


def _token(name: str, pattern: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def parse(raw: str) -> str:
        if not compiled.fullmatch(raw):
            raise InvalidInput(f"{name} is not one this service gives")
        return raw

    return parse


_ID = r"[A-Za-z0-9_-]{1,64}"
PATH_FORMATS: dict[str, PathFormat] = {
    "card_no": PathFormat(r"^[0-9]{16,19}$", "The card number on its front (Luhn-checked)", parse_card_no),
    "payment_id": PathFormat(f"^{_ID}$", "A payment id this service gave", parse_payment_id),
    "bank_code": PathFormat(r"^[A-Za-z0-9_-]{1,32}$", "The partner bank's code", _token("bank_code", _ID)),
    "contribution_id": PathFormat(
        r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$",
        "The collection system's contribution id",
        _token("contribution_id", r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"),
    ),
    "registration_id": PathFormat(
        f"^{_ID}$", "A registration (stay) id this service gave", _token("registration_id", _ID)
    ),
    "charge_id": PathFormat(f"^{_ID}$", "The hospital's charge id", _token("charge_id", _ID)),
    "date": PathFormat(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "A day, YYYY-MM-DD (China time)", parse_day),
}


def path_names(path: str) -> tuple[str, ...]:
    return tuple(re.findall(r"{(\w+)}", path))


def _ascii_whole(raw: object) -> object:
    if isinstance(raw, str):
        if not re.fullmatch(r"[0-9]{1,9}", raw):
            raise ValueError("a whole number in the digits 0-9")
        return int(raw)
    return raw


# An integer query value: ASCII digits only, then the field's own bounds.
WholeNumber = Annotated[int, BeforeValidator(_ascii_whole)]


class Query(BaseModel):
    """Query parameters: no unknown names (a typo is a 422, not silently ignored)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
