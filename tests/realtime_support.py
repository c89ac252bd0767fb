"""Helpers for the realtime tests: synthetic GTFS-RT messages on the tiny feed, the Toei captures and indexes."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
from google.transit import gtfs_realtime_pb2 as pb

from conftest import shared_file
from maas.disruptions.realtime import OperatorIndex

T0 = 1795478400  # 2026-11-24 09:00 JST (the tiny feed's weekday)
TOEI_TRAIN_TS = 1790720570  # header of the Toei rail captures
TOEI_BUS_TS = 1790546750
GTFS_RT = "gtfs-rt"


def message(ts: int = T0, *, full: bool | None = True, trips: dict | None = None, vehicles: dict | None = None,
            deleted: tuple[str, ...] = ()) -> pb.FeedMessage:
    """``trips``: entity id → (trip_id, [(seq, arrival, departure)], relationship);
    ``vehicles``: entity id → (trip_id, lat, lon, stop_id)."""
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.timestamp = ts
    if full is not None:
        msg.header.incrementality = pb.FeedHeader.FULL_DATASET if full else pb.FeedHeader.DIFFERENTIAL
    for eid, (trip, stops, rel) in (trips or {}).items():
        e = msg.entity.add()
        e.id = eid
        if trip:
            e.trip_update.trip.trip_id = trip
        e.trip_update.trip.schedule_relationship = pb.TripDescriptor.ScheduleRelationship.Value(rel)
        e.trip_update.trip.start_date = "20261124"
        for seq, arr, dep in stops:
            s = e.trip_update.stop_time_update.add()
            s.stop_sequence = seq
            if arr is not None:
                s.arrival.time = arr
            if dep is not None:
                s.departure.time = dep
    for eid, (trip, lat, lon, stop) in (vehicles or {}).items():
        e = msg.entity.add()
        e.id = eid
        v = e.vehicle
        if trip:
            v.trip.trip_id = trip
        v.position.latitude, v.position.longitude = lat, lon
        if stop:
            v.stop_id = stop
        v.vehicle.id = eid
    for eid in deleted:
        e = msg.entity.add()
        e.id = eid
        e.is_deleted = True
    return msg


def capture(name: str) -> bytes:
    return shared_file(f"{GTFS_RT}/{name}").read_bytes()


def toei_train_index(namespace: str = "toei") -> OperatorIndex:
    from feeds.gtfs import load_feed

    return OperatorIndex.from_feed(load_feed(shared_file("toei-train-official-gtfs.zip"), namespace))


def toei_bus_index(namespace: str = "toei-bus") -> OperatorIndex:
    """The Toei bus stops feed has no stop_times (the importer refuses it as unroutable): the index is read from
    its stops, trips and routes tables directly, with the namespace every id gets."""
    path: Path = shared_file("toei-bus-gtfs-no-stop-times.zip")
    with zipfile.ZipFile(path) as z:
        def table(name: str) -> pd.DataFrame:
            return pd.read_csv(io.BytesIO(z.read(name)), dtype=str, keep_default_na=False)

        stops, trips, routes = table("stops.txt"), table("trips.txt"), table("routes.txt")
    for df, cols in ((stops, ["stop_id"]), (trips, ["trip_id", "route_id"]), (routes, ["route_id"])):
        for c in cols:
            df[c] = namespace + ":" + df[c]
    stops["stop_lat"], stops["stop_lon"] = stops["stop_lat"].astype(float), stops["stop_lon"].astype(float)
    return OperatorIndex.from_tables(stops, trips, None, routes)
