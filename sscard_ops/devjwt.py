"""A development issuer for mobile JWTs: the local stack trusts its public key."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KID = "sscard-dev-1"


def new_private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def jwks_for(private_pem: str, kid: str = KID) -> dict[str, Any]:
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))  # type: ignore[arg-type]
    public_jwk.update({"kid": kid, "use": "sig", "alg": "ES256"})
    return {"keys": [public_jwk]}


def mint(
    private_pem: str,
    person_id: str,
    *,
    issuer: str,
    audience: str,
    ttl_seconds: int = 3600,
    kid: str = KID,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": issuer,
        "aud": audience,
        "sub": person_id,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    payload.update(claims)
    return jwt.encode(payload, private_pem, algorithm="ES256", headers={"kid": kid})


def load_or_create(path: Path) -> str:
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = new_private_key_pem()
    path.write_text(pem)
    path.chmod(0o600)
    return pem
