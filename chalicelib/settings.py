"""Settings come from environment variables, set per stage in .chalice/config.json
(locally) and by the CDK stack (in AWS). tests/test_project.py checks both name the same set."""

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
    "MOBILE_JWT_MAX_LIFETIME_SECONDS",
    "LOG_LEVEL",
    "CONTRIBUTIONS_QUEUE",
    "CONTRIBUTION_POLICY",
    "PAYMENT_MAX_AMOUNT_FEN",
    "SETTLEMENT_POLICY",
)
# Read when set, set by no stage (so not above): the local stack's tests shorten the
# institution-token cache (services/institution_cache.py) to see a revocation take effect.
INSTITUTION_CACHE_SECONDS = "INSTITUTION_CACHE_SECONDS"
DEFAULT_INSTITUTION_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Settings:
    stage: str
    table_prefix: str
    secrets_prefix: str
    mobile_jwt_issuer: str
    mobile_jwt_audience: str
    # A mobile JWT whose exp - iat exceeds this is refused: a stolen long-lived token is a
    # long-lived account takeover. Default 1 hour.
    mobile_jwt_max_lifetime_seconds: int
    log_level: str
    # The SQS queue of contribution messages (POST /v1/contributions sends, the worker reads).
    contributions_queue: str
    # JSON overrides of ContributionPolicy's defaults (retirement ages, personal-account shares,
    # late-payment grace; see chalicelib/domain/contribution_policy.py). Empty or {}: the defaults.
    contribution_policy: str
    # The largest card payment, in fen (domain/payments.py documents the default, 5,000,000).
    # Empty: the default.
    payment_max_amount_fen: str
    # JSON overrides of SettlementPolicy's defaults (deductibles, fund rates and caps, serious
    # illness; see chalicelib/domain/settlement.py and `sscard settlements policy`). {}: defaults.
    settlement_policy: str
    # How long a token -> institution lookup is reused: a revocation's longest delay.
    institution_cache_seconds: float = DEFAULT_INSTITUTION_CACHE_SECONDS
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
        mobile_jwt_max_lifetime_seconds=int(env.get("MOBILE_JWT_MAX_LIFETIME_SECONDS") or 3600),
        log_level=env.get("LOG_LEVEL", "INFO"),
        contributions_queue=env.get("CONTRIBUTIONS_QUEUE", f"sscard-{stage}-contributions"),
        contribution_policy=env.get("CONTRIBUTION_POLICY", "{}"),
        payment_max_amount_fen=env.get("PAYMENT_MAX_AMOUNT_FEN", ""),
        settlement_policy=env.get("SETTLEMENT_POLICY", "{}"),
        institution_cache_seconds=_seconds(
            env.get(INSTITUTION_CACHE_SECONDS), DEFAULT_INSTITUTION_CACHE_SECONDS
        ),
    )


def _seconds(raw: str | None, default: float) -> float:
    if raw is None or not raw.strip():
        return default
    value = float(raw)  # a malformed value stops the function at start, not a request later
    if not 0 <= value <= 3600:
        raise ValueError(f"{INSTITUTION_CACHE_SECONDS} must be 0 to 3600 seconds, not {raw!r}")
    return value


@cache
def settings() -> Settings:
    return load()
