"""Structured JSON logs with personal data redacted before anything is written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

# 18-character citizen IDs and 16-19 digit card numbers, wherever they appear.
_SSN = re.compile(r"(?<![0-9])([1-9][0-9]{3})[0-9]{10}([0-9]{3}[0-9Xx])(?![0-9])")
_CARD = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{6,9}([0-9]{4})(?![0-9])")
_SECRET = re.compile(r"(whsec_|sst_)[A-Za-z0-9+/=_-]+")


def redact(text: str) -> str:
    text = _SSN.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    text = _CARD.sub(lambda m: m.group(1) + "******" + m.group(2), text)
    return _SECRET.sub(lambda m: m.group(1) + "***", text)


def redacted(value: Any) -> Any:
    """`value` with every string in it redacted, however deep in dicts, lists, tuples and sets;
    any other object by its text (what the JSON renderer would write), redacted too."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redacted(k): redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redacted(v) for v in value]
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):  # a card number or SSN logged as a number
        text = str(value)
        return value if redact(text) == text else redact(text)
    return redact(str(value))


def _redact_values(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {k: redacted(v) for k, v in event.items()}


_configured = False


def configure(level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_values,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    _configured = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
