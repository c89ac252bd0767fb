"""A brute-force journey planner over the raw feed tables, sharing no code with the model builder or the kernel.

It reads the `Feed` tables (ids, not model indexes), expands every trip run itself (the day before, the day and
the day after the query date, plus two days back for runs still going after the day before's midnight;
frequencies), works out footpaths from coordinates and transfers.txt, and relaxes every run per round. The rules
it models, all at once:
  * a change after a ride at stop s: the next vehicle leaves s at arrival + max(min_transfer_s, the feed's
    same-stop time), or a stop u within walking at arrival + max(min_transfer_s, walk(s, u)), where
    walk(s, u) = max(the feed's pair time, ceil(metres / speed)); the walk itself ends at arrival + walk(s, u)
  * a walk from a source or to a target is just walk(s, u); transfer_type 3 forbids the pair
  * in-seat links (transfer_type 4 between two runs of the same day): a run ridden to its last stop continues on
    the linked run from the link's to-stop in the same round, no change time, subject to the same mode filter,
    wheelchair and closure rules as any ride
  * wheelchair: accessible runs only, boarding and alighting at accessible stops
  * closures: per stop and per (route, from stop, to stop) hop a window [from, until); a closed stop cannot be
    boarded, alighted, passed through, left or reached on foot while it is closed (a walk may wait before it
    leaves, as long as it needs); a closed hop cannot be ridden
  * a horizon (since, until): every ride leaves at or after since and arrives by until (walks may go beyond: the
    kernel's bound); with ``whole`` the journey itself, walks too, leaves at or after since and arrives by until
    (the planner's answers: a walk waiting out a closure with no end makes no journey)
Times are seconds since the query date's midnight (Tokyo: the feeds here have no DST).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

INF = math.inf
DAY = 86400
RADIUS_M, DETOUR = 300.0, 1.3  # the footpath radius and detour the model is built with (BuildSettings)


def plan_horizon(t: int) -> tuple[int, int]:
    """(since, until) of a plan asked for at t, as the planner's answer is defined: its rides lie between the
    midnight starting the day before t's day and the one ending the day after (worked out here, not imported, so
    a planner with another horizon fails the tests that pass this one to `Reference.earliest`)."""
    day = math.floor(t / DAY)
    return (day - 1) * DAY, (day + 2) * DAY - 1


def _metres(lat1, lon1, lat2, lon2) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(min(a, 1.0)))


@dataclass
class Run:
    key: str  # trip id # day
    trip: str
    route: str
    route_type: int
    wheelchair: int
    day: int
    rows: list  # (stop id, arr, dep, pickup ok, dropoff ok)


@dataclass
class Closures:
    stops: dict = field(default_factory=dict)  # stop id -> (from, until)
    hops: dict = field(default_factory=dict)  # (route id, from stop id, to stop id) -> (from, until)

    def stop(self, s, a, b=None) -> bool:
        w = self.stops.get(s)
        b = a if b is None else b
        return w is not None and w[0] < w[1] and w[0] <= b and a < w[1]

    def walk_end(self, s, u, a, w) -> int:
        """The earliest end of a walk s → u of w seconds that may leave at a: leaving and arriving while open.
        The times it may leave form [a, ∞) less two intervals, so the first is a or where one of them ends."""
        ends = [self.stops[s][1]] if s in self.stops else []
        ends += [self.stops[u][1] - w] if u in self.stops else []
        for t in sorted([a, *(x for x in ends if x > a)]):
            if not self.stop(s, t) and not self.stop(u, t + w):
                return t + w
        raise AssertionError("unreachable: past both windows a walk is free")

    def walk_start(self, s, u, t, w) -> int:
        """The latest start at or before t of the walk of `walk_end`."""
        starts = [self.stops[s][0] - 1] if s in self.stops else []
        starts += [self.stops[u][0] - 1 - w] if u in self.stops else []
        for x in sorted([t, *(x for x in starts if x < t)], reverse=True):
            if not self.stop(s, x) and not self.stop(u, x + w):
                return x
        raise AssertionError("unreachable: before both windows a walk is free")

    def hop(self, route, s, u, a, b) -> bool:
        w = self.hops.get((route, s, u))
        return w is not None and w[0] < w[1] and w[0] <= b and a < w[1]


class Reference:
    def __init__(self, network, date: dt.date):
        self.date = date
        stops = network.table("stops")
        lt = stops["location_type"].astype(int)
        self.stop_rows = {r.stop_id: r for r in stops[lt == 0].itertuples()}
        parents = {r.stop_id: r for r in stops[lt == 1].itertuples()}
        self.accessible = {}
        for sid, r in self.stop_rows.items():
            wc = int(r.wheelchair_boarding)
            if wc == 0 and r.parent_station in parents:
                wc = int(parents[r.parent_station].wheelchair_boarding)
            self.accessible[sid] = wc == 1
        self.runs = self._runs(network)
        self._footpaths(network)
        self._links(network)

    # ---- data ----
    def _runs(self, network) -> dict[str, Run]:
        trips = network.table("trips")
        routes = {r.route_id: int(r.route_type) for r in network.table("routes").itertuples()}
        st = network.table("stop_times").sort_values(["trip_id", "stop_sequence"])
        by_trip = {t: g for t, g in st.groupby("trip_id")}
        freq = network.table("frequencies")
        active = {d: network.service_ids_on(self.date + dt.timedelta(days=d)) for d in (-2, -1, 0, 1, 2)}
        out = {}
        for t in trips.itertuples():
            g = by_trip.get(t.trip_id)
            if g is None or len(g) < 2:
                continue
            base = [(r.stop_id, int(r.arrival), int(r.departure), int(r.pickup_type) != 1,
                     int(r.drop_off_type) != 1) for r in g.itertuples()]
            starts = [(None, 0)]
            fr = freq[freq["trip_id"] == t.trip_id] if len(freq) else freq
            if len(fr):
                starts = [(s, s - base[0][2]) for f in fr.itertuples()
                          for s in range(int(f.start_time), int(f.end_time), int(f.headway_secs))]
            for d, ids in active.items():
                if t.service_id not in ids:
                    continue
                for label, shift in starts:
                    name = t.trip_id if label is None else \
                        f"{t.trip_id}@{label // 3600:02d}:{label // 60 % 60:02d}:{label % 60:02d}"
                    sh = shift + d * DAY
                    rows = [(s, a + sh, dp + sh, pu, do) for s, a, dp, pu, do in base]
                    if rows[-1][1] < -DAY:
                        continue
                    out[f"{name}#{d}"] = Run(f"{name}#{d}", name, t.route_id, routes[t.route_id],
                                             int(t.wheelchair_accessible), d, rows)
        return out

    def _footpaths(self, network) -> None:
        ids = list(self.stop_rows)
        self.fp: dict[tuple, tuple] = {}  # (a, b) -> (fixed seconds or None, metres)
        for a in ids:
            ra = self.stop_rows[a]
            for b in ids:
                if a == b:
                    continue
                rb = self.stop_rows[b]
                d = _metres(ra.stop_lat, ra.stop_lon, rb.stop_lat, rb.stop_lon) * DETOUR
                if d <= RADIUS_M:
                    self.fp[(a, b)] = (None, d)
        self.same_stop: dict[str, int] = {}
        tr = network.table("transfers")
        if "from_trip_id" in tr.columns:
            tr = tr[(tr["from_trip_id"].fillna("") == "") & (tr["to_trip_id"].fillna("") == "")]
        for r in tr.itertuples():
            a, b = r.from_stop_id, r.to_stop_id
            if a not in self.stop_rows or b not in self.stop_rows:
                continue
            if int(r.transfer_type) == 3:
                self.fp.pop((a, b), None)
                continue
            mtt = None if (r.min_transfer_time is None or math.isnan(r.min_transfer_time)) else int(r.min_transfer_time)
            if a == b:
                if mtt is not None:
                    self.same_stop[a] = mtt
                continue
            ra, rb = self.stop_rows[a], self.stop_rows[b]
            d = self.fp.get((a, b), (None, _metres(ra.stop_lat, ra.stop_lon, rb.stop_lat, rb.stop_lon) * DETOUR))[1]
            self.fp[(a, b)] = (mtt, d)
        self.fp_from: dict[str, list] = {}
        for (a, b), v in self.fp.items():
            self.fp_from.setdefault(a, []).append((b, v))

    def _links(self, network) -> None:
        tr = network.table("transfers")
        self.links: dict[str, list] = {}  # run key -> [(to run key, to position)]
        if "from_trip_id" not in tr.columns:
            return
        pairs = {}
        banned = set()
        for r in tr.itertuples():
            f, t = (r.from_trip_id or ""), (r.to_trip_id or "")
            if not f or not t:
                continue
            if int(r.transfer_type) == 5:
                banned.add((f, t))
            elif int(r.transfer_type) == 4:
                pairs.setdefault((f, t), (r.from_stop_id or "", r.to_stop_id or ""))
        for (f, t), (fs, ts) in pairs.items():
            if (f, t) in banned or f == t:
                continue
            for d in (-2, -1, 0, 1, 2):
                a, b = self.runs.get(f"{f}#{d}"), self.runs.get(f"{t}#{d}")
                if a is None or b is None:
                    continue
                if fs and a.rows[-1][0] != fs:
                    continue
                pos = next((i for i, row in enumerate(b.rows) if row[0] == ts), 0) if ts else 0
                if pos >= len(b.rows) - 1 or b.rows[pos][2] < a.rows[-1][1]:
                    continue
                self.links.setdefault(a.key, []).append((b.key, pos))

    # ---- search ----
    def walk_s(self, v, speed) -> int:
        fixed, metres = v
        w = int(math.ceil(float(_f32(metres)) / speed))
        return max(w, fixed) if fixed is not None else w

    def earliest(self, sources, targets, max_rides, *, min_transfer=60, speed=1.2, wheelchair=False,
                 modes=None, closures: Closures | None = None, inseat=True, report_walks=True,
                 horizon=(-INF, INF), whole=False) -> list[float]:
        """best[k]: earliest arrival (egress included) with at most k rides; sources [(stop id, time)],
        targets [(stop id, egress s)]; ``modes``: allowed route types (None: all); ``horizon``: (since, until),
        every ride leaves at or after since and arrives by until; ``whole``: the journey too (it leaves a source
        at or after since, waiting there if need be, and arrives by until: later arrivals count as none)."""
        since, until = horizon
        cl = closures or Closures()
        egress = {}
        for s, e in targets:
            egress[s] = min(e, egress.get(s, INF))
        board = {}
        for s, t in sources:  # (closed or not: boarding there, or walking off, checks its own time)
            t = max(t, since) if whole else t
            board[s] = min(t, board.get(s, INF))
        best = INF
        if report_walks:
            for s, t in board.items():
                best = min(best, t + egress.get(s, INF))
        walked0 = {}
        for s, t in list(board.items()):
            for u, v in self.fp_from.get(s, []):
                walked0[u] = min(walked0.get(u, INF), cl.walk_end(s, u, t, self.walk_s(v, speed)))
        for u, wt in walked0.items():
            board[u] = min(board.get(u, INF), wt)
            if report_walks:
                best = min(best, wt + egress.get(u, INF))
        out = [best]
        usable = [r for r in self.runs.values()
                  if (modes is None or r.route_type in modes) and (not wheelchair or r.wheelchair == 1)]
        ok_run = {r.key for r in usable}
        for _k in range(max_rides):
            arrive = {}
            # every boarding a run allows (a closure may stop a ride that started earlier on it)
            work = [(r.key, i) for r in usable for i, (s, a, d, pu, do) in enumerate(r.rows[:-1])
                    if pu and d >= board.get(s, INF) and d >= since and self._stop_ok(s, wheelchair)
                    and not cl.stop(s, d)]
            seen = set()
            while work:
                key, i = work.pop()
                if (key, i) in seen:
                    continue
                seen.add((key, i))
                r = self.runs[key]
                for q in range(i + 1, len(r.rows)):
                    ps, pa, pd_, _, _ = r.rows[q - 1]
                    s, a, d, pu, do = r.rows[q]
                    if (q - 1 > i and cl.stop(ps, pa, pd_)) or cl.hop(r.route, ps, s, pd_, a):
                        break
                    if do and a <= until and self._stop_ok(s, wheelchair) and not cl.stop(s, a):
                        arrive[s] = min(arrive.get(s, INF), a)
                    if q == len(r.rows) - 1 and inseat and not cl.stop(s, a):
                        for bkey, pos in self.links.get(key, []):  # stay seated onto a linked run
                            b = self.runs[bkey]
                            if bkey in ok_run and b.rows[pos][2] >= a and not cl.stop(b.rows[pos][0], b.rows[pos][2]):
                                work.append((bkey, pos))
            nxt = dict(board)
            for s, a in arrive.items():
                best = min(best, a + egress.get(s, INF))
                same = a + max(min_transfer, self.same_stop.get(s, 0))
                nxt[s] = min(nxt.get(s, INF), same)
                for u, v in self.fp_from.get(s, []):
                    end = cl.walk_end(s, u, a, self.walk_s(v, speed))
                    best = min(best, end + egress.get(u, INF))
                    nxt[u] = min(nxt.get(u, INF), max(end, a + min_transfer))
            board = nxt
            out.append(best)
        return [INF if whole and b > until else b for b in out]

    def _stop_ok(self, s, wheelchair) -> bool:
        return not wheelchair or self.accessible[s]

    def departures(self, sources, t0, t1, speed=1.2, modes=None, wheelchair=False,
                   closures: Closures | None = None) -> list[int]:
        """Times in [t0, t1] when leaving the sources [(stop, access s)] catches a run just in time, at a source
        stop or one walk from it (a walk as late as it can leave and still arrive by then, `Closures.walk_start`):
        every journey's latest departure."""
        cl = closures or Closures()
        out = set()
        for s, acc in sources:
            near = [(s, 0)] + [(u, self.walk_s(v, speed)) for u, v in self.fp_from.get(s, [])]
            for u, w in near:
                if wheelchair and not self.accessible[u]:
                    continue
                for r in self.runs.values():
                    if (modes is not None and r.route_type not in modes) or (wheelchair and r.wheelchair != 1):
                        continue
                    for (x, a, d, pu, do) in r.rows[:-1]:
                        if x == u and pu:
                            tau = (d if u == s else cl.walk_start(s, u, d - w, w)) - acc
                            if t0 <= tau <= t1:
                                out.add(tau)
        return sorted(out, reverse=True)


def _f32(x: float) -> float:
    import numpy as np

    return float(np.float32(x))


def apply_realtime(ref: Reference, rows_by_run: dict) -> Reference:
    """The reference on realtime times: per run key ``trip#day`` either None (cancelled: the run is gone) or one
    (arrival, departure, may board, may alight) per stop, as the test derived them from its trip updates (never
    from the overlay). Boarding and alighting stay forbidden where the feed forbids them."""
    for key, rows in rows_by_run.items():
        run = ref.runs.get(key)
        if run is None:
            continue
        if rows is None:  # cancelled: gone, with the in-seat links from and to it
            del ref.runs[key]
            ref.links.pop(key, None)
            for k in list(ref.links):
                ref.links[k] = [(b, pos) for b, pos in ref.links[k] if b != key]
            continue
        run.rows = [(s, a, d, pu and ok_b, do and ok_a)
                    for (s, _, _, pu, do), (a, d, ok_b, ok_a) in zip(run.rows, rows)]
    return ref
