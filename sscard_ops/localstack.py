"""The whole service on one machine, on loopback, with no AWS account.

- moto's server (behind a lock, motoserver.py) stands in for DynamoDB, SQS and
  Secrets Manager; AWS_ENDPOINT_URL and fake credentials point every AWS client
  of this process at it.
- Tables come from the PynamoDB models (storage/models.py); queues from the
  app's `@app.on_sqs_message` handlers, each with a `<queue>-dlq` dead-letter
  queue and a redrive policy.
- Secrets (hashing key, mobile JWKS) and seed data go in, and the seeded
  credentials are written to <state dir>/seed.json.
- Chalice's local server (local_http.py) serves the API; the poller
  (poller.py) feeds the queues to the same handlers Lambda would call.

Everything lives in moto's memory: each start is a fresh world.

chalicelib is imported only after the environment is set: the models read the
table prefix and region when they are first imported.
"""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sscard_ops import devjwt
from sscard_ops.motoserver import MotoProcess

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
DEFAULT_API_PORT = 8000
DEFAULT_MOTO_PORT = 5001
DEFAULT_ENDPOINT = f"http://{LOOPBACK}:{DEFAULT_MOTO_PORT}"
DEFAULT_API_URL = f"http://{LOOPBACK}:{DEFAULT_API_PORT}"
REGION = "cn-north-1"
STAGE = "local"
MAX_RECEIVE_COUNT = 5
POLLER_WORKERS = 8  # batches handled at once, as an event source mapping runs several
SEED_FILE = "seed.json"
ISSUER_KEY_FILE = "dev-issuer.pem"


def project_dir() -> Path:
    """The Chalice project: the working directory if it is one, else this checkout."""
    cwd = Path.cwd()
    if (cwd / ".chalice" / "config.json").exists():
        return cwd
    return Path(__file__).resolve().parent.parent


def state_dir(project: Path | None = None) -> Path:
    """Where the local stack keeps its dev issuer key and seeded credentials (gitignored)."""
    configured = os.environ.get("SSCARD_LOCAL_DIR")
    return Path(configured) if configured else (project or project_dir()) / ".local"


def chalice_config(project: Path, stage: str = STAGE) -> Any:
    """The stage's Chalice config, built as `chalice local` builds it (environ is os.environ)."""
    from chalice.cli.factory import CLIFactory

    return CLIFactory(str(project), environ=os.environ).create_config_obj(chalice_stage_name=stage)


def aws_environment(endpoint: str) -> dict[str, str]:
    """Every AWS client of this process (botocore, PynamoDB) goes to `endpoint` with fake credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def use_endpoint(endpoint: str, project: Path, stage: str = STAGE) -> dict[str, str]:
    """Point this process at `endpoint` with the stage's settings. Call before importing chalicelib."""
    stage_env = {k: str(v) for k, v in chalice_config(project, stage).environment_variables.items()}
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(stage_env)
    os.environ.update(aws_environment(endpoint))
    return stage_env


def dlq_name(queue: str) -> str:
    if queue.endswith(".fifo"):
        return queue.removesuffix(".fifo") + "-dlq.fifo"
    return f"{queue}-dlq"


def create_queues(
    sqs: Any,
    queues: list[str],
    *,
    max_receive_count: int = MAX_RECEIVE_COUNT,
    visibility_timeout: int = 30,
) -> dict[str, str]:
    """Create each queue with its dead-letter queue and redrive policy; returns name -> URL."""
    urls: dict[str, str] = {}
    for queue in dict.fromkeys(queues):  # one queue even if two handlers read it
        fifo = {"FifoQueue": "true"} if queue.endswith(".fifo") else {}
        dlq_url = sqs.create_queue(QueueName=dlq_name(queue), Attributes=fifo)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
        attributes = {
            **fifo,
            "RedrivePolicy": json.dumps(redrive),
            "VisibilityTimeout": str(visibility_timeout),
        }
        urls[queue] = sqs.create_queue(QueueName=queue, Attributes=attributes)["QueueUrl"]
    return urls


@dataclass
class StackInfo:
    api_url: str
    aws_endpoint: str
    state_dir: Path
    queues: dict[str, str]  # queue name -> handler name
    seed: dict[str, Any] = field(default_factory=dict)

    @property
    def seed_file(self) -> Path:
        return self.state_dir / SEED_FILE


def shell_variables(api_url: str, seed: dict[str, Any]) -> dict[str, str]:
    """The walk-through's shell variables, from the seeded world."""
    tokens, holders = seed["tokens"], seed["holders"]
    env = {
        "API": api_url,
        "BANK": seed["bank_code"],
        "SC_TOKEN": tokens["service_center"],
        "HOSPITAL_TOKEN": tokens["hospital"],
        "PHARMACY_TOKEN": tokens["pharmacy"],
        "COLLECTION_TOKEN": tokens["collection"],
    }
    for role, holder in holders.items():
        prefix = role.upper()
        env[f"{prefix}_ID"] = holder["person_id"]
        env[f"{prefix}_SSN"] = holder["ssn"]
        env[f"{prefix}_CARD"] = holder["card_no"]
        if holder.get("old_card_no"):
            env[f"{prefix}_OLD_CARD"] = holder["old_card_no"]
    return env


