"""Who is calling: an institution (bearer token), or a holder (mobile JWT).

An institution's identity comes only from its token, never from the body; a
holder's person id is the JWT's `sub`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalice.app import Request

from chalicelib.domain.errors import NotFound
from chalicelib.domain.holders import Institution, InstitutionKind
from chalicelib.services.digests import token_digest
from chalicelib.services.ports import CardStore
from chalicelib.settings import settings

from .deps import deps
from .problems import forbidden, unauthenticated

MOBILE = "mobile"
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class Caller:
    kind: str  # an InstitutionKind value, or "mobile"
    institution: Institution | None = None
    person_id: str | None = None


def _bearer(request: Request) -> str:
    header = str(request.headers.get("authorization") or "")
    if not header:
        raise unauthenticated("Send Authorization: Bearer <token>")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        raise unauthenticated("Send Authorization: Bearer <token>")
    return token


def authenticate(request: Request) -> Caller:
    token = _bearer(request)
    if token.count(".") == 2:
        return Caller(MOBILE, person_id=_verify_jwt(token))
    d = deps()
    digest = token_digest(d.secrets.hashing_key(), token)
    institution = d.institutions.lookup(digest, lambda: _institution_of(d.store, digest))
    return Caller(institution.kind.value, institution=institution)


def _institution_of(store: CardStore, digest: str) -> Institution:
    credential = store.get_credential(digest)
    if credential is None:
        raise unauthenticated("The token is not valid")
    institution = store.get_institution(credential.institution_id)
    if institution is None:
        raise unauthenticated("The token's institution no longer exists")
    return institution


def require_institution(request: Request, *kinds: InstitutionKind) -> Institution:
    caller = authenticate(request)
    if caller.institution is None or caller.institution.kind not in kinds:
        allowed = ", ".join(k.value.replace("_", " ") for k in kinds)
        raise forbidden(f"Only a {allowed} may call this endpoint")
    return caller.institution


def require_holder(request: Request) -> str:
    caller = authenticate(request)
    if caller.person_id is None:
        raise forbidden("Only the mobile app, for its holder, may call this endpoint")
    return caller.person_id


def _verify_jwt(token: str) -> str:
    import jwt  # lazy: PyJWT pulls in cryptography, needed only by mobile calls

    cfg = settings()
    try:
        header = jwt.get_unverified_header(token)
        key = _signing_key(header.get("kid"))
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=["ES256", "RS256"],
            audience=cfg.mobile_jwt_audience,
            issuer=cfg.mobile_jwt_issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        raise unauthenticated("The token is not valid") from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise unauthenticated("The token names no holder")
    return sub


def _signing_key(kid: object) -> Any:
    import jwt

    try:
        keyset = jwt.PyJWKSet.from_dict(deps().secrets.mobile_jwks())
    except (jwt.PyJWTError, NotFound) as exc:
        raise unauthenticated("No issuer keys are configured") from exc
    for jwk in keyset.keys:
        if kid is None or jwk.key_id == kid:
            return jwk.key
    raise jwt.InvalidTokenError("Unknown key id")
