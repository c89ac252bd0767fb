"""The generic operator adapter (profiles as data): seats per segment, notice, tickets, refunds; the registry."""
from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest

from booking_support import SHUTTLE, SHUTTLE_PROFILE, SHUTTLE_TRIP, START, leg_ref, shuttle_leg, subway_leg, tokyo_setups
from feeds.profile import RefundWindow
from maas.store.embedded import EmbeddedStore
from operators.adapter import ProfileAdapter, SeatRules
from operators.base import (BookingTooEarly, BookingTooLate, HoldExpired, InvalidLeg, Passengers, SoldOut, TicketSigner,
                            refund_for)
from operators.catalog import builtin_profile, seat_rules
from operators.registry import OperatorRegistry, UnknownOperator


def leg_of(d: dict):
    return leg_ref(d)


def shuttle(store, seats=3, notice=30, signer=None, **seat_kw) -> ProfileAdapter:
    profile = dataclasses.replace(SHUTTLE_PROFILE, default_prior_notice_min=notice)
    return ProfileAdapter(store, profile, SeatRules({SHUTTLE_TRIP: seats, f"{SHUTTLE}:T9": 1}, **seat_kw),
                          signer=signer)


async def test_shuttle_seats_free_again_where_passenger_alights():
    store = EmbeddedStore()
    sh = shuttle(store, seats=2)
    await sh.hold("a", leg_of(shuttle_leg(1, 3)), Passengers(2), START, 120)
    with pytest.raises(SoldOut, match="sold out between stops 2 and 4"):
        await sh.hold("b", leg_of(shuttle_leg(2, 4)), Passengers(1), START, 120)
    held = await sh.hold("c", leg_of(shuttle_leg(3, 5)), Passengers(1, 1), START, 120)
    assert held.seats == 2


async def test_shuttle_prior_notice_and_unknown_trip():
    sh = shuttle(EmbeddedStore(), notice=30)
    late = START.replace(hour=10, minute=20)  # shuttle leaves 10:45: only 25 min notice
    with pytest.raises(BookingTooLate, match="30 min"):
        sh.check_bookable(leg_of(shuttle_leg()), late)
    sh.check_bookable(leg_of(shuttle_leg()), START)
    with pytest.raises(InvalidLeg, match="not a bookable"):
        sh.check_bookable(leg_of(shuttle_leg(trip=f"{SHUTTLE}:nope")), START)
    with pytest.raises(InvalidLeg, match="departed"):
        sh.check_bookable(leg_of(shuttle_leg()), START.replace(hour=11))


async def test_confirm_issues_signed_ticket_once_and_refuses_expired_hold():
    store = EmbeddedStore()
    signer = TicketSigner(b"k")
    sh = shuttle(store, seats=1, signer=signer)
    hold = await sh.hold("h1", leg_of(shuttle_leg()), Passengers(1), START, 120)
    t1 = await sh.confirm(hold, 200, START)
    t2 = await sh.confirm(hold, 200, START + dt.timedelta(seconds=5))
    assert t1 == t2 and len(t1.validation_code) == 6 and t1.fare == 200
    fields = signer.verify(t1.qr_payload)
    assert fields["tid"] == t1.ticket_id and fields["trip"] == SHUTTLE_TRIP and fields["a"] == "1"
    assert TicketSigner(b"other").verify(t1.qr_payload) is None
    assert signer.verify(t1.qr_payload.replace("MAAS1:", "MAAS1:x")) is None
    h2 = await sh.hold(
        "h2", leg_of(shuttle_leg(trip=f"{SHUTTLE}:T9")), Passengers(1), START, 60)
    with pytest.raises(HoldExpired):
        await sh.confirm(h2, 200, START + dt.timedelta(seconds=61))


