"""The fare engine on hand-written Fares v2 feeds (each file, rule priority, transfers, bands), bad fare files, and
the operators' published figures on real feeds (Toei subway, Toei bus, Toei → Tokyo Metro)."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import random
import zipfile
from pathlib import Path

import pytest

from conftest import shared_file
from feeds.fares import parse_fares
from feeds.feed import TOKYO
from feeds.gtfs import load_feed, read_tables
from feeds.problems import FeedRejected, ValidationReport
from feeds.profile import ChildRule, FareSpec, OperatorProfile, Rounding
from gtfs_builders import minimal_feed_tables, write_gtfs
from operators.base import LegRef, Passengers
from operators.catalog import OperatorSetup, builtin_profile, setup_for_feed
from operators.fare_engine import FareUnknown, price_journey

DAY = dt.date(2026, 11, 24)  # a Tuesday
METRO_FARES = Path(__file__).parent / "data" / "tokyo-metro-fares"


def leg(op: str, route: str, frm: str, to: str, dep: str, arr: str, km: float = 3.0, index: int = 0,
        day: dt.date = DAY) -> LegRef:
    def at(hhmm: str) -> dt.datetime:
        h, m = map(int, hhmm.split(":"))
        return dt.datetime.combine(day, dt.time(h, m), TOKYO)
    return LegRef(index, op, "BUS", f"{op}:T", f"{op}:{route}", day.isoformat(), f"{op}:{frm}", f"{op}:{to}", 1, 2,
                  at(dep), at(arr), int(km * 1000))


def v2_tables() -> dict:
    """Bus network (R1) and rail network (R2, distance bands), IC and paper media, adult and child, a peak
    timeframe, an airport area, and a bus-to-bus transfer discount."""
    t = minimal_feed_tables()
    t["routes"].append({**t["routes"][0], "route_id": "R2", "route_type": "2"})
    t["networks"] = [{"network_id": "bus", "network_name": "Bus"}, {"network_id": "rail", "network_name": "Rail"}]
    t["route_networks"] = [{"network_id": "bus", "route_id": "R1"}, {"network_id": "rail", "route_id": "R2"}]
    t["fare_media"] = [{"fare_media_id": "ic", "fare_media_name": "IC", "fare_media_type": "2"},
                       {"fare_media_id": "paper", "fare_media_name": "Ticket", "fare_media_type": "1"}]
    t["rider_categories"] = [
        {"rider_category_id": "adult", "rider_category_name": "Adult", "is_default_fare_category": "1"},
        {"rider_category_id": "child", "rider_category_name": "Child", "is_default_fare_category": "0"}]
    p = lambda pid, amount, rider="", media="": {"fare_product_id": pid, "amount": str(amount),  # noqa: E731
                                                 "currency": "JPY", "rider_category_id": rider,
                                                 "fare_media_id": media}
    t["fare_products"] = [p("flat", 200, "adult", "ic"), p("flat", 210, "adult", "paper"),
                          p("flat", 100, "child", "ic"), p("peak", 300), p("airport", 500),
                          p("near", 150), p("far", 400), p("disc", -50, "adult", "ic"), p("disc", -20, "child", "ic")]
    t["areas"] = [{"area_id": "airport", "area_name": "Airport"}]
    t["stop_areas"] = [{"area_id": "airport", "stop_id": "C"}]
    t["timeframes"] = [{"timeframe_group_id": "peak", "start_time": "08:00:00", "end_time": "09:00:00",
                        "service_id": "WD"}]
    t["fare_leg_rules"] = [
        {"leg_group_id": "bus", "network_id": "bus", "fare_product_id": "flat", "rule_priority": "0"},
        {"leg_group_id": "bus", "network_id": "bus", "to_area_id": "airport", "fare_product_id": "airport",
         "rule_priority": "1"},
        {"leg_group_id": "bus", "network_id": "bus", "from_timeframe_group_id": "peak", "fare_product_id": "peak",
         "rule_priority": "2"}]
    t["fare_transfer_rules"] = [{"from_leg_group_id": "bus", "to_leg_group_id": "bus", "transfer_count": "1",
                                 "duration_limit": "3600", "duration_limit_type": "1", "fare_transfer_type": "1",
                                 "fare_product_id": "disc"}]
    t["fare_distance_bands"] = [{"network_id": "rail", "min_km": "0", "max_km": "5", "fare_product_id": "near"},
                                {"network_id": "rail", "min_km": "6", "max_km": "30", "fare_product_id": "far"}]
    return t


@pytest.fixture(scope="module")
def v2(tmp_path_factory):
    feed = load_feed(write_gtfs(tmp_path_factory.mktemp("v2") / "f", v2_tables()), "v2")
    return {"v2": setup_for_feed(feed).fares}


def fare(catalog, legs, adult=1, child=0, medium="ic"):
    return price_journey(catalog, legs, Passengers(adult, child), medium)


def test_v2_products_by_medium_and_rider(v2):
    f = fare(v2, [leg("v2", "R1", "A", "B", "10:00", "10:10")], 1, 1, "ic")
    assert (f.prices[0].adult_fare, f.prices[0].child_fare, f.total) == (200, 100, 300)
    f = fare(v2, [leg("v2", "R1", "A", "B", "10:00", "10:10")], 2, 1, "ticket")
    # no paper child product: the default child rule (half, up to 10 yen) of the adult paper 210
    assert (f.prices[0].adult_fare, f.prices[0].child_fare, f.total) == (210, 110, 530)
    assert f.prices[0].product == "v2:flat" and "fare_leg_rules" in f.prices[0].basis


def test_v2_rule_priority_timeframe_and_area(v2):
    assert fare(v2, [leg("v2", "R1", "A", "B", "08:30", "08:40")]).total == 300  # peak rule, priority 2
    weekend = dt.date(2026, 11, 28)  # the peak timeframe's service WD does not run
    assert fare(v2, [leg("v2", "R1", "A", "B", "08:30", "08:40", day=weekend)]).total == 200
    assert fare(v2, [leg("v2", "R1", "A", "B", "09:00", "09:10")]).total == 200  # end_time is exclusive
    assert fare(v2, [leg("v2", "R1", "A", "C", "10:00", "10:20")]).total == 500  # to the airport area
    assert fare(v2, [leg("v2", "R1", "A", "C", "08:10", "08:30")]).total == 300  # priority 2 beats the area's 1


def test_v2_without_rule_priority_named_fields_win(tmp_path):
    """No rule_priority column: per field the rules naming the leg's value win over those leaving it empty."""
    t = v2_tables()
    t["fare_leg_rules"] = [{"leg_group_id": "bus", "network_id": "bus", "fare_product_id": "flat"},
                           {"leg_group_id": "bus", "network_id": "bus", "to_area_id": "airport",
                            "fare_product_id": "airport"}]
    catalog = {"v2": setup_for_feed(load_feed(write_gtfs(tmp_path / "f", t), "v2")).fares}
    assert fare(catalog, [leg("v2", "R1", "A", "C", "10:00", "10:20")]).total == 500
    assert fare(catalog, [leg("v2", "R1", "A", "B", "10:00", "10:20")]).total == 200


