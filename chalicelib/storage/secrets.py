"""Secrets Manager as the secret store, read lazily and cached for a few minutes.

Names, under the stage's prefix (SECRETS_PREFIX):
  token-hashing-key   key of the keyed digests of institution tokens and SSNs
  banks/<bank code>   JSON {"secrets": ["whsec_...", ...]}: several during a rotation
  mobile-jwks         JSON Web Key Set of the mobile app issuer's public keys

A name the store does not have (a webhook to an unknown bank code) is remembered as
absent for ABSENT_SECONDS, in a cache of its own: a caller sending random codes costs
one call per new code and can only push other absent names out, never a real secret.
A bank added meanwhile is found once its absence expires (`put` in this process forgets
it at once).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from chalicelib.domain.errors import NotFound, StorageBusy
from chalicelib.services.ttl_cache import TtlCache

CACHE_SECONDS = 300
ABSENT_SECONDS = 60
MAX_SECRETS = 1_000
MAX_ABSENT = 1_000
HASHING_KEY = "token-hashing-key"
MOBILE_JWKS = "mobile-jwks"


def bank_secret_name(bank_code: str) -> str:
    return f"banks/{bank_code}"


class SecretsManagerSource:
    def __init__(
        self, prefix: str, cache_seconds: float = CACHE_SECONDS, absent_seconds: float = ABSENT_SECONDS
    ) -> None:
        self._prefix = prefix
        self._cache: TtlCache[str, str] = TtlCache(cache_seconds, max_entries=MAX_SECRETS)
        self._absent: TtlCache[str, bool] = TtlCache(absent_seconds, max_entries=MAX_ABSENT)
        self._client: Any = None

    def _secrets_client(self) -> Any:
        if self._client is None:
            import boto3  # lazy: only requests that need a secret pay for it

            self._client = boto3.client("secretsmanager")
        return self._client

    def _read(self, name: str) -> str:
        if self._absent.get(name):
            raise NotFound(f"No secret {name}")
        try:
            return self._cache.lookup(name, lambda: self._fetch(name))
        except NotFound:
            self._absent.put(name, True)
            raise

    def _fetch(self, name: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value = self._secrets_client().get_secret_value(SecretId=self._prefix + name)["SecretString"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise NotFound(f"No secret {name}") from exc
            raise StorageBusy("The secret store did not answer") from exc
        except BotoCoreError as exc:
            raise StorageBusy("The secret store did not answer") from exc
        return str(value)

    def hashing_key(self) -> bytes:
        return base64.b64decode(self._read(HASHING_KEY))

    def bank_secrets(self, bank_code: str) -> list[str]:
        try:
            raw = self._read(bank_secret_name(bank_code))
        except NotFound:
            return []
        secrets = json.loads(raw).get("secrets", [])
        return [s for s in secrets if isinstance(s, str)]

    def mobile_jwks(self) -> dict[str, Any]:
        value = json.loads(self._read(MOBILE_JWKS))
        return value if isinstance(value, dict) else {}

    # Operator writes (CLI, seed). Values are never logged.
    def put(self, name: str, value: str) -> None:
        client = self._secrets_client()
        from botocore.exceptions import ClientError

        try:
            client.create_secret(Name=self._prefix + name, SecretString=value)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise
            client.put_secret_value(SecretId=self._prefix + name, SecretString=value)
        self._cache.pop(name)
        self._absent.pop(name)
