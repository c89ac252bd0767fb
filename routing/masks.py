"""Closures as the planner sees them: blocked time windows over model elements, applied without a rebuild."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClosureMask:
    """Per stop and per hop, a blocked window ``[from, until)`` in model seconds (``from == until`` means open).

    A hop is the ride from position ``pos`` to ``pos + 1`` of a pattern, flat index
    ``model.pattern_stops_start[p] + pos``. While a stop is blocked nobody boards, alights, rides through it or
    walks to/from it (a walk waits beside it for it to open, `routing.raptor.state.walk_end`); while a hop is
    blocked no vehicle in the search travels it. ``street_edge_closed`` marks
    walking edges of the street graph (same order as the walker's edges) that may not be used; None = all open.
    """

    stop_from: np.ndarray  # int32[n_stops]
    stop_until: np.ndarray  # int32[n_stops]
    hop_from: np.ndarray  # int32[n_hops]
    hop_until: np.ndarray  # int32[n_hops]
    street_edge_closed: np.ndarray | None = None

    @classmethod
    def open(cls, n_stops: int, n_hops: int) -> "ClosureMask":
        z_s = np.zeros(n_stops, np.int32)
        z_h = np.zeros(n_hops, np.int32)
        return cls(z_s, z_s, z_h, z_h, None)

    @property
    def empty(self) -> bool:
        return not (np.any(self.stop_from != self.stop_until) or np.any(self.hop_from != self.hop_until)
                    or (self.street_edge_closed is not None and bool(self.street_edge_closed.any())))

    def windows(self, s: int, u: int) -> tuple[int, int, int, int]:
        """Stop s's window and stop u's, as `walk_end` and `walk_start` take them (a walk s → u)."""
        return int(self.stop_from[s]), int(self.stop_until[s]), int(self.stop_from[u]), int(self.stop_until[u])
