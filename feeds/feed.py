"""The normalised feed: typed tables with namespaced ids, the single input of the transit model builder."""
from __future__ import annotations

import datetime as dt
import lzma
import pickle
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from feeds.fares import FareTables
from feeds.problems import ValidationReport
from feeds.profile import OperatorProfile

if TYPE_CHECKING:
    import pandas as pd

TOKYO = dt.timezone(dt.timedelta(hours=9), "JST")  # Japan keeps no DST: one offset for every service day
TABLES = ("agencies", "stops", "routes", "trips", "stop_times", "calendar", "calendar_dates", "frequencies",
          "transfers", "shapes", "booking_rules", "fare_attributes", "fare_rules")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Tables a server keeps packed once its feeds are loaded (`Network.pack`): every one, so that a serving process
# that got its feeds from the loading child holds no DataFrame and never imports pandas (+25 MiB anonymous, +7 MiB
# of its libraries resident) unless a build runs in it (a small network's model, a published feed). It reads them
# only to build: a service day's model and, once per feed or network, the realtime trip index and the name index;
# what it reads off them otherwise is taken before packing (`FeedFacts`). The biggest by far is stop_times
# (all-Tokyo rail: 1.2M rows, 41.5 MiB as pandas columns, 3.7 MiB packed; trips 17.9 and transfers 6.2 MiB)
PACKED = TABLES


# xz preset 0 (LZMA, the fastest): all-Tokyo's five packed tables hold 3.0 MiB instead of 5.2 with zlib level 1
# (stop_times 2.1 vs 3.7), every server process all the time; packing them once in the loading child takes ~0.6 s
# more, each unpack of stop_times (once per model build, in a child) ~0.08 s more
PACK_PRESET = 0


class PackedTable:
    """A table kept as one compressed pickle: a fraction of its columns' bytes, unpacked whole on each read
    (all-Tokyo's stop_times: ~1 s on a busy machine, once per model build)."""

    __slots__ = ("blob", "rows")

    def __init__(self, df: pd.DataFrame):
        self.blob = lzma.compress(pickle.dumps(df, protocol=pickle.HIGHEST_PROTOCOL), preset=PACK_PRESET)
        self.rows = len(df)

    def unpack(self) -> pd.DataFrame:
        return pickle.loads(lzma.decompress(self.blob))


