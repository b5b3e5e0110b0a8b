"""The identifiers callers send: citizen ID (social security number), card number, payment id,
days, whole numbers; their checks, and masking for logs.

Every parser here is ASCII only and matches the whole string (`fullmatch` of `[0-9]`, never
`\\d` or `$`, which accept other scripts' digits and a trailing newline): anything else is an
InvalidInput (422), never an exception that escapes as a 500 or a lookup that answers 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .errors import InvalidCardNumber, InvalidInput, InvalidSsn

_SSN_RE = re.compile(r"[1-9][0-9]{16}[0-9X]")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # ISO 7064 MOD 11-2, indexed by sum mod 11
_CARD_RE = re.compile(r"[0-9]{16,19}")
_PAYMENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE_RE = re.compile(r"[0-9]{1,9}")


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
        # Only the check character's case is forgiven ("x" for "X"): nothing else is rewritten.
        candidate = raw[:17] + raw[17:].upper() if isinstance(raw, str) and raw.isascii() else ""
        if not _SSN_RE.fullmatch(candidate):
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
    if not isinstance(raw, str) or not _CARD_RE.fullmatch(raw):
        raise InvalidCardNumber("A card number is 16 to 19 digits")
    if not luhn_valid(raw):
        raise InvalidCardNumber("The check digit of the card number is wrong")
    return raw


def mask_card_no(value: str) -> str:
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def parse_payment_id(raw: object) -> str:
    if not isinstance(raw, str) or not _PAYMENT_ID_RE.fullmatch(raw):
        raise InvalidInput("A payment id is 1 to 64 letters, digits, '_' or '-'")
    return raw


def parse_day(raw: object) -> date:
    """A calendar day written YYYY-MM-DD."""
    if not isinstance(raw, str) or not _DAY_RE.fullmatch(raw):
        raise InvalidInput("A date is written YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("A date is written YYYY-MM-DD and must exist") from None


def parse_whole(raw: object, low: int, high: int, name: str) -> int:
    """A whole number from low to high, in ASCII digits only."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _WHOLE_RE.fullmatch(raw):
        value = int(raw)
    else:
        raise InvalidInput(f"{name} is a whole number from {low} to {high}")
    if not low <= value <= high:
        raise InvalidInput(f"{name} is a whole number from {low} to {high}")
    return value
