"""Structured JSON logs with personal data redacted before anything is written.

One JSON object a line on stdout (what CloudWatch reads from a Lambda function), written by
python-json-logger's formatter on the standard library's logging:
`get_logger(name).info("event", extra={"key": value})` writes "event", "level" (lower case),
"timestamp" (ISO 8601 UTC), "logger" (the name) and the extra fields; `.exception(...)` adds
the traceback as "exception". An extra key may not be one of those, nor a `logging.LogRecord`
attribute (`name`, `message`, `args`...): tests/test_logs.py checks every call site's keys.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pythonjsonlogger.core import LogData
from pythonjsonlogger.json import JsonFormatter

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


# The parent of every logger get_logger returns. Not "sscard": that is Chalice's own app logger
# (app_name), with its level at ERROR and a plain-text handler on the stdout of its creation.
_PARENT = __name__
# The keys every line has; an extra field may not take them (nor a LogRecord attribute's name).
KEYS = ("event", "level", "timestamp", "logger", "exception")


class _RedactingJsonFormatter(JsonFormatter):
    def __init__(self) -> None:
        super().__init__(
            ["message", "levelname", "name"],
            rename_fields={
                "message": "event",
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
            },
            timestamp=True,
        )

    def process_log_record(self, log_data: LogData) -> LogData:
        """The documented hook for the record's dict: the keys in a fixed order, then every value
        (tracebacks included) redacted before json writes it."""
        stamp: datetime = log_data.pop("timestamp")
        line = {
            "event": log_data.pop("event"),
            "level": str(log_data.pop("level")).lower(),
            "timestamp": stamp.isoformat().replace("+00:00", "Z"),
            "logger": str(log_data.pop("logger")).removeprefix(_PARENT + "."),
            **log_data,
        }
        return {key: redacted(value) for key, value in line.items()}


class _Stdout:
    """Whatever `sys.stdout` is when a line is written (pytest's capsys replaces it between
    tests; a handler holding the stdout of configure() time would write into a closed one)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _parent() -> logging.Logger:
    """The one parent logger, given its handler once. It does not propagate: the Lambda runtime
    puts a handler of its own on the root logger, and every line would be written twice."""
    parent = logging.getLogger(_PARENT)
    if not parent.handlers:
        handler = logging.StreamHandler(_Stdout())
        handler.setFormatter(_RedactingJsonFormatter())
        parent.addHandler(handler)
        parent.propagate = False
        parent.setLevel(logging.INFO)
    return parent


_configured = False


def configure(level: str = "INFO") -> None:
    """The least level written (LOG_LEVEL; an unknown name is INFO); the first call sets it."""
    global _configured
    if _configured:
        return
    _parent().setLevel(logging.getLevelNamesMapping().get(level.upper(), logging.INFO))
    _configured = True


def get_logger(name: str) -> logging.Logger:
    _parent()
    return logging.getLogger(f"{_PARENT}.{name}")
