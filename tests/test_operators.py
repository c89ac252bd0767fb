"""Operator adapters: Toei fares (feed and bands), bus flat fare, shuttle seats per segment, tickets, refunds."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest

from booking_support import SHUTTLE, SHUTTLE_TRIP, START, bus_leg, leg_ref, shuttle_leg, subway_leg
from conftest import shared_file
from maas.store.embedded import EmbeddedStore
from operators.base import (BookingTooEarly, BookingTooLate, HoldExpired, InvalidLeg, Passengers, RefundRule, SoldOut,
                            TicketSigner)
from operators.fares import FareTable, distance_band_fare, ticket_fares
from operators.registry import OperatorRegistry, UnknownOperator, shuttle_config_from_feed
from operators.shuttle import ShuttleAdapter, ShuttleConfig
from operators.toei_bus import ToeiBusAdapter
from operators.toei_subway import ToeiSubwayAdapter


def leg_of(d: dict):
    return leg_ref(d)


@pytest.mark.parametrize("metres,fare,km", [(0, 178, 1), (1, 178, 1), (4000, 178, 4), (4001, 220, 5),
                                            (9000, 220, 9), (15000, 272, 15), (15001, 325, 16),
                                            (27000, 377, 27), (40000, 430, 40), (90000, 430, 90)])
def test_distance_bands(metres, fare, km):
    assert distance_band_fare(metres) == (fare, km)


@pytest.mark.parametrize("ic,ticket,child_ticket,child_ic", [(178, 180, 90, 89), (220, 220, 110, 110),
                                                             (272, 280, 140, 136), (325, 330, 170, 162),
                                                             (377, 380, 190, 188), (430, 430, 220, 215)])
def test_ticket_and_child_rounding(ic, ticket, child_ticket, child_ic):
    assert ticket_fares(ic, "ticket") == (ticket, child_ticket)
    assert ticket_fares(ic, "ic") == (ic, child_ic)
    with pytest.raises(ValueError):
        ticket_fares(ic, "cash")


def test_subway_prices_by_band_without_feed_fares():
    sub = ToeiSubwayAdapter(EmbeddedStore())
    p = sub.price(leg_of(subway_leg(distance_m=12_300)), Passengers(2, 1), "ticket")
    assert (p.adult_fare, p.child_fare, p.total) == (280, 140, 700)
    assert p.basis == "distance band 13 km" and isinstance(p.total, int)
    ic = sub.price(leg_of(subway_leg(distance_m=12_300)), Passengers(1, 1), "ic")
    assert (ic.adult_fare, ic.child_fare, ic.total) == (272, 136, 408)


def test_subway_uses_official_feed_fare_rules():
    table = FareTable.from_gtfs_zip(shared_file("toei-train-official-gtfs.zip"))
    assert len(table) == 11271
    sub = ToeiSubwayAdapter(EmbeddedStore(), fares=table)
    # Nishi-magome → Oshiage: the feed says 325 IC whatever the leg's distance claims
    p = sub.price(leg_of(subway_leg("toei-subway:101", "toei-subway:120", distance_m=500)), Passengers(1, 1), "ic")
    assert (p.adult_fare, p.child_fare) == (325, 162) and "fare_rules 101→120" in p.basis
    # a pair the feed does not price falls back to the distance band
    p2 = sub.price(leg_of(subway_leg("toei-subway:101", "toei-subway:9999", distance_m=500)), Passengers(1), "ic")
    assert p2.adult_fare == 178 and p2.basis.startswith("distance band")


def test_fare_table_from_namespaced_frames():
    fa = pd.DataFrame({"fare_id": ["toei-subway:220"], "price": [220.0]})
    fr = pd.DataFrame({"fare_id": ["toei-subway:220"], "origin_id": ["toei-subway:Z1"],
                       "destination_id": ["toei-subway:Z2"], "route_id": [""]})
    stops = pd.DataFrame({"stop_id": ["toei-subway:S1", "toei-subway:S2"],
                          "zone_id": ["toei-subway:Z1", "toei-subway:Z2"]})
    t = FareTable.from_frames(fa, fr, stops)
    assert t.lookup("toei-subway:S1", "toei-subway:S2") == 220
    assert t.lookup("toei-subway:S2", "toei-subway:S1") is None
    with pytest.raises(ValueError, match="whole yen"):
        FareTable.from_frames(pd.DataFrame({"fare_id": ["x"], "price": [220.5]}), fr)


def test_bus_flat_fare():
    bus = ToeiBusAdapter(EmbeddedStore())
    assert bus.price(leg_of(bus_leg()), Passengers(1, 2), "ticket").total == 210 + 2 * 110
    assert bus.price(leg_of(bus_leg()), Passengers(1, 2), "ic").total == 210 + 2 * 105


def shuttle(store, seats=3, notice=30) -> ShuttleAdapter:
    return ShuttleAdapter(store, SHUTTLE, ShuttleConfig(capacities={SHUTTLE_TRIP: seats},
                                                        default_prior_notice_min=notice))


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
    sh = ShuttleAdapter(store, SHUTTLE, ShuttleConfig(capacities={SHUTTLE_TRIP: 1}), signer=signer)
    hold = await sh.hold("h1", leg_of(shuttle_leg()), Passengers(1), START, 120)
    t1 = await sh.confirm(hold, 200, START)
    t2 = await sh.confirm(hold, 200, START + dt.timedelta(seconds=5))
    assert t1 == t2 and len(t1.validation_code) == 6 and t1.fare == 200
    fields = signer.verify(t1.qr_payload)
    assert fields["tid"] == t1.ticket_id and fields["trip"] == SHUTTLE_TRIP and fields["a"] == "1"
    assert TicketSigner(b"other").verify(t1.qr_payload) is None
    assert signer.verify(t1.qr_payload.replace("MAAS1:", "MAAS1:x")) is None
    h2 = await ShuttleAdapter(store, SHUTTLE, ShuttleConfig(capacities={f"{SHUTTLE}:T9": 1})).hold(
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
    rule = RefundRule(full_before_min=60, late_bp=5000, fee=30)
    assert rule.refund(200, leg.departure, START).amount == 170
    assert rule.refund(200, leg.departure, leg.departure).amount == 0
    assert rule.refund(20, leg.departure, START).amount == 0  # fee capped at the fare


async def test_release_voids_a_ticket_issued_but_unrecorded():
    store = EmbeddedStore()
    sub = ToeiSubwayAdapter(store)
    hold = await sub.hold("h", leg_of(subway_leg()), Passengers(1), START, 120)
    ticket = await sub.confirm(hold, 220, START)
    await sub.release(hold)
    assert await sub.ticket_status(ticket.ticket_id) == "cancelled"


def test_registry_routes_operator_ids():
    store = EmbeddedStore()
    reg = OperatorRegistry.tokyo(store, shuttle_default=ShuttleConfig(default_capacity=4))
    assert reg.get("toei-subway").operator_id == "toei-subway"
    assert reg.get("shuttle-odaiba").operator_id == "shuttle-odaiba"
    with pytest.raises(UnknownOperator):
        reg.get("tokyo-metro")
    with pytest.raises(UnknownOperator):
        OperatorRegistry.tokyo(store).get("shuttle-odaiba")


def test_shuttle_config_from_feed_tables():
    feed = SimpleNamespace(
        trips=pd.DataFrame({"trip_id": ["s:T1", "s:T2", "s:bus"], "seat_capacity": [10, 6, -1]}),
        booking_rules=pd.DataFrame({"booking_rule_id": ["s:r1"], "prior_notice_duration_min": [45.0],
                                    "prior_notice_duration_max": [1440]}),
        stop_times=pd.DataFrame({"trip_id": ["s:T1", "s:T1", "s:T2"], "pickup_booking_rule_id": ["s:r1", "s:r1", ""]}))
    cfg = shuttle_config_from_feed(feed, adult_fare=300)
    assert cfg.capacities == {"s:T1": 10, "s:T2": 6}
    assert cfg.prior_notice_min == {"s:T1": 45} and cfg.adult_fare == 300
    assert cfg.prior_notice_max_min == {"s:T1": 1440}


async def test_shuttle_too_early():
    sh = ShuttleAdapter(EmbeddedStore(), SHUTTLE, ShuttleConfig(capacities={SHUTTLE_TRIP: 3},
                                                                prior_notice_max_min={SHUTTLE_TRIP: 60}))
    with pytest.raises(BookingTooEarly, match="at most 60 min"):
        sh.check_bookable(leg_of(shuttle_leg()), START)  # 165 min ahead
    sh.check_bookable(leg_of(shuttle_leg()), START.replace(hour=10))


def test_tram_flat_fare():
    sub = ToeiSubwayAdapter(EmbeddedStore())
    leg = leg_of({**subway_leg(distance_m=12_000), "mode": "TRAM"})
    p = sub.price(leg, Passengers(1, 1), "ticket")
    assert (p.adult_fare, p.child_fare, p.basis) == (170, 90, "flat tram fare")
    assert sub.price(leg, Passengers(1, 1), "ic").child_fare == 84


def test_fare_table_from_loaded_official_feed():
    from feeds.gtfs import load_feed

    feed = load_feed(shared_file("toei-train-official-gtfs.zip"), "toei-subway")
    table = FareTable.from_feed(feed)
    assert len(table) == 11271 and table.lookup("toei-subway:101", "toei-subway:120") == 325
