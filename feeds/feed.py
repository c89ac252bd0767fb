"""The normalised feed: typed tables with namespaced ids, the single input of the transit model builder."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from feeds.fares import FareTables
from feeds.problems import ValidationReport
from feeds.profile import OperatorProfile

TOKYO = dt.timezone(dt.timedelta(hours=9), "JST")  # Japan keeps no DST: one offset for every service day
TABLES = ("agencies", "stops", "routes", "trips", "stop_times", "calendar", "calendar_dates", "frequencies",
          "transfers", "shapes", "booking_rules", "fare_attributes", "fare_rules")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def ns_id(namespace: str, raw: str) -> str:
    """Namespace one raw GTFS id so two operators' ids never collide (``toei-bus:1234``)."""
    return f"{namespace}:{raw}"


@dataclass
class Feed:
    """One operator's validated feed. Column contracts are in docs/architecture.md; every id is namespaced."""

    namespace: str
    timezone: str
    report: ValidationReport
    agencies: pd.DataFrame
    stops: pd.DataFrame
    routes: pd.DataFrame
    trips: pd.DataFrame
    stop_times: pd.DataFrame
    calendar: pd.DataFrame
    calendar_dates: pd.DataFrame
    frequencies: pd.DataFrame
    transfers: pd.DataFrame
    shapes: pd.DataFrame
    booking_rules: pd.DataFrame
    fare_attributes: pd.DataFrame
    fare_rules: pd.DataFrame
    feed_info: dict = field(default_factory=dict)
    fares: FareTables | None = None  # every fare file, typed (feeds/fares.py)
    profile: OperatorProfile | None = None  # from the feed's operator.json, if it has one

    def service_ids_on(self, date: dt.date) -> set[str]:
        """Services running on ``date``: calendar.txt by weekday and range, then calendar_dates exceptions."""
        active: set[str] = set()
        cal = self.calendar
        if len(cal):
            day = WEEKDAYS[date.weekday()]
            hit = (cal[day] == 1) & (cal["start_date"] <= date) & (cal["end_date"] >= date)
            active.update(cal.loc[hit, "service_id"])
        cd = self.calendar_dates
        if len(cd):
            today = cd[cd["date"] == date]
            active.update(today.loc[today["exception_type"] == 1, "service_id"])
            active.difference_update(today.loc[today["exception_type"] == 2, "service_id"])
        return active

    def dates_of_service(self, service_id: str) -> frozenset[dt.date]:
        """Every date ``service_id`` runs (calendar weekdays in its range, then calendar_dates exceptions)."""
        days: set[dt.date] = set()
        cal = self.calendar
        if len(cal):
            for row in cal[cal["service_id"] == service_id].itertuples(index=False):
                d = row.start_date
                while d <= row.end_date:
                    if getattr(row, WEEKDAYS[d.weekday()]) == 1:
                        days.add(d)
                    d += dt.timedelta(days=1)
        cd = self.calendar_dates
        if len(cd):
            mine = cd[cd["service_id"] == service_id]
            days |= set(mine.loc[mine["exception_type"] == 1, "date"])
            days -= set(mine.loc[mine["exception_type"] == 2, "date"])
        return frozenset(days)

    def service_dates(self) -> tuple[dt.date | None, dt.date | None]:
        """First and last date any service may run (for summaries)."""
        dates = []
        if len(self.calendar):
            dates += [self.calendar["start_date"].min(), self.calendar["end_date"].max()]
        if len(self.calendar_dates):
            added = self.calendar_dates[self.calendar_dates["exception_type"] == 1]["date"]
            if len(added):
                dates += [added.min(), added.max()]
        return (min(dates), max(dates)) if dates else (None, None)

    def nbytes(self) -> int:
        """Bytes of the tables (ids and texts of the long tables are Categoricals: codes plus distinct values)."""
        return sum(int(getattr(self, name).memory_usage(index=True, deep=True).sum()) for name in TABLES)

    def summary(self) -> dict:
        first, last = self.service_dates()
        return {
            "feed": self.namespace,
            "agencies": len(self.agencies),
            "stops": int((self.stops["location_type"] == 0).sum()) if len(self.stops) else 0,
            "stations": int((self.stops["location_type"] == 1).sum()) if len(self.stops) else 0,
            "routes": len(self.routes),
            "trips": len(self.trips),
            "stop_times": len(self.stop_times),
            "services": int(pd.concat([self.calendar.get("service_id", pd.Series(dtype=str)),
                                       self.calendar_dates.get("service_id", pd.Series(dtype=str))]).nunique()),
            "first_date": first.isoformat() if first else None,
            "last_date": last.isoformat() if last else None,
            "timezone": self.timezone,
        }


@dataclass
class Network:
    """Several operators' feeds taken together. Ids are namespaced, so merging is concatenation."""

    feeds: list[Feed]

    def __post_init__(self) -> None:
        names = [f.namespace for f in self.feeds]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"two feeds share the namespace {sorted(dup)}: give each operator its own")

    def table(self, name: str) -> pd.DataFrame:
        frames = [getattr(f, name) for f in self.feeds if len(getattr(f, name))]
        if not frames:
            return getattr(self.feeds[0], name).iloc[0:0] if self.feeds else pd.DataFrame()
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def nbytes(self) -> int:
        return sum(f.nbytes() for f in self.feeds)

    def service_ids_on(self, date: dt.date) -> set[str]:
        out: set[str] = set()
        for f in self.feeds:
            out |= f.service_ids_on(date)
        return out

    def feed(self, namespace: str) -> Feed:
        for f in self.feeds:
            if f.namespace == namespace:
                return f
        raise KeyError(namespace)
