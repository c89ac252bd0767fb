"""Checks that make a feed sellable through the platform, whatever the operator: a trip that must be booked (its
stop_times name a GTFS-Flex booking rule) states its seats (trips.seat_capacity >= 1), or seats could be sold
without limit."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from feeds.problems import ValidationReport
from feeds.validate import DEFAULT_LIMIT, RowFlagger, parse_numbers

if TYPE_CHECKING:
    import pandas as pd


def booked_trip_ids(tables: dict[str, pd.DataFrame]) -> set[str]:
    st = tables.get("stop_times")
    if st is None or "trip_id" not in st.columns:
        return set()
    mask = np.zeros(len(st), bool)
    for col in ("pickup_booking_rule_id", "drop_off_booking_rule_id"):
        if col in st.columns:
            mask |= (st[col].str.strip() != "").to_numpy()
    return set(st.loc[mask, "trip_id"])


def check_sellable_tables(tables: dict[str, pd.DataFrame], report: ValidationReport,
                          limit: int = DEFAULT_LIMIT) -> None:
    trips = tables.get("trips")
    booked = booked_trip_ids(tables)
    if not booked or trips is None or "trip_id" not in trips.columns:
        return
    needs = trips["trip_id"].isin(booked).to_numpy()
    if "seat_capacity" in trips.columns:
        seats, bad = parse_numbers(trips["seat_capacity"], integer=True)
        missing = needs & ~bad & ~(seats >= 1)
    else:
        missing = needs
    RowFlagger(report, limit).flag(
        "error", "trips.txt", trips, missing,
        lambda r: f"trip {r['trip_id']!r} must be booked (its stop_times name a booking rule) but states no "
                  f"seat_capacity >= 1: seats must be stated to be sold", "seat_capacity")
