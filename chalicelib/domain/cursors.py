"""The one cursor codec of every paged read.

A cursor is the last item's page key, base64url without padding: opaque to the
caller, stable under inserts (a page starts after a key, not at an offset).
Decoding checks the key against the shape the paged read expects, so a forged
or garbled cursor is a clear 422, never a storage error.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

from .errors import InvalidCursor

MAX_CURSOR_LENGTH = 200
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{1,200}")
# The instant a time-ordered page key starts with (UTC, to the microsecond, so the text sorts as
# the time does), and the pattern a decoded cursor's key is checked against.
TIME_KEY_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"


def time_ordered_key(at: datetime, *ids: str) -> str:
    """Orders by time, then by the ids that make the key unique (so paging never skips or repeats)."""
    return "#".join((f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}", *ids))


def encode_cursor(page_key: str) -> str:
    return base64.urlsafe_b64encode(page_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, page_key: re.Pattern[str]) -> str:
    if not _BASE64URL.fullmatch(cursor):
        raise InvalidCursor("Pass back the next_cursor of the previous page unchanged")
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("Pass back the next_cursor of the previous page unchanged") from None
    if not page_key.fullmatch(key):
        raise InvalidCursor("Pass back the next_cursor of the previous page unchanged")
    return key
