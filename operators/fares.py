"""Fare tables: GTFS zone-pair fares when the feed has them, the operator's published distance bands otherwise.

The official Toei GTFS-JP feed prices every origin/destination pair (fare_rules by zone, zone_id = stop_id) in IC
fares; paper-ticket fares are the IC fare rounded up to 10 yen and child fares are half (ticket: up to 10 yen, IC:
down to 1 yen). All amounts are int JPY.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from maas.money import half_down, half_up_to, round_up

# Toei subway IC fare by distance (upper bound in whole km, fare), fares from 2019-10.
TOEI_SUBWAY_IC_BANDS: tuple[tuple[int, int], ...] = ((4, 178), (9, 220), (15, 272), (21, 325), (27, 377), (46, 430))


def _raw(value: object) -> str:
    """Strip a feed namespace (``toei-subway:101`` → ``101``) so namespaced and raw ids compare equal."""
    s = "" if value is None else str(value)
    return s.split(":", 1)[1] if ":" in s else s


def distance_band_fare(distance_m: int, bands: tuple[tuple[int, int], ...] = TOEI_SUBWAY_IC_BANDS) -> tuple[int, int]:
    """IC fare and charged km for a ride of ``distance_m`` (km rounded up, at least 1; beyond the table: top band)."""
    km = max(1, -(-int(distance_m) // 1000))
    for upper, fare in bands:
        if km <= upper:
            return fare, km
    return bands[-1][1], km


def ticket_fares(ic_adult: int, medium: str) -> tuple[int, int]:
    """(adult, child) fares for ``medium`` from the adult IC fare, with Toei's rounding rules."""
    if medium == "ic":
        return ic_adult, half_down(ic_adult)
    if medium == "ticket":
        adult = round_up(ic_adult, 10)
        return adult, half_up_to(adult, 10)
    raise ValueError(f"unknown fare medium {medium!r} (use 'ic' or 'ticket')")


@dataclass
class FareTable:
    """Adult IC fare per (origin zone, destination zone), and each stop's zone (raw, un-namespaced ids)."""

    pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    stop_zone: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pairs)

    def zone_of(self, stop_id: str) -> str:
        raw = _raw(stop_id)
        return self.stop_zone.get(raw, raw)  # Toei: zone_id == stop_id

    def lookup(self, from_stop: str, to_stop: str) -> int | None:
        return self.pairs.get((self.zone_of(from_stop), self.zone_of(to_stop)))

    @classmethod
    def from_rows(cls, fare_attributes: list[dict], fare_rules: list[dict],
                  stops: list[dict] | None = None) -> "FareTable":
        """Build from plain row dicts (csv.DictReader rows or DataFrame records). Prices must be integral yen."""
        price: dict[str, int] = {}
        for row in fare_attributes:
            value = float(row["price"])
            if value != int(value) or value < 0:
                raise ValueError(f"fare {row.get('fare_id')}: price {row['price']} is not whole yen")
            price[_raw(row["fare_id"])] = int(value)
        pairs: dict[tuple[str, str], int] = {}
        for row in fare_rules:
            o, d = _raw(row.get("origin_id")), _raw(row.get("destination_id"))
            fare = price.get(_raw(row["fare_id"]))
            if o and d and fare is not None:
                pairs[(o, d)] = fare
        zones = {}
        for row in stops or []:
            z = _raw(row.get("zone_id"))
            if z:
                zones[_raw(row["stop_id"])] = z
        return cls(pairs, zones)

    @classmethod
    def from_frames(cls, fare_attributes, fare_rules, stops=None) -> "FareTable":
        """Build from the Feed's DataFrames (``feeds/feed.py``); empty frames give an empty table."""
        def records(df):
            return [] if df is None or len(df) == 0 else df.astype(object).fillna("").to_dict("records")
        return cls.from_rows(records(fare_attributes), records(fare_rules), records(stops) or None)

    @classmethod
    def from_feed(cls, feed) -> "FareTable":
        return cls.from_frames(feed.fare_attributes, feed.fare_rules, feed.stops)

    @classmethod
    def from_gtfs_zip(cls, path: str | Path) -> "FareTable":
        """Read fare_attributes/fare_rules/stops straight from a GTFS zip (small files; no full feed load)."""
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())

            def rows(name: str) -> list[dict]:
                if name not in names:
                    return []
                return list(csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8-sig")))
            return cls.from_rows(rows("fare_attributes.txt"), rows("fare_rules.txt"), rows("stops.txt"))
