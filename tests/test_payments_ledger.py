"""Sandbox payment provider (state machine, idempotency, test cards) and the double-entry ledger."""
from __future__ import annotations

import datetime as dt

import pytest

from maas.booking.ledger import Ledger, LedgerImbalance
from operators.money import half_down, half_up_to, percent_of, round_up, yen
from maas.booking.payments import (InvalidCard, PaymentDeclined, PaymentFailed, PaymentProvider, SandboxProvider,
                           luhn_ok)
from operators.base import TOKYO

CARD = {"token": "tok_visa"}


def test_money_helpers_are_integer_only():
    assert yen(0) == 0 and yen(1500) == 1500
    for bad in (1.0, True, "10", None):
        with pytest.raises(TypeError):
            yen(bad)
    with pytest.raises(ValueError):
        yen(-1)
    assert round_up(178, 10) == 180 and half_up_to(330, 10) == 170 and half_down(325) == 162
    assert percent_of(999, 500) == 49


def test_luhn():
    assert luhn_ok("4242424242424242") and luhn_ok("5555555555554444")
    assert not luhn_ok("4242424242424241") and not luhn_ok("4242") and not luhn_ok("42424242abcd4242")


async def test_sandbox_state_machine_and_idempotency(store):
    psp = SandboxProvider(store)
    assert isinstance(psp, PaymentProvider)
    a = await psp.authorize(1000, CARD, reference="bk1", idempotency_key="a1")
    assert a.status == "authorized" and a.card_last4 == "4242"
    assert await psp.authorize(1000, CARD, reference="bk1", idempotency_key="a1") == a  # replay
    assert (await psp.find("bk1")) == a and await psp.find("nope") is None
    with pytest.raises(PaymentFailed, match="exceeds"):
        await psp.capture(a.id, 1001, idempotency_key="c0")
    c = await psp.capture(a.id, 1000, idempotency_key="c1")
    assert c.status == "captured" and c.captured == 1000
    assert await psp.capture(a.id, 1000, idempotency_key="c1") == c
    with pytest.raises(PaymentFailed, match="refund instead"):
        await psp.void(a.id, idempotency_key="v1")
    r1 = await psp.refund(a.id, 300, idempotency_key="r1")
    assert (await psp.refund(a.id, 300, idempotency_key="r1")) == r1 and r1.refunded == 300
    with pytest.raises(PaymentFailed, match="700 JPY left"):
        await psp.refund(a.id, 701, idempotency_key="r2")
    assert (await psp.refund(a.id, 700, idempotency_key="r3")).refunded == 1000
    b = await psp.authorize(500, CARD, reference="bk2", idempotency_key="a2")
    assert (await psp.void(b.id, idempotency_key="v2")).status == "voided"
    with pytest.raises(PaymentFailed, match="voided"):
        await psp.capture(b.id, 500, idempotency_key="c2")
    with pytest.raises(TypeError):
        await psp.authorize(10.5, CARD, reference="bk3", idempotency_key="a3")


@pytest.mark.parametrize("number,exc,reason", [("4000000000000002", PaymentDeclined, "card_declined"),
                                               ("4000000000009995", PaymentDeclined, "insufficient_funds"),
                                               ("4000000000000119", PaymentFailed, "processing_error")])
async def test_sandbox_test_cards(store, number, exc, reason):
    psp = SandboxProvider(store)
    with pytest.raises(exc) as e:
        await psp.authorize(100, {"token": await psp.tokenize(number)}, reference="r", idempotency_key="k")
    assert e.value.reason == reason
    assert await psp.authorizations() == []


async def test_capture_decline_card(store):
    psp = SandboxProvider(store)
    a = await psp.authorize(100, {"token": "tok_captureDeclined"}, reference="r", idempotency_key="k")
    with pytest.raises(PaymentDeclined):
        await psp.capture(a.id, 100, idempotency_key="c")


async def test_ledger_balances_and_settles_per_operator_per_day(store):
    led = Ledger(store, commission_bp=1000)
    day1 = dt.datetime(2026, 11, 24, 23, 50, tzinfo=TOKYO)
    day2 = dt.datetime(2026, 11, 24, 15, 30, tzinfo=dt.timezone.utc)  # 00:30 on the 25th in Tokyo
    assert await led.post_capture("b1", {"toei-subway": 440, "toei-bus": 210}, day1)
    assert not await led.post_capture("b1", {"toei-subway": 440, "toei-bus": 210}, day1)  # once only
    assert await led.post_capture("b2", {"toei-subway": 180}, day2)
    assert await led.post_refund("b1", "c1", {"toei-bus": 210}, day2)
    assert not await led.post_refund("b1", "c2", {"toei-bus": 0}, day2)  # nothing to post
    await led.check_balanced()
    bal = await led.balances()
    assert bal["psp_clearing"] == 440 + 210 + 180 - 210
    assert bal["operator_payable:toei-subway"] == -(396 + 162)
    assert bal["operator_payable:toei-bus"] == 0 and bal["platform_revenue"] == -(44 + 18)
    assert sum(bal.values()) == 0
    rows = {(r.operator, r.day): r for r in await led.settlement()}
    assert rows[("toei-subway", "2026-11-24")].payable == 396
    assert rows[("toei-subway", "2026-11-25")].sales == 180
    bus = rows[("toei-bus", "2026-11-25")]
    assert (bus.sales, bus.refunds, bus.commission, bus.payable) == (0, 210, -21, -189)
    assert {r.operator for r in await led.settlement("2026-11-24")} == {"toei-subway", "toei-bus"}
    with pytest.raises(TypeError):
        await led.post_capture("b3", {"toei-bus": 210.0}, day1)


async def test_ledger_detects_imbalance(store):
    await store.ledger_append("bad", [{"txn": "bad", "account": "psp_clearing", "side": "D", "amount": 5}])
    with pytest.raises(LedgerImbalance):
        await Ledger(store).check_balanced()
    with pytest.raises(ValueError):
        Ledger(store, commission_bp=20_000)
