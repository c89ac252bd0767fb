"""Response compression (api/compress.py) on real answers of the built-in sample: a 3-itinerary plan, a stop
search and the OpenAPI document. Bytes and encode time per coding; the baseline is the uncompressed body (ratio)
and, for time, orjson encoding the same body (what every response pays anyway).

    .venv/bin/python benchmarks/bench_compress.py
"""
from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.compress import brotli, encode  # noqa: E402
from maas.publishing.network import load_network  # noqa: E402
from maas.transit import TransitService  # noqa: E402

TOKYO = dt.timezone(dt.timedelta(hours=9))


def timed(fn, n: int = 50) -> float:
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        transit = TransitService(load_network([], cache_dir=Path(tmp), progress=False))
    when = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TOKYO)
    plan = {"itineraries": transit.plan_sync("都庁前", "odaiba", when)}
    names = transit.names
    stops = {"stops": [names.to_dict(h) for h in names.search("新宿", 50)]}
    from api.app import create_app
    from api.openapi import document
    from maas.services import Services
    from maas.platform.settings import Settings

    spec = document(create_app(Services(settings=Settings(), transit=transit), close_services=False))
    codings = ["gzip"] + (["br"] if brotli is not None else [])
    for label, data in (("plan, 3 itineraries", plan), ("stops q=新宿, 50", stops), ("openapi.json", spec)):
        body = orjson.dumps(data)
        base = timed(lambda: orjson.dumps(data))
        print(f"== {label}: {len(body):,} bytes, orjson encode {base:.3f} ms (baseline)")
        for c in codings:
            out = encode(body, c)
            ms = timed(lambda: encode(body, c))
            print(f"  {c:4s} {len(out):8,} bytes  ×{len(body) / len(out):4.1f} smaller  median {ms:.3f} ms "
                  f"(×{ms / base:.1f} the JSON encode)")
    transit.close()


if __name__ == "__main__":
    main()
