"""Bank counter activation by Standard Webhook: verified, once, and only by the issuing bank."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

from chalicelib.domain.cards import CardState
from chalicelib.logs import redact


def independent_signature(secret: str, webhook_id: str, ts: int, body: bytes) -> str:
    """Signed by hand, per the Standard Webhooks spec, not by the library under test."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{webhook_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def counter_event(holder) -> dict:
    return {
        "type": "card.counter_activated",
        "timestamp": "2026-11-25T09:00:00Z",
        "data": {"card_no": holder.card_no, "ssn": holder.ssn, "outlet_id": "ICBC-BJ-0012"},
    }


def send(api, world, payload, webhook_id, *, bank="ICBC", secret=None, ts=None, tamper=False):
    body = json.dumps(payload).encode()
    ts = ts or int(datetime.now().timestamp())
    sig = independent_signature(secret or world.seeded.bank_secret, webhook_id, ts, body)
    if tamper:
        body = body.replace(b"ICBC-BJ-0012", b"ICBC-BJ-9999")
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(ts), "webhook-signature": sig}
    return api.request("POST", f"/v1/webhooks/banks/{bank}", raw=body, headers=headers)


def test_a_verified_webhook_activates_both_functions_once(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    r = send(api, fake_world, counter_event(alice), "msg_1")
    assert r.status == 200, r
    assert r.json == {"webhook_id": "msg_1", "outcome": "activated", "reason": None, "duplicate": False}
    card = fake_world.store.get_card(alice.card_no)
    assert card.state is CardState.ACTIVE and card.financial_active
    replay = send(api, fake_world, counter_event(alice), "msg_1")
    assert replay.status == 200 and replay.json["duplicate"] is True
    assert replay.json["outcome"] == "activated"
    events = fake_world.store.card_events(alice.card_no)
    assert [e.action.value for e in events] == ["issue", "activate"]
    assert events[-1].channel.value == "bank_counter" and events[-1].institution_id == "bank:ICBC"


def test_a_tampered_webhook_is_refused_and_changes_nothing(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    r = send(api, fake_world, counter_event(alice), "msg_2", tamper=True)
    assert r.status == 401
    assert r.json["type"] == "urn:sscard:problem:unauthenticated"
    assert fake_world.store.get_card(alice.card_no).state is CardState.ISSUED


def test_a_stale_timestamp_is_refused(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    old = int((datetime.now() - timedelta(minutes=10)).timestamp())
    assert send(api, fake_world, counter_event(alice), "msg_3", ts=old).status == 401
    assert fake_world.store.get_card(alice.card_no).state is CardState.ISSUED


def test_another_banks_secret_or_unknown_bank_is_refused(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert send(api, fake_world, counter_event(alice), "msg_4", secret=other).status == 401
    assert send(api, fake_world, counter_event(alice), "msg_5", bank="NOPE").status == 401


def test_only_the_issuing_bank_may_activate(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    secret = "whsec_" + base64.b64encode(b"b" * 32).decode()
    fake_world.store.add_bank(type(fake_world.store.get_bank("ICBC"))("BOC", "Bank of China"))
    fake_world.secrets.banks["BOC"] = [secret]
    r = send(api, fake_world, counter_event(alice), "msg_6", bank="BOC", secret=secret)
    assert r.status == 200  # verified: acknowledged, with the refusal
    assert r.json["outcome"] == "rejected" and r.json["reason"] == "not-issuing-bank"
    assert fake_world.store.get_card(alice.card_no).state is CardState.ISSUED


def test_a_wrong_ssn_is_rejected_again_on_redelivery_and_changes_nothing(api, fake_world):
    alice, bob = fake_world.seeded.holders["alice"], fake_world.seeded.holders["bob"]
    payload = counter_event(alice)
    payload["data"]["ssn"] = bob.ssn
    first = send(api, fake_world, payload, "msg_7")
    assert first.json["outcome"] == "rejected" and first.json["reason"] == "ssn-mismatch"
    again = send(api, fake_world, payload, "msg_7")  # evaluated again: still not the holder
    assert again.json == first.json
    assert fake_world.store.get_card(alice.card_no).state is CardState.ISSUED


def test_a_hospital_activated_card_gets_its_financial_function_at_the_bank(api, fake_world):
    bob = fake_world.seeded.holders["bob"]
    api.post(
        "/v1/registrations",
        {"card_no": bob.card_no, "visit": "outpatient"},
        headers=fake_world.auth("hospital"),
    )
    r = send(api, fake_world, counter_event(bob), "msg_8")
    assert r.json["outcome"] == "financial_activated"
    assert fake_world.store.get_card(bob.card_no).financial_active


def test_a_verified_but_malformed_event_is_acknowledged_as_rejected(api, fake_world):
    r = send(api, fake_world, {"type": "card.something_else"}, "msg_9")
    assert r.status == 200 and r.json["outcome"] == "rejected" and r.json["reason"] == "invalid-request"


def test_a_webhook_refused_while_the_card_was_suspended_applies_once_it_is_resumed(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    assert api.post("/v1/me/card/report-loss", headers=fake_world.auth("alice")).status == 200
    refused = send(api, fake_world, counter_event(alice), "msg_10")
    assert refused.status == 200 and refused.json["outcome"] == "rejected", refused
    assert refused.json["reason"] == "card-suspended"
    resumed = api.post(
        f"/v1/cards/{alice.card_no}/resume", {"ssn": alice.ssn}, headers=fake_world.auth("service_center")
    )
    assert resumed.status == 200, resumed
    redelivered = send(api, fake_world, counter_event(alice), "msg_10")
    assert redelivered.json == {
        "webhook_id": "msg_10",
        "outcome": "activated",
        "reason": None,
        "duplicate": False,
    }
    card = fake_world.store.get_card(alice.card_no)
    assert card.state is CardState.ACTIVE and card.financial_active
    final = send(api, fake_world, counter_event(alice), "msg_10")  # applied: final, changes nothing
    assert final.json["outcome"] == "activated" and final.json["duplicate"] is True
    activations = [e for e in fake_world.store.card_events(alice.card_no) if e.action.value == "activate"]
    assert len(activations) == 1


def test_a_webhook_for_a_card_not_issued_yet_applies_once_the_card_is_issued(api, fake_world):
    from chalicelib.domain.identifiers import luhn_check_digit
    from chalicelib.services import admin

    dan = fake_world.seeded.holders["dan"]
    future_no = "621700123456789012" + luhn_check_digit("621700123456789012")
    payload = counter_event(dan)
    payload["data"]["card_no"] = future_no
    refused = send(api, fake_world, payload, "msg_11")
    assert refused.json["outcome"] == "rejected" and refused.json["reason"] == "card-not-found", refused
    admin.issue_card(fake_world.store, dan.person_id, fake_world.now, bank_code="ICBC", card_no=future_no)
    redelivered = send(api, fake_world, payload, "msg_11")
    assert redelivered.json["outcome"] == "activated" and redelivered.json["duplicate"] is False, redelivered
    assert fake_world.store.get_card(future_no).state is CardState.ACTIVE


def test_two_redeliveries_at_once_after_a_refusal_apply_once(fake_world):
    """Both redeliveries read before either writes (a barrier in the read): one applies,
    the other finds its receipt on the retry."""
    import threading

    from chalicelib.services.bank_webhooks import handle_counter_activation
    from tests.fakes import FakeCardStore

    alice = fake_world.seeded.holders["alice"]
    store = fake_world.store
    payload = counter_event(alice)
    payload["data"]["ssn"] = fake_world.seeded.holders["bob"].ssn
    key = fake_world.secrets.hashing_key()
    assert (
        handle_counter_activation(store, key, "ICBC", "wh-r", payload, fake_world.now)[0].outcome
        == "rejected"
    )
    payload = counter_event(alice)
    both_read = threading.Barrier(2)

    class ReadTogether(FakeCardStore):
        def read_card(self, card_no, scope_key=None, receipt=None):
            found = super().read_card(card_no, scope_key, receipt)
            if found.receipt is None:
                both_read.wait(timeout=10)  # the first attempt of each: neither has written yet
            return found

    racing = ReadTogether()
    racing.__dict__.update(vars(store))  # the same cards, receipts and lock as the world's store
    answers: list = []

    def redeliver() -> None:
        answers.append(handle_counter_activation(racing, key, "ICBC", "wh-r", payload, fake_world.now))

    threads = [threading.Thread(target=redeliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(duplicate for _, duplicate in answers) == [False, True], answers
    assert {receipt.outcome for receipt, _ in answers} == {"activated"}
    activations = [e for e in store.card_events(alice.card_no) if e.action.value == "activate"]
    assert len(activations) == 1


def test_a_refusal_is_logged_with_its_reason_and_no_full_card_number(api, fake_world, capsys):
    alice, bob = fake_world.seeded.holders["alice"], fake_world.seeded.holders["bob"]
    payload = counter_event(alice)
    payload["data"]["ssn"] = bob.ssn
    send(api, fake_world, payload, "msg_log")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    refusals = [line for line in lines if line["event"] == "bank_webhook_rejected"]
    assert len(refusals) == 1
    assert refusals[0]["reason"] == "ssn-mismatch" and refusals[0]["webhook_id"] == "msg_log"
    assert refusals[0]["bank_code"] == "ICBC"
    assert refusals[0]["card_no"] == redact(alice.card_no) != alice.card_no
