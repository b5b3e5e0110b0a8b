"""Months and dates as contributions count them: the calendar month paid for, China's civil date.

Pure rules, standard library only.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from .errors import InvalidContribution

# China keeps one civil time, UTC+8, without daylight saving: a payment's date is its date there.
CHINA = timezone(timedelta(hours=8), "CST")
_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, the unit contributions are paid for."""

    year: int
    month: int

    @classmethod
    def parse(cls, raw: object) -> Period:
        match = _PERIOD.fullmatch(raw) if isinstance(raw, str) else None
        if not match:
            raise InvalidContribution("period is a month written YYYY-MM")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    @classmethod
    def from_index(cls, index: int) -> Period:
        return cls(index // 12, index % 12 + 1)

    @property
    def index(self) -> int:
        return self.year * 12 + self.month - 1

    def shift(self, months: int) -> Period:
        return Period.from_index(self.index + months)

    def next(self) -> Period:
        return self.shift(1)

    def prev(self) -> Period:
        return self.shift(-1)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def months_between(first: Period, last: Period) -> list[Period]:
    """Every month from `first` through `last` (empty when `last` is before `first`)."""
    return [Period.from_index(i) for i in range(first.index, last.index + 1)]


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the 31st of a shorter month becomes its last day."""
    target = Period.of(day).shift(months)
    return date(target.year, target.month, min(day.day, target.last_day.day))


def age_on(birth: date, on: date) -> int:
    """Completed years of age on a date (a 29 February birthday completes a year on 1 March)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def china_date(at: datetime) -> date:
    return at.astimezone(CHINA).date()
