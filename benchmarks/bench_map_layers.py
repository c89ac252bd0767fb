"""Map layers (GET /v1/map/network, /v1/map/streets): build time and size of the GeoJSON the map page draws.

Figures per network (the built-in sample, Toei rail, all of Greater Tokyo rail) and street file (Shibuya OSM):
  * build + encode time (median and p95 of 5 runs), features, encoded bytes and gzip bytes;
  * baseline in the same run: the same layer without merging (one LineString per pattern, where a route's reverse
    and short runs are drawn again over its longest run); ratio baseline / ours.
The API encodes each layer once per model and serves the bytes afterwards, so these are one-off costs per day model.

    .venv/bin/python benchmarks/bench_map_layers.py
"""
from __future__ import annotations

import datetime as dt
import gzip
import statistics
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
from maas.publishing.network import load_network  # noqa: E402
from maas.publishing.map_layers import network_geojson, streets_geojson  # noqa: E402
from routing.streets import load_or_build  # noqa: E402
from routing.timetable import build_model  # noqa: E402

SHARED = Path(__import__("os").environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATE = dt.date(2026, 12, 1)
RUNS = 5


def timed(fn) -> tuple[list[float], bytes]:
    times, body = [], b""
    for _ in range(RUNS):
        t = time.perf_counter()
        body = orjson.dumps(fn())
        times.append(time.perf_counter() - t)
    return times, body


def report(label: str, times: list[float], body: bytes, features: int) -> float:
    med = statistics.median(times) * 1000
    p95 = sorted(times)[max(0, int(round(0.95 * len(times))) - 1)] * 1000
    print(f"  {label:<22} median {med:8.1f} ms  p95 {p95:8.1f} ms  {features:6d} features  "
          f"{len(body) / 1024:8.0f} KiB  gzip {len(gzip.compress(body, 6)) / 1024:7.0f} KiB")
    return len(body)


def bench_network(name: str, net: Network) -> None:
    model = build_model(net, DATE)
    print(f"\n== {name}: {model.n_patterns} patterns, {len(model.station_ids)} stations, {len(model.stop_ids)} stops")
    times, body = timed(lambda: network_geojson(model))
    ours = report("network_geojson", times, body, len(orjson.loads(body)["features"]))
    times, base = timed(lambda: network_geojson(model, merge=False))
    naive = report("baseline: no merging", times, base, len(orjson.loads(base)["features"]))
    lines = sum(1 for f in orjson.loads(body)["features"] if f["properties"]["kind"] == "line")
    print(f"  lines drawn {lines} of {model.n_patterns} patterns ({model.n_patterns / max(lines, 1):.1f}x fewer); "
          f"bytes baseline / ours {naive / ours:.2f}x")


def main() -> None:
    bench_network("built-in sample", load_network([], None, progress=False))
    for label, file, ns in (("Toei rail", "toei-rail-gtfs.zip", "toei-rail"),
                            ("Greater Tokyo rail", "tokyo-rail-gtfs.zip", "tokyo-rail")):
        path = SHARED / file
        if path.exists():
            bench_network(label, Network([load_feed(path, ns)]))
        else:
            print(f"\n== {label}: skipped, {path} not found")
    osm = SHARED / "osm" / "tokyo-shibuya.osm"
    if osm.exists():
        graph = load_or_build(osm, None)
        print(f"\n== streets of {osm.name}: {graph.n_edges} edges")
        times, body = timed(lambda: streets_geojson(graph))
        report("streets_geojson", times, body, len(orjson.loads(body)["features"]))


if __name__ == "__main__":
    main()
