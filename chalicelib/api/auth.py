"""Who is calling: an institution (bearer token), a holder (mobile JWT) or a partner bank
(Standard Webhooks signature), checked against the kinds an operation declares.

An institution's identity comes only from its token, never from the body; a
holder's person id is the JWT's `sub`; a bank's code is the path's, proven by its
secret. Nothing here raises anything but Unauthenticated or Forbidden for a bad
credential: any failure to verify is 401.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalice.app import Request

from chalicelib.bootstrap import deps
from chalicelib.domain.errors import StorageBusy
from chalicelib.domain.holders import Institution
from chalicelib.logs import get_logger
from chalicelib.services.digests import token_digest
from chalicelib.services.ports import CardStore
from chalicelib.settings import settings

from .http import raw_body
from .problems import Forbidden, Unauthenticated

log = get_logger("sscard.auth")

ANYONE = "anyone"
MOBILE = "mobile"
PARTNER_BANK = "partner_bank"
MAX_TOKEN_LENGTH = 4096
MAX_WEBHOOK_ID_LENGTH = 200
_BANK_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
BEARER = "Send Authorization: Bearer <token>"


@dataclass(frozen=True)
class Caller:
    kind: str  # an InstitutionKind value, "mobile", "partner_bank" or "anyone"
    institution: Institution | None = None
    person_id: str | None = None
    bank_code: str | None = None

    @property
    def scope(self) -> str:
        """Whose Idempotency-Keys these are: two callers' keys never collide."""
        if self.institution is not None:
            return self.institution.institution_id
        if self.person_id is not None:
            return f"holder:{self.person_id}"
        return f"bank:{self.bank_code}" if self.bank_code else ANYONE


def authenticate(request: Request, kinds: tuple[str, ...], path: Mapping[str, str]) -> Caller:
    """The caller, if it is one of `kinds` (401 without a valid credential, 403 for another kind)."""
    if kinds == (ANYONE,):
        return Caller(ANYONE)
    if kinds == (PARTNER_BANK,):
        return _bank(request, path.get("bank_code", ""))
    caller = _bearer_caller(request)
    if caller.kind not in kinds:
        allowed = ", ".join(k.replace("_", " ") for k in kinds)
        raise Forbidden(f"Only a {allowed} may call this endpoint")
    return caller


def _bearer_caller(request: Request) -> Caller:
    header = str(request.headers.get("authorization") or "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise Unauthenticated(BEARER)
    if token.count(".") == 2:
        return Caller(MOBILE, person_id=_holder_of(token))
    d = deps()
    digest = token_digest(d.secrets.hashing_key(), token)
    institution = d.institutions.lookup(digest, lambda: _institution_of(d.store, digest))
    return Caller(institution.kind.value, institution=institution)


def _institution_of(store: CardStore, digest: str) -> Institution:
    credential = store.get_credential(digest)
    if credential is None:
        raise Unauthenticated("The token is not valid")
    institution = store.get_institution(credential.institution_id)
    if institution is None:
        raise Unauthenticated("The token's institution no longer exists")
    return institution


# --- mobile JWTs ------------------------------------------------------------------------


def _holder_of(token: str) -> str:
    try:
        return _verified_sub(token)
    except (Unauthenticated, StorageBusy):
        raise  # StorageBusy: the key store is busy, a retry may pass (503)
    except Exception as exc:
        # PyJWT and cryptography raise more than PyJWTError for hostile tokens and keys
        # (TypeError for an RS256 header on an EC key, ValueError for bad key material...).
        log.warning("jwt_rejected", extra={"error_type": type(exc).__name__})
        raise Unauthenticated("The token is not valid") from None


def _verified_sub(token: str) -> str:
    import jwt  # lazy: PyJWT pulls in cryptography, needed only by mobile calls

    cfg = settings()
    header = jwt.get_unverified_header(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key=_signing_key(header.get("kid")),
        algorithms=["ES256", "RS256"],
        audience=cfg.mobile_jwt_audience,
        issuer=cfg.mobile_jwt_issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        leeway=30,
    )
    lifetime = claims["exp"] - claims["iat"]
    if not isinstance(lifetime, int | float) or lifetime > cfg.mobile_jwt_max_lifetime_seconds:
        raise Unauthenticated(
            f"The token lives longer than {cfg.mobile_jwt_max_lifetime_seconds} seconds (exp - iat)"
        )
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthenticated("The token names no holder")
    return sub


def _signing_key(kid: object) -> Any:
    keys = _keyset(json.dumps(deps().secrets.mobile_jwks(), sort_keys=True))
    for key_id, key in keys:
        if kid is None or key_id == kid:
            return key
    raise Unauthenticated("The token's key is not one of the issuer's")


@functools.lru_cache(maxsize=4)
def _keyset(jwks_json: str) -> tuple[tuple[str | None, Any], ...]:
    """The issuer's parsed keys, cached by the key set's content: parsing a key costs more
    than verifying a signature, and a rotated set is a new cache entry."""
    import jwt

    keyset = jwt.PyJWKSet.from_dict(json.loads(jwks_json))
    return tuple((jwk.key_id, jwk.key) for jwk in keyset.keys)


# --- partner bank webhooks --------------------------------------------------------------


def _bank(request: Request, bank_code: str) -> Caller:
    headers = {k.lower(): v for k, v in request.headers.items()}
    webhook_id = headers.get("webhook-id", "")
    if (
        not webhook_id
        or len(webhook_id) > MAX_WEBHOOK_ID_LENGTH
        or not webhook_id.isascii()
        or not _BANK_CODE.fullmatch(bank_code)
        or not _signed_by(bank_code, raw_body(request), headers)
    ):
        raise Unauthenticated("The webhook signature is not valid for this bank")
    return Caller(PARTNER_BANK, bank_code=bank_code)


def _signed_by(bank_code: str, raw: bytes, headers: dict[str, str]) -> bool:
    from standardwebhooks.webhooks import Webhook

    for secret in deps().secrets.bank_secrets(bank_code):
        try:
            Webhook(secret).verify(raw, headers, json_parse=False)
            return True
        except Exception:  # noqa: S112 - any malformed header or secret is simply "not verified"
            continue
    return False
