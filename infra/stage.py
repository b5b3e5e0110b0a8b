"""The Chalice stage configuration, read from .chalice/config.json.

The deployed functions' environment is the stage's `environment_variables` there
(merged as Chalice merges them) and nothing else: the stack adds no variable, so
what runs in AWS reads exactly what chalicelib.settings.ENVIRONMENT_VARIABLES names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / ".chalice" / "config.json"

# The stage that is a real AWS deployment. Others (a staging account, say) get the
# same resources without deletion protection or retention.
PRODUCTION_STAGE = "prod"
# Stages that only ever run on the local stand-in and cannot be deployed.
LOCAL_ONLY_STAGES = frozenset({"local"})


def chalice_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(CONFIG_FILE.read_text(encoding="utf-8"))
    return config


def deployable_stages() -> list[str]:
    return sorted(set(chalice_config().get("stages", {})) - LOCAL_ONLY_STAGES)


def stage_config(stage: str) -> dict[str, Any]:
    stages: dict[str, Any] = chalice_config().get("stages", {})
    if stage not in stages:
        raise SystemExit(f"No stage {stage!r} in {CONFIG_FILE}: known stages are {sorted(stages)}")
    config: dict[str, Any] = stages[stage]
    return config


def stage_environment(stage: str) -> dict[str, str]:
    """The environment Chalice gives every function of the stage: top level, then the stage."""
    env: dict[str, str] = dict(chalice_config().get("environment_variables", {}))
    env.update(stage_config(stage).get("environment_variables", {}))
    return {key: str(value) for key, value in env.items()}


def apply_stage_environment(stage: str) -> dict[str, str]:
    """Point this process at the stage before chalicelib is imported.

    PynamoDB reads table names when the models load and the Chalice app names its
    queues when app.py loads, so both must see the stage's values, as in Lambda.
    """
    env = stage_environment(stage)
    os.environ.update(env)
    return env


def is_production(stage: str) -> bool:
    return stage == PRODUCTION_STAGE