async def test_cancel_refund_rules_and_seat_release():
    store = EmbeddedStore()
    sh = shuttle(store, seats=1)
    leg = leg_of(shuttle_leg())
    hold = await sh.hold("h", leg, Passengers(1), START, 120)
    ticket = await sh.confirm(hold, 200, START)
    r = await sh.cancel(hold, ticket, leg.departure - dt.timedelta(minutes=30))  # < 60 min: 50 %
    assert (r.amount, r.fee) == (100, 100)
    assert (await sh.cancel(hold, ticket, START)).amount == 100  # a retry gets the first answer
    assert await sh.ticket_status(ticket.ticket_id) == "cancelled"
    assert (await sh.hold("h-next", leg, Passengers(1), START, 120)).seats == 1  # the seat is free again
    windows = (RefundWindow(60, 100, 30), RefundWindow(10, 50))
    assert refund_for(windows, 200, leg.departure, START).amount == 170
    assert refund_for(windows, 200, leg.departure, leg.departure - dt.timedelta(minutes=30)).amount == 100
    late = refund_for(windows, 200, leg.departure, leg.departure - dt.timedelta(minutes=5))
    assert (late.amount, late.fee) == (0, 200) and "<10 min" in late.rule
    assert refund_for(windows, 200, leg.departure, leg.departure).amount == 0
    assert refund_for(windows, 20, leg.departure, START).amount == 0  # the fee never makes a refund negative


async def test_release_voids_a_ticket_issued_but_unrecorded():
    store = EmbeddedStore()
    sub = ProfileAdapter(store, builtin_profile("toei-subway"))
    hold = await sub.hold("h", leg_of(subway_leg()), Passengers(1), START, 120)
    ticket = await sub.confirm(hold, 220, START)
    await sub.release(hold)
    assert await sub.ticket_status(ticket.ticket_id) == "cancelled"


def test_registry_routes_operator_ids():
    store = EmbeddedStore()
    reg = OperatorRegistry(store, tokyo_setups())
    assert reg.get("toei-subway").operator_id == "toei-subway"
    assert reg.get(SHUTTLE).profile.seat_inventory
    with pytest.raises(UnknownOperator, match="no operator 'tokyo-metro' is live"):
        reg.get("tokyo-metro")


def test_seat_rules_from_feed_tables():
    """Seat rules and the default profile's facts are taken from the tables once (`feed_facts`, by whoever packs
    them) and read from `FeedFacts` after."""
    from feeds.feed import feed_facts

    tables = SimpleNamespace(
        agencies=pd.DataFrame({"agency_name": ["Shuttle Co"]}), calendar=pd.DataFrame(),
        calendar_dates=pd.DataFrame({"service_id": ["s:d"], "date": [dt.date(2026, 12, 1)], "exception_type": [1]}),
        trips=pd.DataFrame({"trip_id": ["s:T1", "s:T2", "s:bus"], "seat_capacity": [10, 6, -1]}),
        booking_rules=pd.DataFrame({"booking_rule_id": ["s:r1"], "prior_notice_duration_min": [45],
                                    "prior_notice_duration_max": [1440]}),
        stop_times=pd.DataFrame({"trip_id": ["s:T1", "s:T1", "s:T2"], "pickup_booking_rule_id": ["s:r1", "s:r1", ""]}))
    tables.rows = lambda name: len(getattr(tables, name))
    facts = feed_facts(tables)
    rules = seat_rules(SimpleNamespace(facts=lambda: facts))
    assert rules.capacities == {"s:T1": 10, "s:T2": 6}
    assert rules.prior_notice_min == {"s:T1": 45} and rules.prior_notice_max_min == {"s:T1": 1440}
    assert facts.seated and facts.agency_name == "Shuttle Co" and facts.trip_ids() == ["s:T1", "s:T2", "s:bus"]
    assert (facts.first_date, facts.last_date) == (dt.date(2026, 12, 1), dt.date(2026, 12, 1))


async def test_shuttle_too_early():
    sh = shuttle(EmbeddedStore(), prior_notice_max_min={SHUTTLE_TRIP: 60})
    with pytest.raises(BookingTooEarly, match="at most 60 min"):
        sh.check_bookable(leg_of(shuttle_leg()), START)  # 165 min ahead
    sh.check_bookable(leg_of(shuttle_leg()), START.replace(hour=10))
