"""Bounds every value from a request is checked against before it reaches a store, a Lua script or a date
computation (issue 10): one place, so the API's query parameters and the booking bodies agree."""
from __future__ import annotations

import datetime as dt

EARLIEST_DATE, LATEST_DATE = dt.date(2000, 1, 1), dt.date(2100, 12, 31)  # no year 1 or 9999 goes further
MAX_STOP_SEQUENCE = 2**31 - 1  # GTFS stop_sequence: a non-negative integer; the model keeps it as int32
MAX_ID_LEN = 200  # trip, stop, route, operator and itinerary ids

