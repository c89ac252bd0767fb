"""Shuttle operator feeds: GTFS plus seats (trips.seat_capacity) and GTFS-Flex booking rules (docs/shuttle-feed.md).

A shuttle feed is a GTFS feed with stricter rules, because its seats are sold: every trip states how many seats it
has, and every stop where boarding must be booked (pickup_type 2) names the booking rule that governs it.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from feeds.feed import Feed
from feeds.gtfs import load_feed
from feeds.problems import ValidationReport
from feeds.sellable import booked_trip_ids
from feeds.validate import DEFAULT_LIMIT, RowFlagger, parse_numbers

if TYPE_CHECKING:
    import pandas as pd

BOOK = 2  # pickup_type / drop_off_type "must phone agency to arrange" = the seat must be booked


def check_shuttle_tables(tables: dict[str, pd.DataFrame], report: ValidationReport,
                         limit: int = DEFAULT_LIMIT) -> None:
    """Shuttle-only rules on the raw tables (rows stay located): seats on every trip, booking rules where booked."""
    import pandas as pd

    ctx = RowFlagger(report, limit)
    trips = tables.get("trips")
    if trips is not None and "trip_id" in trips.columns:
        if "seat_capacity" not in trips.columns:
            report.error("trips.txt", "a shuttle feed needs the trips.txt column seat_capacity (seats per trip)",
                         field="seat_capacity")
        else:
            seats, bad = parse_numbers(trips["seat_capacity"], integer=True)
            booked = trips["trip_id"].isin(booked_trip_ids(tables)).to_numpy()  # feeds/sellable.py flags those
            ctx.flag("error", "trips.txt", trips, ~bad & ~(seats >= 1) & ~booked,
                     lambda r: f"shuttle trip {r['trip_id']!r} has no seat_capacity >= 1 "
                               f"({r['seat_capacity']!r}): seats must be stated to be sold", "seat_capacity")
    st = tables.get("stop_times")
    if st is None or "trip_id" not in st.columns:
        return
    booked_any = False
    for kind in ("pickup", "drop_off"):
        type_col, rule_col = f"{kind}_type", f"{kind}_booking_rule_id"
        if type_col not in st.columns:
            continue
        kinds, _ = parse_numbers(st[type_col], integer=True)
        booked = kinds == BOOK
        booked_any |= bool(booked.any())
        rules = st[rule_col] if rule_col in st.columns else pd.Series("", index=st.index)
        ctx.flag("error", "stop_times.txt", st, booked & (rules == "").to_numpy(),
                 lambda r, t=type_col, c=rule_col: f"trip {r['trip_id']!r} stop_sequence {r['stop_sequence']}: "
                                                   f"{t} 2 (booking required) needs {c}", rule_col)
    if not booked_any:
        report.warning("stop_times.txt", "no stop requires booking (pickup_type 2): the shuttle's seats cannot "
                                         "be reserved through the MaaS app")
    has_rules = "booking_rules" in tables and len(tables["booking_rules"])
    if booked_any and not has_rules:
        report.error("booking_rules.txt", "booking_rules.txt is missing or empty, but stops require booking")


def load_shuttle_feed(path: str | Path, namespace: str | None = None) -> Feed:
    """`load_feed` with the shuttle rules added; raises `FeedRejected` when either is broken."""
    return load_feed(path, namespace, extra_checks=(check_shuttle_tables,))


def seats_by_trip(feed: Feed) -> pd.Series:
    """Seat capacity per namespaced trip_id, only for seated (bookable) trips."""
    import pandas as pd

    trips = feed.trips
    seated = trips["seat_capacity"].to_numpy() >= 0
    return pd.Series(trips["seat_capacity"].to_numpy()[seated], index=trips["trip_id"].to_numpy()[seated],
                     dtype=np.int32)