class _Table:
    """A Feed table attribute that may hold a PackedTable: each read of a packed one unpacks a new DataFrame,
    which the reader drops when done (so change a table by assigning it, never in place)."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        v = obj.__dict__[self.name]
        return v.unpack() if isinstance(v, PackedTable) else v

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.name] = value


@dataclass(frozen=True)
class FeedFacts:
    """What a serving process reads off a feed's tables besides its builds (an operator's default profile and seat
    rules, the service span, the known trip ids): taken once from the tables (`feed_facts`) while they are
    DataFrames (`Feed.pack`: for a big network in the loading child), so a server holding packed tables never
    unpacks one, nor imports pandas, to list, price or book."""

    agency_name: str | None  # the first agency's name (None: no agency)
    first_date: dt.date | None  # first and last date any service may run (None: none)
    last_date: dt.date | None
    seat_capacities: dict[str, int]  # trip id → seats, the trips whose seat_capacity is > 0
    notice_min: dict[str, int]  # trip id → least booking notice, minutes (booking rule of its first booked pickup)
    notice_max: dict[str, int]  # trip id → furthest ahead bookable, minutes
    trip_ids_xz: bytes  # every trip id, a pickled list xz-compressed: read once, by the first booking that asks

    @property
    def seated(self) -> bool:
        return bool(self.seat_capacities)

    def trip_ids(self) -> list[str]:
        return pickle.loads(lzma.decompress(self.trip_ids_xz))


def feed_facts(feed: "Feed") -> FeedFacts:
    """`FeedFacts` of ``feed`` from its tables (unpacking packed ones: pandas)."""
    agencies, trips, rules = feed.agencies, feed.trips, feed.booking_rules
    caps = {str(t): int(c) for t, c in zip(trips["trip_id"], trips["seat_capacity"]) if int(c) > 0}
    least: dict[str, int] = {}
    most: dict[str, int] = {}
    if len(rules) and feed.rows("stop_times"):
        def per_rule(column: str) -> dict[str, int]:
            return {str(r): int(m) for r, m in zip(rules["booking_rule_id"], rules[column]) if int(m) >= 0}
        lo, hi = per_rule("prior_notice_duration_min"), per_rule("prior_notice_duration_max")
        st = feed.stop_times
        firsts = st[st["pickup_booking_rule_id"].astype(str) != ""].drop_duplicates("trip_id")
        for trip, rule in zip(firsts["trip_id"], firsts["pickup_booking_rule_id"]):
            if str(rule) in lo:
                least[str(trip)] = lo[str(rule)]
            if str(rule) in hi:
                most[str(trip)] = hi[str(rule)]
    first, last = _service_span(feed.calendar, feed.calendar_dates)
    ids = [str(t) for t in trips["trip_id"].tolist()]
    return FeedFacts(str(agencies["agency_name"].iloc[0]) if len(agencies) else None, first, last, caps, least, most,
                     lzma.compress(pickle.dumps(ids, protocol=pickle.HIGHEST_PROTOCOL), preset=PACK_PRESET))


def _service_span(cal, cd) -> tuple[dt.date | None, dt.date | None]:
    dates = []
    if len(cal):
        dates += [cal["start_date"].min(), cal["end_date"].max()]
    if len(cd):
        added = cd[cd["exception_type"] == 1]["date"]
        if len(added):
            dates += [added.min(), added.max()]
    return (min(dates), max(dates)) if dates else (None, None)


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
    # `facts`, once taken (not copied by dataclasses.replace, whose tables may differ)
    _facts: FeedFacts | None = field(default=None, init=False, repr=False, compare=False)

    def facts(self) -> FeedFacts:
        """`FeedFacts` of this feed: taken by `pack`, else here on first use."""
        if self._facts is None:
            self._facts = feed_facts(self)
        return self._facts

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
        facts = self.facts()
        return facts.first_date, facts.last_date

    def pack(self, names: tuple[str, ...] = PACKED) -> int:
        """Keep the tables ``names`` packed (`PackedTable`); returns the bytes their columns held. Answers stay
        the same: a packed table unpacks to an equal DataFrame."""
        import pandas as pd

        self.facts()  # (while the tables are DataFrames: a reader of the packed feed never unpacks them for these)
        freed = 0
        for name in names:
            v = self.__dict__[name]
            if isinstance(v, pd.DataFrame):  # (an empty one too: unpickling it would import pandas)
                freed += int(v.memory_usage(index=True, deep=True).sum())
                self.__dict__[name] = PackedTable(v)
        return freed

    def rows(self, name: str) -> int:
        """Rows of a table, without unpacking a packed one."""
        v = self.__dict__[name]
        return v.rows if isinstance(v, PackedTable) else len(v)

    def nbytes(self) -> int:
        """Bytes of the tables as held (ids and texts of the long tables are Categoricals: codes plus distinct
        values; a packed table: its compressed bytes)."""
        total = 0
        for name in TABLES:
            v = self.__dict__[name]
            total += len(v.blob) if isinstance(v, PackedTable) else int(v.memory_usage(index=True, deep=True).sum())
        return total

    def summary(self) -> dict:
        import pandas as pd

        first, last = self.service_dates()
        stops = self.stops  # (one unpack, when packed)
        return {
            "feed": self.namespace,
            "agencies": len(self.agencies),
            "stops": int((stops["location_type"] == 0).sum()) if len(stops) else 0,
            "stations": int((stops["location_type"] == 1).sum()) if len(stops) else 0,
            "routes": len(self.routes),
            "trips": self.rows("trips"),
            "stop_times": self.rows("stop_times"),
            "services": int(pd.concat([self.calendar.get("service_id", pd.Series(dtype=str)),
                                       self.calendar_dates.get("service_id", pd.Series(dtype=str))]).nunique()),
            "first_date": first.isoformat() if first else None,
            "last_date": last.isoformat() if last else None,
            "timezone": self.timezone,
        }


for _name in PACKED:  # after the dataclass is made: its __init__ assigns the tables through these
    setattr(Feed, _name, _Table(_name))


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
        import pandas as pd

        frames = [getattr(f, name) for f in self.feeds if f.rows(name)]
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

    def pack(self) -> int:
        """Every feed's big tables packed (`Feed.pack`), once its feeds are loaded; returns the bytes freed."""
        return sum(f.pack() for f in self.feeds)

    def feed(self, namespace: str) -> Feed:
        for f in self.feeds:
            if f.namespace == namespace:
                return f
        raise KeyError(namespace)
