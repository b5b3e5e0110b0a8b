"""Structured JSON logs with personal data redacted before anything is written.

One JSON object a line on stdout (what CloudWatch reads from a Lambda function):
`log.info("event", key=value, ...)` writes the fields, then "event", "level" and a UTC
"timestamp"; `log.exception(...)` adds the traceback as "exception". Written on the standard
library rather than structlog: importing structlog imports asyncio (its stdlib module and its
filtering loggers both do), about a tenth of a cold container's first request, for these
four methods.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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


_level = logging.INFO
_configured = False
_write_lock = threading.Lock()  # the poller's threads log too: one line is one write


def configure(level: str = "INFO") -> None:
    """The least level written (LOG_LEVEL); the first call sets it."""
    global _configured, _level
    if _configured:
        return
    _level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    _configured = True


class Logger:
    """What `get_logger` returns: one method a level, each writing one redacted JSON line."""

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, event: str, **fields: Any) -> None:
        _write(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        _write(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        _write(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        _write(logging.ERROR, "error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An error with the exception being handled and its traceback."""
        _write(logging.ERROR, "error", event, fields, sys.exc_info())


def _write(level: int, name: str, event: str, fields: dict[str, Any], exc_info: Any = None) -> None:
    if level < _level:
        return
    record: dict[str, Any] = {**fields, "event": event, "level": name}
    record["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if exc_info is not None and exc_info[0] is not None:
        record["exception"] = "".join(traceback.format_exception(*exc_info)).removesuffix("\n")
    line = json.dumps(redacted(record)) + "\n"
    with _write_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def get_logger(name: str) -> Logger:
    return Logger(name)