def test_v2_transfer_rules_duration_count_and_medium(v2):
    a = leg("v2", "R1", "A", "B", "10:00", "10:10", index=1)
    b = leg("v2", "R1", "B", "A", "10:30", "10:40", index=3)
    c = leg("v2", "R1", "A", "B", "10:50", "11:00", index=5)
    f = fare(v2, [a, b], 1, 1)
    assert f.total == 200 + 200 - 50 + 100 + 100 - 20
    assert f.transfers[0]["from_leg"] == 1 and f.transfers[0]["adult_amount"] == -50
    assert sum(p.adult_fare for p in f.prices) == 350  # the discount sits on the legs (settlement)
    assert fare(v2, [a, b, c]).total == 600 - 50  # transfer_count 1: the second change pays in full
    late = leg("v2", "R1", "B", "A", "11:01", "11:10", index=3)  # 61 min after the first departure
    assert fare(v2, [a, late]).total == 400
    assert fare(v2, [a, b], medium="ticket").total == 420  # the discount product exists for IC only


def test_v2_distance_bands_extension(v2):
    assert fare(v2, [leg("v2", "R2", "A", "B", "10:00", "10:10", km=4.2)]).total == 150
    assert fare(v2, [leg("v2", "R2", "A", "B", "10:00", "10:10", km=5.01)]).total == 400  # 6 km, rounded up
    with pytest.raises(FareUnknown, match="no distance band covers 31 km"):
        fare(v2, [leg("v2", "R2", "A", "B", "10:00", "10:10", km=30.5)])


