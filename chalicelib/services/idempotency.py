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
    status = 400
    slug = "idempotency-key-missing"
    title = "This request needs an Idempotency-Key header"


class IdempotencyKeyInvalid(DomainError):
    status = 400
    slug = "idempotency-key-invalid"
    title = "The Idempotency-Key header is not valid"


class IdempotencyKeyInUse(DomainError):
    status = 409
    slug = "idempotency-key-in-use"
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyKeyReused(DomainError):
    status = 422
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


# --- interim: the interface the keys branch implements (taken from there on merge) ----
from collections.abc import Callable  # noqa: E402
from typing import Generic, TypeVar  # noqa: E402

T = TypeVar("T")


@dataclass(frozen=True)
class IdempotentRequest:
    scope_key: str
    fingerprint: str
    now: int

    def decide(self, record: IdempotencyRecord | None) -> StoredResponse | None:
        if record is None or record.expires_at < self.now:
            return None
        if record.in_flight and record.locked_until < self.now:
            return None
        if record.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused("The Idempotency-Key was first used with another request")
        if record.in_flight or record.status is None or record.body is None:
            raise IdempotencyKeyInUse("The first request with this key has not finished")
        return StoredResponse(record.status, record.body)

    def completed(self, response: StoredResponse) -> IdempotencyRecord:
        return IdempotencyRecord(
            self.scope_key, self.fingerprint, False, self.now + RETENTION_SECONDS, 0, response.status, response.body
        )


def keyed(caller_id: str, key: str, print_: str, now: int) -> IdempotentRequest:
    return IdempotentRequest(scope_key(caller_id, key), print_, now)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    response: StoredResponse
    replayed: bool
    result: T | None = None


def remember(store: IdempotencyStore, key: IdempotentRequest, response: StoredResponse) -> Outcome[None]:
    if store.reserve(key.completed(response), key.now):
        return Outcome(response, replayed=False)
    stored = key.decide(store.get(key.scope_key))
    if stored is None:
        raise IdempotencyKeyInUse("Retry the request")
    return Outcome(stored, replayed=True)


_ = Callable
