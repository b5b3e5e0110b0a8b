"""The card state table, and identifiers: pure rules, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import cards as rules
from chalicelib.domain.cards import Action, Card, CardKind, CardState, Channel, IdentityCheck
from chalicelib.domain.errors import (
    CardNotActivated,
    CardSuspended,
    CardUnusable,
    InvalidCardNumber,
    InvalidSsn,
    TransitionNotAllowed,
)
from chalicelib.domain.identifiers import (
    Ssn,
    luhn_check_digit,
    mask_card_no,
    parse_card_no,
    ssn_check_char,
)

AT = datetime(2026, 1, 2, tzinfo=UTC)


def card(state: CardState, **kw) -> Card:
    return Card("6217000000000000001", "P1", CardKind.SOCIAL_SECURITY, state, AT, issuing_bank="ICBC", **kw)


@pytest.mark.parametrize(
    ("action", "start", "end"),
    [(a, s, t) for a, moves in rules.TRANSITIONS.items() for s, t in moves.items()],
)
def test_every_allowed_transition_lands_where_the_table_says(action, start, end):
    new, event = rules.apply(card(start, suspended_from=CardState.ACTIVE), action, channel=Channel.OPS, at=AT)
    assert new.state is (end or CardState.ACTIVE)
    assert (event.from_state, event.to_state) == (start, new.state)
    assert new.version == 1


@pytest.mark.parametrize(
    ("action", "start"),
    [(a, s) for a, moves in rules.TRANSITIONS.items() for s in CardState if s not in moves],
)
def test_every_other_transition_is_refused_with_a_reason(action, start):
    with pytest.raises((TransitionNotAllowed, CardSuspended, CardUnusable)):
        rules.apply(card(start), action, channel=Channel.OPS, at=AT)


def test_only_the_bank_switches_the_financial_function_on():
    for channel, financial in rules.ACTIVATION_CHANNELS.items():
        new, _ = rules.apply(card(CardState.ISSUED), Action.ACTIVATE, channel=channel, at=AT)
        assert new.financial_active is financial


def test_bank_activation_of_a_card_already_active_enables_only_the_financial_function():
    active = card(CardState.ACTIVE)
    assert rules.activation_action(active, Channel.BANK_COUNTER) is Action.ENABLE_FINANCIAL
    assert rules.activation_action(active, Channel.HOSPITAL) is None
    done = card(CardState.ACTIVE, financial_active=True)
    assert rules.activation_action(done, Channel.BANK_COUNTER) is None


def test_the_event_says_how_the_holders_identity_was_checked():
    lost, unchecked = rules.apply(card(CardState.ACTIVE), Action.REPORT_LOSS, channel=Channel.MOBILE, at=AT)
    assert unchecked.detail is None
    _, checked = rules.apply(
        lost, Action.CANCEL, channel=Channel.SERVICE_CENTER, at=AT, identity_checked=IdentityCheck.SSN
    )
    assert checked.detail == "identity checked: ssn"
    _, both = rules.apply(
        lost,
        Action.RETIRE,
        channel=Channel.SYSTEM,
        at=AT,
        detail="replaced",
        identity_checked=IdentityCheck.SSN,
    )
    assert both.detail == "replaced; identity checked: ssn"


def test_resume_returns_to_the_state_before_the_loss():
    lost, _ = rules.apply(card(CardState.ISSUED), Action.REPORT_LOSS, channel=Channel.MOBILE, at=AT)
    back, _ = rules.apply(lost, Action.RESUME, channel=Channel.SERVICE_CENTER, at=AT)
    assert back.state is CardState.ISSUED


@pytest.mark.parametrize(
    ("state", "error"),
    [
        (CardState.ISSUED, CardNotActivated),
        (CardState.SUSPENDED, CardSuspended),
        (CardState.CANCELLED, CardUnusable),
        (CardState.REPLACED, CardUnusable),
    ],
)
def test_an_unusable_card_is_refused_with_its_own_reason(state, error):
    with pytest.raises(error):
        card(state).ensure_usable()


def test_a_known_valid_citizen_id_passes_and_exposes_birth_and_sex():
    ssn = Ssn.parse("11010519491231002X")
    assert ssn.birth_date.isoformat() == "1949-12-31"
    assert ssn.sex == "female"
    assert "1231002" not in repr(ssn)  # never the full number in a repr or log


@given(
    st.from_regex(
        r"[1-9][0-9]{5}(19[5-9][0-9]|200[0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}", fullmatch=True
    )
)
def test_exactly_one_check_character_is_valid(first17):
    good = first17 + ssn_check_char(first17)
    assert Ssn.parse(good).value == good
    for wrong in set("0123456789X") - {good[-1]}:
        with pytest.raises(InvalidSsn):
            Ssn.parse(first17 + wrong)


@pytest.mark.parametrize("raw", ["", "123", "01010519491231002X", "11010519491331002X", "1101051949123100X2"])
def test_malformed_citizen_ids_are_refused(raw):
    with pytest.raises(InvalidSsn):
        Ssn.parse(raw)


def test_card_numbers_are_luhn_checked_and_masked():
    body = "621700123456789012"
    good = body + luhn_check_digit(body)
    assert parse_card_no(good) == good
    bad = body + str((int(luhn_check_digit(body)) + 1) % 10)
    with pytest.raises(InvalidCardNumber):
        parse_card_no(bad)
    with pytest.raises(InvalidCardNumber):
        parse_card_no(12345)
    assert mask_card_no(good) == good[:6] + "*********" + good[-4:]