def test_a_product_without_a_price_names_each_caller_s_leg(v2):
    """The product's answer is remembered per table, not per leg: the second leg asking gets its own index."""
    from operators.fare_engine import product_amount
    of = v2["v2"]
    for index in (3, 5):
        with pytest.raises(FareUnknown, match="fare product v2:missing has no ic price") as err:
            product_amount(of, of.tables, "v2:missing", "adult", "ic", index)
        assert err.value.leg_index == index


def test_unknown_operator_is_fare_unknown(v2):
    with pytest.raises(FareUnknown, match="no fares known for operator 'elsewhere'"):
        fare(v2, [leg("elsewhere", "R1", "A", "B", "10:00", "10:10")])


BAD_FARE_FILES = [
    ("fare_media", [{"fare_media_id": "ic", "fare_media_name": "IC", "fare_media_type": "7"}],
     "fare_media.txt", "fare_media_type", "is not one of"),
    ("rider_categories", [{"rider_category_id": "a", "rider_category_name": "A", "is_default_fare_category": "1"},
                          {"rider_category_id": "b", "rider_category_name": "B", "is_default_fare_category": "1"}],
     "rider_categories.txt", "is_default_fare_category", "at most one"),
    ("fare_products", [{"fare_product_id": "x", "amount": "12.5", "currency": "JPY"}],
     "fare_products.txt", "amount", "not a whole number of yen"),
    ("fare_leg_rules", [{"network_id": "bus", "fare_product_id": "nope"}],
     "fare_leg_rules.txt", "fare_product_id", "refers to no fare product"),
    ("fare_transfer_rules", [{"from_leg_group_id": "bus", "to_leg_group_id": "bus", "fare_transfer_type": "1"}],
     "fare_transfer_rules.txt", "transfer_count", "required when from_leg_group_id equals"),
    ("networks", [{"network_id": "", "network_name": "no id"}], "networks.txt", "network_id", "required"),
    ("route_networks", [{"network_id": "bus", "route_id": "R9"}], "route_networks.txt", "route_id",
     "refers to no route"),
    ("areas", [{"area_id": "", "area_name": "x"}], "areas.txt", "area_id", "required"),
    ("stop_areas", [{"area_id": "airport", "stop_id": "Z"}], "stop_areas.txt", "stop_id", "refers to no stop"),
    ("timeframes", [{"timeframe_group_id": "peak", "start_time": "09:00:00", "end_time": "08:00:00",
                     "service_id": "WD"}], "timeframes.txt", "end_time", "not after start_time"),
    ("fare_distance_bands", [{"network_id": "rail", "min_km": "0", "max_km": "5", "fare_product_id": "near"},
                             {"network_id": "rail", "min_km": "4", "max_km": "9", "fare_product_id": "far"}],
     "fare_distance_bands.txt", "min_km", "overlaps"),
    ("fare_attributes", [{"fare_id": "F", "price": "100", "currency_type": "JPY", "payment_method": "0",
                          "transfers": "", "transfer_duration": "-5"}],
     "fare_attributes.txt", "transfer_duration", "must be >= 0"),
]


@pytest.mark.parametrize("name,rows,file,field,message", BAD_FARE_FILES, ids=[b[0] for b in BAD_FARE_FILES])
def test_each_bad_fare_file_gets_a_located_error(tmp_path, name, rows, file, field, message):
    t = v2_tables()
    t[name] = rows
    with pytest.raises(FeedRejected) as exc:
        load_feed(write_gtfs(tmp_path / "f", t), "v2")
    hits = [p for p in exc.value.report.errors if p.file == file and p.field == field and message in p.message]
    assert hits, exc.value.report.format()
    assert hits[0].row is not None or name == "rider_categories"