class PortInUse(RuntimeError):
    def __init__(self, what: str, port: int) -> None:
        super().__init__(f"{what} port {port} is in use")
        self.what = what
        self.port = port


def _binding(what: str, port: int, bind: Callable[[], T]) -> T:
    try:
        return bind()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(what, port) from exc
        raise


class LocalStack:
    """Start with start(), stop with stop(). Runs in this process, in background threads."""

    def __init__(
        self,
        *,
        api_port: int = DEFAULT_API_PORT,
        moto_port: int = DEFAULT_MOTO_PORT,
        project: Path | None = None,
        local_dir: Path | None = None,
        stage: str = STAGE,
        visibility_timeout: int = 30,
    ) -> None:
        self.project = project or project_dir()
        self.local_dir = local_dir or state_dir(self.project)
        self.stage = stage
        self._api_port = api_port
        self._moto_port = moto_port
        self._visibility_timeout = visibility_timeout
        self._moto: MotoProcess | None = None
        self._http: Any = None
        self._http_thread: threading.Thread | None = None
        self._poller: Any = None

    def start(self) -> StackInfo:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> StackInfo:
        # moto logs every request it serves; the API's own access log is enough.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto in a process of its own (motoserver.py), booting while this one imports the app.
        self._moto = _binding("moto", self._moto_port, MotoProcess(LOOPBACK, self._moto_port).launch)
        endpoint = self._moto.endpoint
        use_endpoint(endpoint, self.project, self.stage)
        config = chalice_config(self.project, self.stage)

        import boto3

        from chalicelib.storage.contributions import DynamoContributionStore
        from chalicelib.storage.dynamo import DynamoCardStore
        from chalicelib.storage.models import create_tables
        from chalicelib.storage.secrets import HASHING_KEY, MOBILE_JWKS, SecretsManagerSource
        from sscard_ops import seed as seeding
        from sscard_ops.local_http import bound_port, create_server, mark_ready
        from sscard_ops.poller import QueuePoller, sqs_bindings

        app = config.chalice_app  # imports app.py, as `chalice local` does
        # Bind the API port now, so a port in use fails before any work is done, and answer
        # 503 at once until seeded (an early caller neither hangs nor gets half a world).
        self._http = _binding(
            "API", self._api_port, lambda: create_server(app, config, LOOPBACK, self._api_port, ready=False)
        )
        api_url = f"http://{LOOPBACK}:{bound_port(self._http)}"
        self._http_thread = threading.Thread(
            target=self._http.server.serve_forever, name="chalice-local", daemon=True
        )
        self._http_thread.start()

        self._moto.start()  # waits until moto's process serves
        create_tables()
        bindings = sqs_bindings(app)
        sqs = boto3.client("sqs")
        create_queues(sqs, [b.queue for b in bindings], visibility_timeout=self._visibility_timeout)

        secrets = SecretsManagerSource(os.environ["SECRETS_PREFIX"])
        hashing_key = seeding.new_hashing_key()
        secrets.put(HASHING_KEY, hashing_key)
        issuer_pem = devjwt.load_or_create(self.local_dir / ISSUER_KEY_FILE)
        secrets.put(MOBILE_JWKS, json.dumps(devjwt.jwks_for(issuer_pem)))
        seeded = seeding.seed(DynamoCardStore(), secrets, base64.b64decode(hashing_key), datetime.now(UTC))
        seeding.seed_contributions(DynamoContributionStore(), seeded, datetime.now(UTC))

        self._poller = QueuePoller(sqs, bindings, region=REGION, workers=POLLER_WORKERS).start()

        seed = json.loads(seeded.to_json())
        info = StackInfo(api_url, endpoint, self.local_dir, {b.queue: b.name for b in bindings}, seed)
        self._write_seed(info)
        mark_ready(self._http)
        return info

    def _write_seed(self, info: StackInfo) -> None:
        document = {
            "api_url": info.api_url,
            "aws_endpoint": info.aws_endpoint,
            "stage": self.stage,
            "queues": info.queues,
            **info.seed,
            "env": shell_variables(info.api_url, info.seed),
        }
        self.local_dir.mkdir(parents=True, exist_ok=True)
        partial = info.seed_file.with_suffix(".tmp")
        partial.write_text(json.dumps(document, indent=2) + "\n")
        partial.chmod(0o600)
        partial.replace(info.seed_file)  # readers never see half a file

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        if self._http is not None:
            if self._http_thread is not None and self._http_thread.is_alive():
                self._http.server.shutdown()
            self._http.server.server_close()
            self._http = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
