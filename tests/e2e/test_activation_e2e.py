"""Activation through every channel, over HTTP, against the real local stack (moto, chalice local)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.provision import random_ssn

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"


def post(stack, path: str, body: Any, headers: dict[str, str]) -> requests.Response:
    return requests.post(stack.url(path), json=body, headers=headers, timeout=10)


def actions(history: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [e for e in history if e["action"] == action]


# --- an independent Standard Webhooks signer (not the library the service verifies with) ---


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def webhook(secret: str, card_no: str, ssn: str) -> tuple[bytes, dict[str, str]]:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time())
    body = json.dumps(
        {
            "type": "card.counter_activated",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"card_no": card_no, "ssn": ssn, "outlet_id": "OUTLET-E2E"},
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }
    return body, headers


# --- the channels ---------------------------------------------------------------------------


def test_health_and_openapi(stack):
    assert requests.get(stack.url("/health"), timeout=5).json() == {"status": "ok"}
    document = requests.get(stack.url("/openapi.json"), timeout=5).json()
    assert "/v1/cards/{card_no}/activate" in document["paths"]


def test_service_center_activates_with_the_holders_ssn(stack):
    alice, bob = stack.seed["holders"]["alice"], stack.seed["holders"]["bob"]
    path = f"/v1/cards/{alice['card_no']}/activate"
    refused = post(stack, path, {"ssn": bob["ssn"]}, stack.auth("service_center"))
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "urn:sscard:problem:ssn-mismatch"

    first = post(stack, path, {"ssn": alice["ssn"]}, stack.auth("service_center"))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "card_no": alice["card_no"],
        "state": "active",
        "card_activated": True,
        "financial_active": False,
    }
    again = post(stack, path, {"ssn": alice["ssn"]}, stack.auth("service_center"))
    assert again.status_code == 200 and again.json()["card_activated"] is False
    history = stack.my_card(alice["person_id"])["history"]
    [activation] = actions(history, "activate")
    assert activation["channel"] == "service_center"
    assert activation["institution_id"] == stack.seed["institutions"]["service_center"]


def test_first_hospital_registration_activates_the_card(stack):
    bob = stack.seed["holders"]["bob"]
    body = {"card_no": bob["card_no"], "visit": "outpatient"}
    first = post(stack, "/v1/registrations", body, stack.auth("hospital"))
    assert first.status_code == 201, first.text
    assert first.json()["card_activated"] is True
    second = post(stack, "/v1/registrations", {**body, "visit": "inpatient"}, stack.auth("hospital"))
    assert second.status_code == 201 and second.json()["card_activated"] is False
    [activation] = actions(stack.my_card(bob["person_id"])["history"], "activate")
    assert activation["channel"] == "hospital"


def test_a_pharmacy_may_not_register_a_visit(stack):
    bob = stack.seed["holders"]["bob"]
    r = post(
        stack, "/v1/registrations", {"card_no": bob["card_no"], "visit": "outpatient"}, stack.auth("pharmacy")
    )
    assert r.status_code == 403
    assert r.headers["content-type"] == PROBLEM


def test_bank_webhook_tampered_refused_then_applied_once(stack):
    dan = stack.seed["holders"]["dan"]
    secret = stack.seed["bank_secret"]
    url = stack.url(f"/v1/webhooks/banks/{stack.seed['bank_code']}")

    body, headers = webhook(secret, dan["card_no"], dan["ssn"])
    tampered = body.replace(b"OUTLET-E2E", b"OUTLET-EVIL")
    r = requests.post(url, data=tampered, headers=headers, timeout=10)
    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM
    mine = stack.my_card(dan["person_id"])
    assert mine["card"]["state"] == "issued"
    assert actions(mine["history"], "activate") == []

    r = requests.post(url, data=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "activated" and r.json()["duplicate"] is False
    replay = requests.post(url, data=body, headers=headers, timeout=10)
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True and replay.json()["outcome"] == "activated"

    mine = stack.my_card(dan["person_id"])
    assert mine["card"]["state"] == "active"
    assert mine["card"]["financial_active"] is True  # the bank counter switches the bank card on
    [activation] = actions(mine["history"], "activate")
    assert activation["channel"] == "bank_counter"


def test_report_loss_from_the_mobile_app(stack):
    [fresh] = stack.provision(1)
    activated = post(
        stack, f"/v1/cards/{fresh['card_no']}/activate", {"ssn": fresh["ssn"]}, stack.auth("service_center")
    )
    assert activated.status_code == 200
    holder = stack.holder_auth(fresh["person_id"])

    # Another holder's token cannot touch this card; a token for the wrong audience is refused.
    other = stack.holder_auth(stack.seed["holders"]["alice"]["person_id"])
    r = post(stack, "/v1/me/card/report-loss", {"card_no": fresh["card_no"]}, other)
    assert r.status_code == 404
    wrong = {"Authorization": f"Bearer {stack.jwt(fresh['person_id'], aud='someone-else')}"}
    assert post(stack, "/v1/me/card/report-loss", {}, wrong).status_code == 401

    r = post(stack, "/v1/me/card/report-loss", {}, holder)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "suspended"
    mine = stack.my_card(fresh["person_id"])
    assert mine["card"]["state"] == "suspended"
    [loss] = actions(mine["history"], "report_loss")
    assert loss["channel"] == "mobile"
    registration = post(
        stack,
        "/v1/registrations",
        {"card_no": fresh["card_no"], "visit": "outpatient"},
        stack.auth("hospital"),
    )
    assert registration.status_code == 409
    assert registration.json()["type"] == "urn:sscard:problem:card-suspended"

    # A service center resumes it only for the holder: the SSN from the ID document must match.
    resume = f"/v1/cards/{fresh['card_no']}/resume"
    alice_ssn = stack.seed["holders"]["alice"]["ssn"]
    wrong = post(stack, resume, {"ssn": alice_ssn}, stack.auth("service_center"))
    assert wrong.status_code == 422 and wrong.json()["type"] == "urn:sscard:problem:ssn-mismatch"
    resumed = post(stack, resume, {"ssn": fresh["ssn"]}, stack.auth("service_center"))
    assert resumed.status_code == 200 and resumed.json()["state"] == "active", resumed.text
    [back] = actions(stack.my_card(fresh["person_id"])["history"], "resume")
    assert back["channel"] == "service_center" and back["detail"] == "identity checked: ssn"


# --- what the gateway answers itself ---------------------------------------------------------


def test_unknown_route_is_a_404_problem(stack):
    for method, headers in (("GET", {}), ("POST", {"Authorization": "Bearer sst_whatever"})):
        r = requests.request(method, stack.url("/v1/no-such-thing"), headers=headers, timeout=5)
        assert r.status_code == 404
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["type"] == "urn:sscard:problem:not-found"


def raw_request(stack, head: str) -> tuple[int, dict[str, str], bytes]:
    host, port = stack.api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = dict(line.decode().split(": ", 1) for line in header_block.split(b"\r\n") if line)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        ("Content-Length: abc", 400),
        ("Content-Length: -1", 400),
        ("Content-Length: 10\r\nContent-Length: 20", 400),
        ("Content-Length: 99999999999999", 413),
        ("Transfer-Encoding: chunked", 411),
    ],
)
def test_bad_body_framing_is_a_problem_not_a_crash(stack, framing, status):
    code, headers, body = raw_request(
        stack,
        f"POST /v1/registrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n",
    )
    assert code == status
    assert headers["content-type"] == PROBLEM
    assert json.loads(body)["status"] == status
    assert requests.get(stack.url("/health"), timeout=5).status_code == 200


# --- concurrency ----------------------------------------------------------------------------


def test_simultaneous_activation_by_two_channels_records_one_activation(stack):
    """A service center and a hospital activate the same card at the same moment, on several cards."""
    cards = stack.provision(6)
    for fresh in cards:
        barrier = threading.Barrier(2)
        answers: dict[str, requests.Response] = {}

        def service_center(fresh=fresh, barrier=barrier, answers=answers) -> None:
            barrier.wait()
            answers["center"] = post(
                stack,
                f"/v1/cards/{fresh['card_no']}/activate",
                {"ssn": fresh["ssn"]},
                stack.auth("service_center"),
            )

        def hospital(fresh=fresh, barrier=barrier, answers=answers) -> None:
            barrier.wait()
            answers["hospital"] = post(
                stack,
                "/v1/registrations",
                {"card_no": fresh["card_no"], "visit": "outpatient"},
                stack.auth("hospital"),
            )

        threads = [threading.Thread(target=service_center), threading.Thread(target=hospital)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert answers["center"].status_code == 200, answers["center"].text
        assert answers["hospital"].status_code == 201, answers["hospital"].text
        winners = [a.json()["card_activated"] for a in answers.values()]
        assert sorted(winners) == [False, True]
        mine = stack.my_card(fresh["person_id"])
        assert mine["card"]["state"] == "active"
        assert len(actions(mine["history"], "activate")) == 1


# --- the ops command line against the running stack ----------------------------------------------


def test_cli_issues_and_shows_a_card_and_sends_a_webhook(stack):
    ssn = random_ssn()
    enrolled = stack.cli(
        "holders", "enroll", "--ssn", ssn, "--name", "Cli Holder", "--participation", "employee"
    )
    assert enrolled.returncode == 0, enrolled.stderr
    person_id = enrolled.stdout.strip()
    issued = stack.cli("cards", "issue", person_id, "--bank", stack.seed["bank_code"])
    assert issued.returncode == 0, issued.stderr
    card_no = issued.stdout.strip()

    sent = stack.cli("webhook", "send", card_no, ssn, "--bank", stack.seed["bank_code"])
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["outcome"] == "activated"

    shown = stack.cli("cards", "show", card_no)
    assert shown.returncode == 0, shown.stderr
    assert "bank_counter" in shown.stdout and "active" in shown.stdout
    token = stack.cli("dev-token", person_id).stdout.strip()
    r = requests.get(stack.url("/v1/me/card"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200 and r.json()["card"]["card_no"] == card_no
