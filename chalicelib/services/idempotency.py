"""Idempotency-Key semantics of the IETF httpapi idempotency-key draft.

Same key and same request: the first response again. Same key, different
request: 422. Same key while the first is still being processed: 409.
Keys are scoped to the caller, so two institutions never collide.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from chalicelib.domain.errors import DomainError

from .ports import IdempotencyRecord, IdempotencyStore

# How long a finished request's response is replayed (also the DynamoDB TTL).
RETENTION_SECONDS = 24 * 3600
# How long an unfinished request holds its key before a retry may take over
# (longer than the Lambda timeout, so a live request is never overtaken).
LOCK_SECONDS = 60
MAX_KEY_LENGTH = 255


class IdempotencyKeyMissing(DomainError):
    slug = "idempotency-key-missing"
    title = "This request needs an Idempotency-Key header"


class IdempotencyKeyInvalid(DomainError):
    slug = "idempotency-key-invalid"
    title = "The Idempotency-Key header is not valid"


class IdempotencyKeyInUse(DomainError):
    slug = "idempotency-key-in-use"
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyKeyReused(DomainError):
    slug = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def scope_key(caller_id: str, key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyKeyInvalid(f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable characters")
    return f"{caller_id}#{key}"


def begin(store: IdempotencyStore, key: str, print_: str, now: int) -> StoredResponse | None:
    """Own the key (None: go ahead) or get the first response to replay."""
    record = IdempotencyRecord(
        scope_key=key,
        fingerprint=print_,
        in_flight=True,
        expires_at=now + RETENTION_SECONDS,
        locked_until=now + LOCK_SECONDS,
    )
    if store.reserve(record, now):
        return None
    existing = store.get(key)
    if existing is None or existing.expires_at <= now:
        # It expired between our two calls; one more try decides it.
        if store.reserve(record, now):
            return None
        existing = store.get(key)
        if existing is None:
            raise IdempotencyKeyInUse("Retry the request")
    if existing.fingerprint != print_:
        raise IdempotencyKeyReused("The Idempotency-Key was first used with another request body")
    if existing.in_flight or existing.status is None or existing.body is None:
        raise IdempotencyKeyInUse("The first request with this key has not finished")
    return StoredResponse(existing.status, existing.body)


def finish(store: IdempotencyStore, key: str, print_: str, now: int, status: int, body: str) -> None:
    store.complete(
        IdempotencyRecord(
            scope_key=key,
            fingerprint=print_,
            in_flight=False,
            expires_at=now + RETENTION_SECONDS,
            locked_until=0,
            status=status,
            body=body,
        )
    )


def abandon(store: IdempotencyStore, key: str) -> None:
    """A passing failure (503): free the key so the client's retry runs the request again."""
    store.release(key)
