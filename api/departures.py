"""Next departures at a stop or station, read straight from the model arrays, with closures marked.

Pure functions of (model, mask): the handler only parses the request and serialises the answer.
"""
from __future__ import annotations

import numpy as np

from routing.masks import ClosureMask
from routing.realtime import CANCELLED, realtime_of
from routing.timetable import MODE_NAMES, TransitModel


def resolve_stops(model: TransitModel, stop_id: str) -> np.ndarray | None:
    """Boarding stops of a stop id or a station id (all its platforms); None when the model has neither."""
    try:
        return np.array([model.stop_index(stop_id)], np.int64)
    except KeyError:
        pass
    try:
        st = model.station_ids.index(stop_id)
    except ValueError:
        return None
    return model.station_stops[model.station_stops_start[st]:model.station_stops_start[st + 1]].astype(np.int64)


def _iso(model: TransitModel, seconds: int) -> str:
    return model.iso(int(seconds))  # the model's own clock (its feed's time zone)


def _blocked(frm: np.ndarray, until: np.ndarray, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    return (frm[idx] != until[idx]) & (frm[idx] <= t) & (t < until[idx])


def _hit(model: TransitModel, pattern: int, pos: int, stop: bool, next_hop: bool) -> dict:
    """Why a departure is closed; a closed hop names the stop it leads to, so the closure there can be named."""
    hit = {"stop": stop, "next_hop": next_hop}
    if next_hop:
        hit["next_stop_id"] = model.stop_ids[int(model.pattern_stops[model.pattern_stops_start[pattern] + pos + 1])]
    return hit


def next_departures(model: TransitModel, stops: np.ndarray, t0: int, window_s: int, limit: int,
                    mask: ClosureMask | None = None) -> list[dict]:
    """Departures from ``stops`` in ``[t0, t0 + window_s)`` (model seconds), earliest first.

    A departure whose stop or next hop is blocked by a closure at that time is kept and marked ``closed`` so the
    traveller sees why it will not run, rather than having it silently vanish. On a realtime model (see
    routing/realtime.py) times are realtime, each row says its ``scheduled_departure`` and ``delay_s``, and the
    trips cancelled (or not stopping here: SKIPPED) that were scheduled in the window are listed struck out,
    status ``cancelled`` / ``skipped``, at their scheduled time.
    """
    ov = realtime_of(model)
    rows = _departures(model, stops, t0, window_s, limit, mask, ov)
    if ov is not None:
        rows = sorted(rows + _struck_out(ov, stops, t0, window_s, limit), key=lambda r: (r["_t"], r["trip_id"]))
        rows = rows[:limit]
    for r in rows:
        for k in ("_t", "_trip", "_pos"):
            r.pop(k, None)
    return rows


def _struck_out(ov, stops: np.ndarray, t0: int, window_s: int, limit: int) -> list[dict]:
    """Base-model departures in the window whose trip is cancelled, or skips this stop, on realtime."""
    base = ov.base
    rows = _departures(base, stops, t0, window_s, limit * 4 + 50, None, None)
    out = []
    for r in rows:
        t, pos = r.pop("_trip"), r.pop("_pos")
        if int(ov.base_state[t]) == CANCELLED:
            r["status"] = "cancelled"
        else:
            rt_t = int(ov.base_trip_rt[t])
            off, _ = ov.model.trip_times_offset(rt_t)
            if not ov.skipped[off + pos]:
                continue
            r["status"] = "skipped"
        r.update(realtime=True, delay_s=None)
        out.append(r)
    return out[:limit]


def _departures(model: TransitModel, stops: np.ndarray, t0: int, window_s: int, limit: int,
                mask: ClosureMask | None, ov) -> list[dict]:
    dep_l, trip_l, pat_l, pos_l, stop_l = [], [], [], [], []
    for s in stops:
        for k in range(int(model.sp_start[s]), int(model.sp_start[s + 1])):
            p, pos = int(model.sp_pattern[k]), int(model.sp_pos[k])
            n = model.pattern_len(p)
            if pos >= n - 1:
                continue  # the last stop of a pattern has arrivals only
            t_first, t_end = int(model.pattern_trips_start[p]), int(model.pattern_trips_start[p + 1])
            j = np.arange(t_end - t_first, dtype=np.int64)
            idx = int(model.pattern_times_start[p]) + j * n + pos
            dep = model.dep_by_pos[model.departure_index(p, j, pos)]
            ok = (dep >= t0) & (dep < t0 + window_s) & (model.st_pickup[idx] == 1)
            sel = np.flatnonzero(ok)
            dep_l.append(dep[sel]); trip_l.append(t_first + j[sel])
            pat_l.append(np.full(len(sel), p)); pos_l.append(np.full(len(sel), pos)); stop_l.append(np.full(len(sel), s))
    if not dep_l:
        return []
    dep, trip, pat, pos, stop = (np.concatenate(a) for a in (dep_l, trip_l, pat_l, pos_l, stop_l))
    order = np.lexsort((trip, dep))[:limit]
    dep, trip, pat, pos, stop = dep[order], trip[order], pat[order], pos[order], stop[order]
    if mask is not None:
        hop = model.pattern_stops_start[pat] + pos
        stop_closed = _blocked(mask.stop_from, mask.stop_until, stop, dep)
        hop_closed = _blocked(mask.hop_from, mask.hop_until, hop, dep)
    else:
        stop_closed = hop_closed = np.zeros(len(dep), bool)
    out = []
    for i in range(len(dep)):
        p, t, s = int(pat[i]), int(trip[i]), int(stop[i])
        r = int(model.pattern_route[p])
        last = int(model.pattern_stops[model.pattern_stops_start[p + 1] - 1])
        closed = bool(stop_closed[i] or hop_closed[i])
        out.append({
            "departure": _iso(model, dep[i]), "stop_id": model.stop_ids[s],
            "trip_id": model.trip_ids[t], "headsign": model.trip_headsigns[t] or model.stop_names[last],
            "mode": MODE_NAMES[int(model.route_mode[r])],
            "operator": model.feed_namespaces[int(model.route_feed[r])],
            "route": {"id": model.route_ids[r], "short_name": model.route_short_names[r],
                      "long_name": model.route_long_names[r], "color": model.route_colors[r],
                      "text_color": model.route_text_colors[r]},
            "booking_required": bool(model.trip_booking[t] == 1),
            "status": "closed" if closed else "scheduled",
            "closure": _hit(model, p, int(pos[i]), bool(stop_closed[i]), bool(hop_closed[i])) if closed else None,
            "scheduled_departure": _iso(model, dep[i]), "delay_s": 0, "realtime": False,
            "_t": int(dep[i]), "_trip": t, "_pos": int(pos[i]),
        })
        if ov is not None:
            row = out[-1]
            sched = ov.scheduled(t, int(pos[i]))
            row["realtime"] = ov.is_realtime(t)
            if sched is None:  # an added trip
                row.update(scheduled_departure=None, delay_s=None, added=True)
            else:
                row.update(scheduled_departure=_iso(model, sched[1]), delay_s=int(dep[i]) - sched[1])
    return out