def test_fare_gaps_are_warnings_when_fares_come_from_the_feed(tmp_path):
    t = minimal_feed_tables()
    t["routes"].append({**t["routes"][0], "route_id": "R2"})
    t["fare_attributes"] = [{"fare_id": "F", "price": "100", "currency_type": "JPY", "payment_method": "0",
                             "transfers": "0"}]
    t["fare_rules"] = [{"fare_id": "F", "route_id": "R1"}]
    feed = load_feed(write_gtfs(tmp_path / "f", t), "gap")
    (w,) = [p for p in feed.report.warnings if "no fare" in p.message]
    assert "R2" in w.message and "R1" not in w.message.split(":")[-1]
    with pytest.raises(FareUnknown, match="no fare in fare_rules covers route gap:R2"):
        fare({"gap": setup_for_feed(feed).fares}, [leg("gap", "R2", "A", "B", "10:00", "10:10")])


# ---------------------------------------------------------------------------------------------- real feeds

def _csv(path: str, member: str) -> list[dict]:
    with zipfile.ZipFile(path) as zf:
        return list(csv.DictReader(io.TextIOWrapper(zf.open(member), encoding="utf-8-sig")))


TOEI_TICKET = {168: 170, 178: 180, 220: 220, 272: 280, 325: 330, 377: 380, 430: 430}  # Toei's published table


