"""Settings come from environment variables, set per stage in .chalice/config.json
(locally) and by the CDK stack (in AWS). tests/test_settings.py checks both name the same set."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

# Every variable the functions read. infra/ must provide exactly these.
ENVIRONMENT_VARIABLES = (
    "SSCARD_STAGE",
    "TABLE_PREFIX",
    "SECRETS_PREFIX",
    "MOBILE_JWT_ISSUER",
    "MOBILE_JWT_AUDIENCE",
    "LOG_LEVEL",
)


@dataclass(frozen=True)
class Settings:
    stage: str
    table_prefix: str
    secrets_prefix: str
    mobile_jwt_issuer: str
    mobile_jwt_audience: str
    log_level: str
    # Requests larger than this are refused before parsing (413).
    max_body_bytes: int = 64 * 1024


def load() -> Settings:
    env = os.environ
    stage = env.get("SSCARD_STAGE", "local")
    return Settings(
        stage=stage,
        table_prefix=env.get("TABLE_PREFIX", f"sscard-{stage}-"),
        secrets_prefix=env.get("SECRETS_PREFIX", f"sscard/{stage}/"),
        mobile_jwt_issuer=env.get("MOBILE_JWT_ISSUER", "https://auth.sscard.local/"),
        mobile_jwt_audience=env.get("MOBILE_JWT_AUDIENCE", "sscard-mobile"),
        log_level=env.get("LOG_LEVEL", "INFO"),
    )


@cache
def settings() -> Settings:
    return load()
