"""What each function may touch. Every function gets its own IAM role with exactly this.

- DynamoDB: the actions each function's code performs, per table, declared in
  FUNCTION_TABLE_ACTIONS and checked against a recording of every use case
  (tests/infra/test_dynamo_actions.py). A function missing from it cannot be
  synthesized: least privilege is a decision someone makes, not a default.
- The audit trail (APPEND_ONLY_TABLES) only grows: no declaration may name an update
  or delete on it, and every role denies them explicitly.
- The HTTP function (Chalice's `api_handler`) sends to every queue a worker consumes
  (contributions arrive over HTTP and are queued) and reads the three kinds of secret.
  A queue worker consumes its own queue and nothing else, and reads the secrets in
  WORKER_SECRETS.
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

# Function (Chalice handler name) -> logical table (models.table_name() without the
# prefix) -> the DynamoDB actions (IAM names without "dynamodb:") its code performs
# there, and its role grants exactly these. A transaction is authorised per contained
# action: TransactWriteItems as PutItem, UpdateItem, DeleteItem or ConditionCheckItem on
# each table in it, TransactGetItems as GetItem. tests/infra/test_dynamo_actions.py
# drives every use case with a botocore hook and fails unless this is what they call.
# Operator-only writes (enrolment, issue, institutions: the sscard command) are not here.
FUNCTION_TABLE_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    API_HANDLER: {
        "cards": ("GetItem", "PutItem", "ConditionCheckItem"),
        "card-events": ("Query", "PutItem"),
        "holders": ("GetItem",),
        "accounts": ("GetItem", "PutItem", "UpdateItem"),
        "institutions": ("GetItem",),
        "credentials": ("GetItem",),
        "webhook-receipts": ("GetItem", "PutItem"),
        "registrations": ("GetItem", "PutItem", "UpdateItem"),
        "idempotency": ("GetItem", "PutItem"),
        # A payment is written once; its cancellation is an item of its own, read with it
        # (by key, and a holder's page of them in one BatchGetItem).
        "payments": ("GetItem", "Query", "PutItem"),
        "payment-cancellations": ("GetItem", "BatchGetItem", "PutItem"),
        "contribution-months": ("Query",),
        # Settlement: the holder's year counters and paid months, the medical book's outflows,
        # the business day's entries, and inpatient stays' charges.
        "year-counters": ("GetItem", "UpdateItem"),
        "paid-months": ("GetItem",),
        "fund-books": ("UpdateItem",),
        "day-entries": ("PutItem", "Query"),
        "stay-charges": ("GetItem", "PutItem", "UpdateItem", "Query"),
        "contribution-postings": ("GetItem",),
        "contribution-rejections": ("GetItem",),
    },
    # chalicelib/workers/contributions.py -> storage/contributions.py: holders by SSN
    # digest, then one transaction over posting, month, fund book shard and account;
    # a message that can never post is recorded as a rejection.
    "post_contributions": {
        "ssn-index": ("BatchGetItem",),
        "holders": ("BatchGetItem",),
        "contribution-postings": ("PutItem", "GetItem"),
        "contribution-months": ("UpdateItem",),
        "paid-months": ("UpdateItem",),
        "fund-books": ("UpdateItem",),
        "accounts": ("UpdateItem",),
        "contribution-rejections": ("UpdateItem",),
    },
}

# The audit trail: no function may change or remove an item of these, only add one
# (conditional on its key not existing). Every role also denies these actions on them.
APPEND_ONLY_TABLES = frozenset({"card-events", "payments", "payment-cancellations", "contribution-postings"})
APPEND_ONLY_FORBIDDEN = frozenset({"UpdateItem", "DeleteItem", "BatchWriteItem"})
# What the explicit Deny names: the forbidden actions and their PartiQL forms.
APPEND_ONLY_DENIED = (*sorted(APPEND_ONLY_FORBIDDEN), "PartiQLUpdate", "PartiQLDelete")
# The actions a declaration may name. Scan is not one (see OPERATOR_ONLY_SCANS), nor
# anything that manages tables.
TABLE_ACTIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "ConditionCheckItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
    }
)
TABLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
# The customer-managed keys (infra/stack.py): what reading, writing, sending to and
# receiving from an encrypted table or queue needs, as CDK's own grants name it.
KEY_READ_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KEY_WRITE_ACTIONS = (*KEY_READ_ACTIONS, "kms:Encrypt", "kms:GenerateDataKey")
KEY_SEND_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# Query on these tables' indexes needs the index ARNs as well.
INDEX_ACTIONS = frozenset({"Query"})

# Queue worker -> the secrets it reads. Undeclared: the hashing key only (a
# contribution names its holder by SSN, which is looked up by keyed digest).
WORKER_SECRETS: dict[str, tuple[str, ...]] = {}
DEFAULT_WORKER_SECRETS = (HASHING_KEY_SECRET,)

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
    tables: dict[str, tuple[str, ...]]  # logical table name -> DynamoDB actions
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
        # `sscard ledger check` reads every record to prove money conservation.
        "chalicelib.storage.ledger:DynamoLedgerSource.payments",
        "chalicelib.storage.ledger:DynamoLedgerSource.postings",
        "chalicelib.storage.ledger:DynamoLedgerSource.book_totals",
        "chalicelib.storage.ledger:DynamoLedgerSource.balances",
        "chalicelib.storage.ledger:DynamoLedgerSource.entries",
    }
)


def table_actions(function: str, all_tables: list[str]) -> dict[str, tuple[str, ...]]:
    """The declared DynamoDB actions of one function, refused if they break a rule above."""
    declared = FUNCTION_TABLE_ACTIONS.get(function)
    if declared is None:
        raise ValueError(
            f"Declare the DynamoDB actions of {function} in infra/access.py FUNCTION_TABLE_ACTIONS"
        )
    unknown = set(declared) - set(all_tables)
    if unknown:
        raise ValueError(
            f"FUNCTION_TABLE_ACTIONS[{function!r}] names tables no model declares: {sorted(unknown)}"
        )
    for table, actions in declared.items():
        not_grantable = set(actions) - TABLE_ACTIONS
        if not_grantable:
            raise ValueError(f"{function} may not be granted {sorted(not_grantable)} on {table}")
        if table in APPEND_ONLY_TABLES and APPEND_ONLY_FORBIDDEN & set(actions):
            raise ValueError(
                f"{table} is append-only: {function} may not "
                f"{sorted(APPEND_ONLY_FORBIDDEN & set(actions))} it (record a new item instead)"
            )
    return {table: tuple(sorted(set(actions))) for table, actions in declared.items()}


def api_access(all_tables: list[str], worker_queues: list[str]) -> Access:
    return Access(
        tables=table_actions(API_HANDLER, all_tables),
        send_to=tuple(worker_queues),
        consume=(),
        secrets=API_SECRETS,
    )


def worker_access(handler: str, queue: str, all_tables: list[str]) -> Access:
    return Access(
        tables=table_actions(handler, all_tables),
        send_to=(),
        consume=(queue,),
        secrets=WORKER_SECRETS.get(handler, DEFAULT_WORKER_SECRETS),
    )


def undeclared_workers(handlers: list[str]) -> list[str]:
    return sorted(set(handlers) - set(FUNCTION_TABLE_ACTIONS))