def test_official_toei_fare_rules_50_random_pairs():
    path = shared_file("toei-train-official-gtfs.zip")
    feed = load_feed(path, "toei-subway")
    catalog = {"toei-subway": setup_for_feed(feed).fares}
    prices = {r["fare_id"]: int(r["price"]) for r in _csv(path, "fare_attributes.txt")}
    pairs = [r for r in _csv(path, "fare_rules.txt") if r["origin_id"] != r["destination_id"]]
    for r in random.Random(11).sample(pairs, 50):
        ic = prices[r["fare_id"]]
        legs = [leg("toei-subway", "1", r["origin_id"], r["destination_id"], "10:00", "10:20", km=99)]
        f_ic = fare(catalog, legs, 1, 1, "ic")
        f_ticket = fare(catalog, legs, 1, 1, "ticket")
        ticket = TOEI_TICKET.get(ic, -(-ic // 10) * 10)
        assert (f_ic.prices[0].adult_fare, f_ic.prices[0].child_fare) == (ic, ic // 2), r
        assert (f_ticket.prices[0].adult_fare, f_ticket.prices[0].child_fare) == \
            (ticket, -(-(-(-ticket // 2)) // 10) * 10), r
    # Nishi-magome → Oshiage: 325 IC / 330 ticket; child 162 / 170 — whatever the leg's km says
    f = fare(catalog, [leg("toei-subway", "1", "101", "120", "10:00", "10:40", km=1)], 1, 1, "ticket")
    assert (f.prices[0].adult_fare, f.prices[0].child_fare) == (330, 170)


def test_toei_through_fare_over_two_toei_legs():
    """Asakusa line then Oedo line: one fare origin → destination (v1 transfers unlimited), not two."""
    feed = load_feed(shared_file("toei-train-official-gtfs.zip"), "toei-subway")
    catalog = {"toei-subway": setup_for_feed(feed).fares}
    ic = {(r["origin_id"], r["destination_id"]): int(r["fare_id"]) for r in
          _csv(shared_file("toei-train-official-gtfs.zip"), "fare_rules.txt") if r["fare_id"].isdigit()}
    a = leg("toei-subway", "1", "101", "113", "10:00", "10:20", index=1)
    b = leg("toei-subway", "4", "113", "120", "10:25", "10:35", index=2)
    f = fare(catalog, [a, b])
    assert f.total == min(ic[("101", "120")], ic[("101", "113")] + ic[("113", "120")])
    assert f.prices[1].adult_fare == 0 and "included" in f.prices[1].basis


def test_toei_bus_fares_match_the_feed_s_own_published_split():
    """Toei bus fare ids spell the published fares: adult ticket_adult IC_child ticket_child IC. The engine
    (feed prices are cash; ic_price; child rule of the built-in profile) gives each of them."""
    path = shared_file("toei-bus-gtfs-no-stop-times.zip")
    report = ValidationReport("toei-bus")
    tables = read_tables(path, report)
    fares = parse_fares(tables, "toei-bus", report)
    assert not report.errors, report.format()
    catalog = {"toei-bus": OperatorSetup(builtin_profile("toei-bus"), fares).fares}
    by_fare = {}
    for r in _csv(path, "fare_rules.txt"):
        if r["route_id"] and not r["origin_id"]:
            by_fare.setdefault(r["fare_id"], r["route_id"])
    checked = 0
    for fid, route in by_fare.items():
        parts = fid.split("_")
        if len(parts) != 4 or not all(parts):
            continue
        at, aic, ct, cic = map(int, parts)
        legs = [leg("toei-bus", route, "x", "y", "10:00", "10:20")]
        t, i = fare(catalog, legs, 1, 1, "ticket"), fare(catalog, legs, 1, 1, "ic")
        assert (t.prices[0].adult_fare, t.prices[0].child_fare, i.prices[0].adult_fare, i.prices[0].child_fare) == \
            (at, ct, aic, cic), fid
        checked += 1
    assert checked >= 1
    flat = fare(catalog, [leg("toei-bus", "002", "x", "y", "10:00", "10:20")], 1, 1, "ticket")
    assert (flat.prices[0].adult_fare, flat.prices[0].child_fare) == (210, 110)
    assert fare(catalog, [leg("toei-bus", "002", "x", "y", "10:00", "10:20")], 1, 1, "ic").prices[0].child_fare == 105


def metro_with_fares(tmp: Path) -> Path:
    out = tmp / "tokyo-metro-with-fares.zip"
    with zipfile.ZipFile(shared_file("tokyo-metro-gtfs.zip")) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        for f in METRO_FARES.glob("*.txt"):
            dst.writestr(f.name, f.read_bytes())
    return out


@pytest.fixture(scope="module")
def toei_metro(tmp_path_factory):
    toei = load_feed(shared_file("toei-train-official-gtfs.zip"), "toei-subway")
    metro = load_feed(metro_with_fares(tmp_path_factory.mktemp("metro")), "tokyo-metro")
    return {f.namespace: setup_for_feed(f).fares for f in (toei, metro)}


def test_toei_to_metro_transfer_discount_within_60_min(toei_metro):
    """Shinjuku-sanchome → Kudanshita on Toei Shinjuku line, then Tozai line Kudanshita → Nihombashi (Metro,
    about 3 km: band 1): IC sum minus 70 when the change takes ≤ 60 min, the plain sum after."""
    toei = leg("toei-subway", "3", "302", "305", "10:00", "10:10", index=1)
    metro = LegRef(3, "tokyo-metro", "SUBWAY", "tokyo-metro:T", "tokyo-metro:TokyoMetro.Tozai", DAY.isoformat(),
                   "tokyo-metro:TokyoMetro.Tozai.Kudanshita", "tokyo-metro:TokyoMetro.Tozai.Nihombashi", 1, 4,
                   dt.datetime.combine(DAY, dt.time(10, 20), TOKYO), dt.datetime.combine(DAY, dt.time(10, 30), TOKYO),
                   3100)
    alone_toei = fare(toei_metro, [toei]).total
    alone_metro = fare(toei_metro, [metro]).total
    assert alone_metro == 178
    f = fare(toei_metro, [toei, metro])
    assert f.total == alone_toei + alone_metro - 70
    share = (-70 * alone_toei) // (alone_toei + 178)  # settlement: in proportion to each operator's fare
    assert f.per_operator() == {"toei-subway": alone_toei + share, "tokyo-metro": 178 - 70 - share}
    child = fare(toei_metro, [toei, metro], 1, 1)
    assert child.total == f.total + (alone_toei // 2 + 89 - 35)
    late = dataclasses.replace(metro, departure=metro.departure + dt.timedelta(minutes=51),
                               arrival=metro.arrival + dt.timedelta(minutes=51))  # 61 min after arriving
    assert fare(toei_metro, [toei, late]).total == alone_toei + alone_metro
    assert fare(toei_metro, [toei, metro], medium="ticket").total == \
        fare(toei_metro, [toei], medium="ticket").total + 180  # paper: no discount in this data
    elsewhere = dataclasses.replace(toei, to_stop="toei-subway:115")  # Higashi-nihombashi: not designated
    assert fare(toei_metro, [elsewhere, metro]).total == fare(toei_metro, [elsewhere]).total + 178


def test_profile_rounding_rules():
    toei = ChildRule()  # Toei: half; paper up to 10 yen, IC down to 1 yen
    assert [toei.child(x, "ic") for x in (178, 325, 430)] == [89, 162, 215]
    assert [toei.child(x, "ticket") for x in (180, 330, 430)] == [90, 170, 220]
    bus = ChildRule(50, Rounding(1, "nearest"), Rounding(10, "up"))
    assert [bus.child(x, "ic") for x in (199, 231, 210)] == [100, 116, 105]
    flat = OperatorProfile("x", fares=FareSpec("flat", flat={"ic": 100, "ticket": 100}, child=ChildRule(100)))
    catalog = {"x": OperatorSetup(flat, parse_fares({}, "x", ValidationReport("x"))).fares}
    assert fare(catalog, [leg("x", "R", "A", "B", "10:00", "10:10")], 1, 2, "ic").total == 300


def test_feed_without_fare_files_prices_by_the_profile_or_says_why():
    """A profile taking fares from a feed that has no fare files (the converted Mini Tokyo 3D feeds): its distance
    bands price a run of legs once, as a through fare (the common path, taken without raising); without bands or
    a flat fare the fare is unknown, saying the feed has no fare files."""
    from feeds.fares import FareTables
    from operators.fare_engine import OperatorFares

    toei = builtin_profile("toei-subway")
    assert toei.fares.source == "feed" and toei.fares.bands
    catalog = {"toei-subway": OperatorFares(toei, FareTables("toei-subway"))}
    a = leg("toei-subway", "1", "101", "113", "10:00", "10:20", km=3.0, index=1)
    b = leg("toei-subway", "4", "113", "120", "10:25", "10:35", km=3.5, index=2)
    f = fare(catalog, [a, b], 1, 1, "ic")
    assert f.prices[0].adult_fare == 220 and "through fare for legs 1–2" in f.prices[0].basis  # 6.5 km: ≤ 9 km
    assert f.prices[0].basis.count("through fare") == 1, f.prices[0].basis  # (once, not per path that priced it)
    assert f.prices[0].child_fare == 110 and f.prices[1].adult_fare == 0 and f.total == 330
    assert fare(catalog, [a], 1, 0, "ic").total == 178  # 3 km: ≤ 4 km
    bare = dataclasses.replace(toei, fares=dataclasses.replace(toei.fares, bands=()))
    with pytest.raises(FareUnknown, match="the feed has no fare files"):
        fare({"toei-subway": OperatorFares(bare, FareTables("toei-subway"))}, [a])


def test_v2_timeframes_are_local_times_of_the_feeds_zone(tmp_path):
    """A New York feed's peak timeframe (08:00–09:00 on weekdays) is New York's: a ride at 08:30 there is peak
    (it is 22:30 in Tokyo), one at 08:30 Tokyo time (18:30 the day before in New York) is not."""
    from zoneinfo import ZoneInfo

    t = v2_tables()
    t["agency"][0]["agency_timezone"] = "America/New_York"
    catalog = {"v2": setup_for_feed(load_feed(write_gtfs(tmp_path / "f", t), "v2")).fares}
    ny = ZoneInfo("America/New_York")
    peak = dataclasses.replace(leg("v2", "R1", "A", "B", "08:30", "08:40"),
                               departure=dt.datetime.combine(DAY, dt.time(8, 30), ny),
                               arrival=dt.datetime.combine(DAY, dt.time(8, 40), ny))
    assert fare(catalog, [peak]).total == 300
    assert fare(catalog, [leg("v2", "R1", "A", "B", "08:30", "08:40")]).total == 200
