"""Full SSNs, card numbers, tokens and secrets never reach the logs."""

from __future__ import annotations

import json

from chalicelib.logs import get_logger, redact


def test_redaction_masks_every_kind_of_secret():
    line = redact("ssn 11010519491231002X card 6217001234567890123 token sst_abcDEF123 whsec_Zm9vYmFy")
    assert "11010519491231002X" not in line and "1101**********002X" in line
    assert "6217001234567890123" not in line and "621700******0123" in line
    assert "abcDEF123" not in line and "Zm9vYmFy" not in line


def test_a_full_activation_flow_logs_no_personal_data(api, fake_world, capsys):
    alice = fake_world.seeded.holders["alice"]
    api.post(
        f"/v1/cards/{alice.card_no}/activate", {"ssn": alice.ssn}, headers=fake_world.auth("service_center")
    )
    api.post(
        f"/v1/cards/{alice.card_no}/activate",
        {"ssn": "not-an-ssn"},
        headers=fake_world.auth("service_center"),
    )
    api.get("/v1/me/card", headers=fake_world.auth("alice"))
    get_logger("test").info("holder_seen", extra={"ssn": alice.ssn, "card": alice.card_no})
    out = capsys.readouterr().out
    assert out.strip(), "the requests were logged"
    for line in out.splitlines():
        json.loads(line)  # every log line is structured JSON
    secrets = [alice.ssn, alice.card_no, fake_world.seeded.bank_secret, *fake_world.seeded.tokens.values()]
    for secret in secrets:
        assert secret not in out


def test_nested_fields_and_lists_are_redacted_in_the_logs(capsys):
    ssn, card = "11010519491231002X", "6217001234567890123"
    get_logger("test").info(
        "webhook_received",
        extra={
            "body": {"data": {"ssn": ssn, "cards": [card, {"card_no": card}]}, "tuple": (ssn,)},
            "cards": [card],
            "card_as_number": int(card),
        },
    )
    out = capsys.readouterr().out
    record = json.loads(out.strip().splitlines()[-1])
    assert ssn not in out and card not in out
    assert record["body"]["data"]["ssn"] == "1101**********002X"
    assert record["body"]["data"]["cards"] == ["621700******0123", {"card_no": "621700******0123"}]
    assert record["cards"] == ["621700******0123"] and record["card_as_number"] == "621700******0123"
