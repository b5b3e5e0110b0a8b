"""What each function may touch. Every function gets its own IAM role with exactly this.

- The HTTP function (Chalice's `api_handler`) serves every endpoint of API.md, so it
  reads and writes every table, sends to every queue a worker consumes (contributions
  arrive over HTTP and are queued), and reads the three kinds of secret.
- A queue worker consumes its own queue and nothing else, and touches the tables
  declared for it in WORKER_TABLES (logical table names, models.table_name() without
  the prefix) and the secrets in WORKER_SECRETS. A worker missing from WORKER_TABLES
  gets every table and tests/infra fails until it is declared here: least privilege
  is a decision someone makes, not a default.
- No role may Scan (a national-scale table is read by key or index only) or manage
  tables; no statement has a `*` action or resource on data.
"""

from __future__ import annotations

from dataclasses import dataclass

API_HANDLER = "api_handler"
API_FUNCTION_ID = "APIHandler"

# Secret names under SECRETS_PREFIX (chalicelib/storage/secrets.py). A trailing "*"
# is a family of secrets (one per bank).
HASHING_KEY_SECRET = "token-hashing-key"
BANK_SECRETS = "banks/*"
MOBILE_JWKS_SECRET = "mobile-jwks"
API_SECRETS = (HASHING_KEY_SECRET, BANK_SECRETS, MOBILE_JWKS_SECRET)

# Queue worker (Chalice handler name) -> the logical names of the tables it uses.
WORKER_TABLES: dict[str, tuple[str, ...]] = {
    # chalicelib/workers/contributions.py -> storage/contributions.py: holder by SSN
    # digest, then one transaction over posting, month, fund book shard and account;
    # a message that can never post is recorded as a rejection.
    "post_contributions": (
        "ssn-index",
        "holders",
        "contribution-postings",
        "contribution-months",
        "fund-books",
        "accounts",
        "contribution-rejections",
    ),
}
# Queue worker -> the secrets it reads. Undeclared: the hashing key only (a
# contribution names its holder by SSN, which is looked up by keyed digest).
WORKER_SECRETS: dict[str, tuple[str, ...]] = {}
DEFAULT_WORKER_SECRETS = (HASHING_KEY_SECRET,)

TABLE_READ_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
)
TABLE_WRITE_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)
SEND_ACTIONS = ("sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes")
CONSUME_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
)
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


@dataclass(frozen=True)
class Access:
    tables: tuple[str, ...]  # logical table names
    send_to: tuple[str, ...]  # queue names
    consume: tuple[str, ...]  # queue names
    secrets: tuple[str, ...]  # names under SECRETS_PREFIX


# Scans in chalicelib that are for operators only (the sscard command, with operator
# credentials): no function's role may Scan, so a new Scan on a request or queue path
# would work locally and fail in AWS. tests/infra lists every `<Model>.scan(` call and
# fails on one not named here ("module:Class.function").
OPERATOR_ONLY_SCANS = frozenset(
    {
        "chalicelib.storage.contributions:DynamoContributionStore.rejections",
        "chalicelib.storage.contributions:DynamoContributionStore.book_totals",
        "chalicelib.storage.contributions:DynamoContributionStore.postings_by_book",
    }
)


def api_access(all_tables: list[str], worker_queues: list[str]) -> Access:
    return Access(
        tables=tuple(all_tables),
        send_to=tuple(worker_queues),
        consume=(),
        secrets=API_SECRETS,
    )


def worker_access(handler: str, queue: str, all_tables: list[str]) -> Access:
    tables = WORKER_TABLES.get(handler)
    unknown = set(tables or ()) - set(all_tables)
    if unknown:
        raise ValueError(f"WORKER_TABLES[{handler!r}] names tables no model declares: {sorted(unknown)}")
    return Access(
        tables=tuple(all_tables if tables is None else tables),
        send_to=(),
        consume=(queue,),
        secrets=WORKER_SECRETS.get(handler, DEFAULT_WORKER_SECRETS),
    )


def undeclared_workers(handlers: list[str]) -> list[str]:
    return sorted(set(handlers) - set(WORKER_TABLES))
