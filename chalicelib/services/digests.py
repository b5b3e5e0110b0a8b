"""Keyed digests: how we recognise tokens and SSNs without storing them."""

from __future__ import annotations

import hashlib
import hmac


def keyed_digest(key: bytes, purpose: str, value: str) -> str:
    # The purpose separates domains, so an SSN digest can never equal a token digest.
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def token_digest(key: bytes, token: str) -> str:
    return keyed_digest(key, "institution-token", token)


def ssn_digest(key: bytes, ssn: str) -> str:
    return keyed_digest(key, "ssn", ssn)
