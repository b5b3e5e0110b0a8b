"""Citizen ID (social security number) and card number checks, and masking for logs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .errors import InvalidCardNumber, InvalidSsn

_SSN_RE = re.compile(r"^[1-9]\d{16}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # ISO 7064 MOD 11-2, indexed by sum mod 11
_CARD_RE = re.compile(r"^\d{16,19}$")


def ssn_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


@dataclass(frozen=True)
class Ssn:
    """A validated 18-character citizen ID. Its repr never shows the full number."""

    value: str

    @classmethod
    def parse(cls, raw: str) -> Ssn:
        candidate = raw.strip().upper() if isinstance(raw, str) else ""
        if not _SSN_RE.match(candidate):
            raise InvalidSsn("A social security number is 17 digits and a check character")
        if ssn_check_char(candidate[:17]) != candidate[17]:
            raise InvalidSsn("The check character of the social security number is wrong")
        try:
            cls._birth(candidate)
        except ValueError as exc:
            raise InvalidSsn("The birth date inside the social security number is not a date") from exc
        return cls(candidate)

    @staticmethod
    def _birth(value: str) -> date:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))

    @property
    def birth_date(self) -> date:
        return self._birth(self.value)

    @property
    def sex(self) -> str:
        """'male' or 'female', from the parity of the 17th digit."""
        return "male" if int(self.value[16]) % 2 else "female"

    @property
    def masked(self) -> str:
        return mask_ssn(self.value)

    def __repr__(self) -> str:
        return f"Ssn({self.masked})"

    __str__ = __repr__


def mask_ssn(value: str) -> str:
    """Region code and last four only: enough for support, useless for identity theft."""
    if len(value) < 10:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return d
    raise AssertionError("unreachable")


def parse_card_no(raw: object) -> str:
    """A card number is the bank card number on its front: 16 to 19 digits, Luhn-checked."""
    if not isinstance(raw, str) or not _CARD_RE.match(raw):
        raise InvalidCardNumber("A card number is 16 to 19 digits")
    if not luhn_valid(raw):
        raise InvalidCardNumber("The check digit of the card number is wrong")
    return raw


def mask_card_no(value: str) -> str:
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]
