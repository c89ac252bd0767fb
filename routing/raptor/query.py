"""What a search is asked and what it answers: `RaptorQuery` in; `RaptorResult` out, its `Journey`s made of
`RideLeg`s and `WalkLeg`s (times in model seconds), and the `Counters` of the work the kernel did.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from routing.masks import ClosureMask
from routing.raptor.state import INF


class RideLeg(NamedTuple):
    """A ride (named tuples, not dataclasses: a plan builds hundreds of legs, 0.3 µs each instead of 2 µs)."""

    pattern: int
    trip: int
    board_pos: int
    alight_pos: int
    from_stop: int
    to_stop: int
    departure: int
    arrival: int
    stay_seated: bool = False  # continues the previous ride in the same vehicle (in-seat link), no change


class WalkLeg(NamedTuple):
    from_stop: int
    to_stop: int
    departure: int
    arrival: int


class Journey(NamedTuple):
    """One Pareto-optimal journey between a source stop and a target stop (times in model seconds).

    ``start`` is when the traveller is at ``source_stop`` (the query's source time); ``arrival`` includes the
    target's egress time, ``target_arrival`` is at ``target_stop``.
    """

    rides: int
    source_stop: int
    start: int
    target_stop: int
    target_arrival: int
    arrival: int
    legs: tuple

    @property
    def first_departure(self) -> int:
        """Latest time one may leave the source: the first leg's departure (a walk before the first ride leaves
        as late as it may for it, `raptor.state.walk_start`)."""
        return self.legs[0].departure if self.legs else self.start

    @property
    def transfers(self) -> int:
        """Vehicle changes: rides minus one, in-seat continuations not counted."""
        return max(sum(1 for leg in self.legs if isinstance(leg, RideLeg) and not leg.stay_seated) - 1, 0)

    @property
    def trip_key(self) -> tuple:
        return tuple(leg.trip for leg in self.legs if isinstance(leg, RideLeg))


@dataclass
class RaptorQuery:
    """Sources (stop, time at the stop) and targets (stop, egress seconds); filters and walking parameters."""

    src_stops: np.ndarray
    src_times: np.ndarray
    tgt_stops: np.ndarray
    tgt_egress: np.ndarray
    max_rides: int = 5
    pattern_allowed: np.ndarray | None = None
    wheelchair: bool = False
    min_transfer_s: int = 60
    walk_speed: float = 1.2
    mask: ClosureMask | None = None
    inseat: bool = False  # follow in-seat links (off by default: costs ~2x latency on the all-Tokyo feed)
    report_walks: bool = True  # a journey without a ride is an answer (the planner offers its own direct walk)
    # The search horizon (model seconds): a forward search takes no ride arriving after ``rides_until``, a backward
    # one none leaving before ``rides_since`` (`routing.planner.horizon`). A bound on the labels, as the target's
    # is: the earliest trip stays the one to board (a bound on boardings would not give the proof runs' answers)
    rides_until: int = int(INF)
    rides_since: int = -int(INF)
    # (`_query_arrays`' answer with the arrays it was worked out from; not copied by dataclasses.replace)
    _arrays: tuple | None = field(default=None, init=False, repr=False, compare=False)


class Counters(NamedTuple):
    """What the search did: rounds run, routes scanned, labels improved, runs (departure times searched),
    patterns the latest-boarding cut left unqueued (`Cutter`), stops visited by the route scans. (A named tuple:
    every search makes one, straight from the kernel's counter row, `search._counters`.)"""

    rounds: int
    routes_scanned: int
    labels_improved: int
    runs: int
    routes_cut: int = 0
    stops_visited: int = 0
    late_held: int = 0  # board labels the time-dependent bound left unqueued (`late_bounds`)


@dataclass
class RaptorResult:
    """The journeys one search found (Pareto over arrival and rides, per departure in a range search)."""

    journeys: list[Journey]
    counters: Counters
    res_t: np.ndarray = field(repr=False, default=None)  # best arrival with at most k rides, per k
    departures: int = 0  # departure times inside a range search's window (its last run at the start aside)
    # the window's latest departure (earliest arrival, backward) in real time: its first run, a plain search from
    # there, whose journeys are not known to leave (arrive, backward) as late (early) as they can; None: no run
    first_run: int | None = None

    def pareto(self) -> list[Journey]:
        """Journeys with strictly fewer arrivals as rides grow: the (arrival, rides) Pareto set of the search
        (for a range search, of its last departure)."""
        out: list[Journey] = []
        best = int(INF)
        for j in sorted(self.journeys, key=lambda j: j.rides):
            if j.arrival < best:
                best = j.arrival
                out.append(j)
        return out
