"""A small real-coordinate Tokyo network for warning tests: from Shibuya to Ikebukuro either fast through
Tochomae (新宿区) or 10 minutes slower round by Tokyo, Kasuga and Otsuka (never in 新宿区)."""
from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

from feeds.feed import Network
from feeds.gtfs import load_feed
from gtfs_builders import hms, write_gtfs
from maas.transit import TransitService

DAY = dt.date(2026, 11, 24)  # a Tuesday
STOPS = {"SBY": ("渋谷", 35.6580, 139.7016), "TCM": ("都庁前", 35.6906, 139.6925), "IKB": ("池袋", 35.7295, 139.7109),
         "TKY": ("東京", 35.6812, 139.7671), "KSG": ("春日", 35.7087, 139.7522), "OTK": ("大塚", 35.7317, 139.7286)}
FAST = [("SBY", 0), ("TCM", 8 * 60), ("IKB", 18 * 60)]  # 18 min through 新宿区
SLOW = [("SBY", 0), ("TKY", 10 * 60), ("KSG", 16 * 60), ("OTK", 22 * 60), ("IKB", 28 * 60)]  # 28 min around it


def tables() -> dict:
    t = {
        "agency": [{"agency_id": "ag", "agency_name": "Mini", "agency_url": "https://example.org",
                    "agency_timezone": "Asia/Tokyo", "agency_lang": "ja"}],
        "stops": [{"stop_id": k, "stop_name": n, "stop_lat": str(lat), "stop_lon": str(lon), "location_type": "0",
                   "parent_station": "", "wheelchair_boarding": "1"} for k, (n, lat, lon) in STOPS.items()],
        "routes": [{"route_id": r, "agency_id": "ag", "route_short_name": r, "route_long_name": r, "route_type": "1",
                    "route_color": "", "route_text_color": ""} for r in ("FAST", "SLOW")],
        "trips": [], "stop_times": [],
        # one flat fare (no fare_rules: every ride), so plans and offers are priced
        "fare_attributes": [{"fare_id": "F", "price": "200", "currency_type": "JPY", "payment_method": "0",
                             "transfers": ""}],
        "calendar": [{"service_id": "WD", "monday": "1", "tuesday": "1", "wednesday": "1", "thursday": "1",
                      "friday": "1", "saturday": "1", "sunday": "1", "start_date": "20260101",
                      "end_date": "20271231"}],
    }
    for route, pattern in (("FAST", FAST), ("SLOW", SLOW)):
        for k, start in enumerate(range(7 * 3600, 11 * 3600, 900)):
            tid = f"{route}{k}"
            t["trips"].append({"route_id": route, "service_id": "WD", "trip_id": tid, "trip_headsign": "池袋",
                               "direction_id": "0"})
            for seq, (stop, off) in enumerate(pattern, start=1):
                t["stop_times"].append({"trip_id": tid, "arrival_time": hms(start + off),
                                        "departure_time": hms(start + off), "stop_id": stop,
                                        "stop_sequence": str(seq)})
    return copy.deepcopy(t)


def mini_transit(tmp: Path, namespace: str = "mini") -> TransitService:
    feed = load_feed(write_gtfs(tmp / "tokyo-mini", tables()), namespace)
    transit = TransitService(Network([feed]), threads=2)
    transit.planner_for(DAY)
    return transit
