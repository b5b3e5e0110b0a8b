"""The local stand-in must be atomic: 20 threads x 25 conditional decrements come out exact."""

from __future__ import annotations

import threading

import boto3
import pytest

from sscard_ops.motoserver import LockedMotoServer


@pytest.fixture(scope="module")
def endpoint():
    server = LockedMotoServer().start()
    yield server.endpoint
    server.stop()


def test_conditional_decrements_are_exact_under_concurrency(endpoint):
    db = boto3.client("dynamodb", endpoint_url=endpoint)
    db.create_table(
        TableName="counter",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    db.put_item(TableName="counter", Item={"k": {"S": "x"}, "n": {"N": "300"}})
    wins = []

    def worker() -> None:
        client = boto3.client("dynamodb", endpoint_url=endpoint)
        for _ in range(25):
            try:
                client.update_item(
                    TableName="counter",
                    Key={"k": {"S": "x"}},
                    UpdateExpression="SET n = n - :one",
                    ConditionExpression="n >= :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
                wins.append(1)
            except client.exceptions.ConditionalCheckFailedException:
                pass

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    left = int(db.get_item(TableName="counter", Key={"k": {"S": "x"}})["Item"]["n"]["N"])
    assert left == 0  # never below zero
    assert len(wins) == 300  # and every successful decrement counted


def test_the_locked_server_journals_its_transactions(endpoint):
    """Started, the server's transactions keep the touched items, not a copy of each table,
    and it parses each expression once (moto_speedups.py)."""
    from sscard_ops import moto_journal, moto_speedups

    assert moto_journal.installed()
    assert moto_speedups.installed()


def _call(connection, target: str, body: bytes = b"{}", headers: dict[str, str] | None = None):
    connection.request(
        "POST",
        "/",
        body,
        {
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=k/20261201/cn-north-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
            **(headers or {}),
        },
    )
    response = connection.getresponse()
    return response, response.read()


def test_a_connection_serves_request_after_request(endpoint):
    """werkzeug would close after each response; a client reuses its connection instead,
    also after a request whose body moto never reads, until it asks to close."""
    import http.client
    import json
    from urllib.parse import urlsplit

    url = urlsplit(endpoint)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    first, body = _call(connection, "ListTables")
    assert first.status == 200 and "TableNames" in json.loads(body)
    sock = connection.sock
    assert sock is not None  # still open after the response
    connection.request("POST", "/moto-api/no-such-thing", b"x" * 50_000, {"Content-Type": "text/plain"})
    unread = connection.getresponse()
    unread.read()
    assert unread.status == 404
    again, body = _call(connection, "ListTables")
    assert again.status == 200 and "TableNames" in json.loads(body)
    assert connection.sock is sock  # the same connection all along
    last, _ = _call(connection, "ListTables", headers={"Connection": "close"})
    assert last.status == 200 and last.getheader("Connection") == "close"
    assert connection.sock is None  # closed, as asked
    connection.close()
