"""Edges a browser or a mobile client meets: CORS, compressed bodies, trip details, paging of plans and boards."""
from __future__ import annotations

import datetime as dt
import gzip

import brotli
import pytest

from api.compress import accepted
from api_support import auth, booking_transit, client_for, services_for, tiny_transit  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
P = auth("pk-alpha")
APP = "https://app.example"


@pytest.fixture(scope="module")
def transit(tmp_path_factory):
    t = tiny_transit(tmp_path_factory.mktemp("api-edges"))
    yield t
    t.close()


@pytest.fixture
async def client(transit):
    services = services_for(transit)
    services.settings.cors_origins = [APP]
    services.settings.compress_min_bytes = 200
    async with client_for(services) as c:
        yield c


async def test_cors_preflight_and_response_for_an_allowed_origin(client):
    r = await client.options("/v1/plan", headers={"Origin": APP, "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "authorization"})
    assert r.status == 204
    assert r.headers["Access-Control-Allow-Origin"] == APP
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    assert "GET" in r.headers["Access-Control-Allow-Methods"]
    r = await client.get("/v1/stops", params={"q": "eki"}, headers={**P, "Origin": APP})
    assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == APP
    assert "X-Request-Id" in r.headers["Access-Control-Expose-Headers"] and "Origin" in r.headers.getall("Vary")
    r = await client.get("/v1/stops", params={"q": "eki"}, headers={"Origin": APP})  # errors carry CORS too
    assert r.status == 401 and r.headers["Access-Control-Allow-Origin"] == APP


async def test_cors_refuses_other_origins(client):
    r = await client.options("/v1/plan", headers={"Origin": "https://evil.example",
                                                  "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in r.headers
    r = await client.get("/v1/stops", params={"q": "eki"}, headers={**P, "Origin": "https://evil.example"})
    assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


async def test_cors_any_origin(transit):
    services = services_for(transit)
    services.settings.cors_origins = ["*"]
    async with client_for(services) as c:
        r = await c.get("/healthz", headers={"Origin": "http://localhost:5173"})
        assert r.headers["Access-Control-Allow-Origin"] == "*"


async def test_no_cors_headers_when_not_configured(transit):
    services = services_for(transit)
    services.settings.cors_origins = []
    async with client_for(services) as c:
        r = await c.options("/v1/plan", headers={"Origin": APP, "Access-Control-Request-Method": "GET"})
        assert "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.parametrize("coding", ["br", "gzip"])
async def test_large_json_is_compressed(client, coding):
    q = {"from": "test:S", "to": "test:C", "depart_at": "2026-11-24T07:50:00+09:00"}
    plain = await client.get("/v1/plan", params=q, headers={**P, "Accept-Encoding": "identity"})
    raw = await plain.read()
    assert "Content-Encoding" not in plain.headers and len(raw) > 200
    # (the plan's answer is packed by its handler, off the loop: once, as the middleware would, `packed`)
    assert plain.headers.getall("Vary") == ["Accept-Language", "Accept-Encoding"]
    r = await client.get("/v1/plan", params=q, headers={**P, "Accept-Encoding": f"{coding}, deflate"},
                         auto_decompress=False)
    assert r.headers["Content-Encoding"] == coding
    assert r.headers.getall("Vary") == ["Accept-Language", "Accept-Encoding"]
    body = await r.read()
    unpacked = brotli.decompress(body) if coding == "br" else gzip.decompress(body)
    assert unpacked == raw and len(body) < len(raw)


async def test_small_bodies_stay_plain(client):
    r = await client.get("/healthz", headers={"Accept-Encoding": "br, gzip"}, auto_decompress=False)
    assert "Content-Encoding" not in r.headers


@pytest.mark.parametrize("header, expected", [
    ("gzip, deflate, br", ["br", "gzip"]), ("gzip", ["gzip"]), ("br;q=0.5, gzip", ["gzip", "br"]),
    ("*", ["br", "gzip"]), ("br;q=0, *;q=0.1", ["gzip"]), ("identity", []), (None, []), ("gzip;q=bogus", []),
])
def test_accept_encoding(header, expected):
    assert accepted(header) == expected


async def test_trip_details(client):
    r = await client.get("/v1/trips/test:T1", params={"date": "2026-11-24"}, headers=P)
    assert r.status == 200, await r.text()
    trip = await r.json()
    assert trip["trip_id"] == "test:T1" and trip["service_date"] == "2026-11-24" and trip["headsign"] == "終点"
    assert [s["stop_id"] for s in trip["stops"]] == ["test:A", "test:B", "test:C"]
    assert [s["departure"][11:19] for s in trip["stops"]] == ["08:00:00", "08:05:00", "08:10:00"]
    assert trip["route"]["color"] == "00AA00" and trip["mode"] == "BUS" and trip["operator"] == "test"
    assert trip["geometry"]["type"] == "LineString" and len(trip["geometry"]["coordinates"]) >= 3
    assert trip["stops"][1]["name_en"] == "Chūō"
    r = await client.get("/v1/trips/test:T1", params={"date": "2026-11-24"}, headers={**P, "Accept-Language": "en"})
    assert (await r.json())["stops"][1]["name"] == "Chūō"


@pytest.mark.parametrize("trip, params, status, field", [
    ("test:T3", {"date": "2026-11-24"}, 404, "id"),  # a weekend trip on a Tuesday
    ("test:NOPE", {"date": "2026-11-24"}, 404, "id"),
    ("test:T1", {"date": "24.11.2026"}, 422, "date"),
    ("test:T1", {"date": "2031-01-01"}, 404, "id"),  # outside the service dates: no trip runs then
])
async def test_trip_bad_input(client, trip, params, status, field):
    r = await client.get(f"/v1/trips/{trip}", params=params, headers=P)
    assert r.status == status and (await r.json(content_type=None))["field"] == field


async def test_plan_pages_later_and_earlier(client):
    q = {"from": "test:S", "to": "test:C", "num": "1"}
    r = await client.get("/v1/plan", params={**q, "depart_at": "2026-11-24T07:50:00+09:00"}, headers=P)
    body = await r.json()
    rides = [it for it in body["itineraries"] if it["transfers"] >= 0 and len(it["legs"]) and
             any(leg["mode"] == "BUS" for leg in it["legs"])]
    assert rides[0]["departure"] == "2026-11-24T08:00:00+09:00"
    later = await (await client.get("/v1/plan", params={**q, "cursor": body["page"]["later"]}, headers=P)).json()
    bus = [it for it in later["itineraries"] if any(leg["mode"] == "BUS" for leg in it["legs"])]
    assert bus[0]["departure"] == "2026-11-24T09:00:00+09:00"
    earlier = await (await client.get("/v1/plan", params={**q, "cursor": later["page"]["earlier"]},
                                      headers=P)).json()
    bus = [it for it in earlier["itineraries"] if any(leg["mode"] == "BUS" for leg in it["legs"])]
    assert bus[0]["departure"] == "2026-11-24T08:00:00+09:00"


@pytest.mark.parametrize("cursor", ["nonsense!", "sideways:1764000000", "later:", "later:12.x", ""])
async def test_bad_cursor_is_422(client, cursor):
    r = await client.get("/v1/plan", params={"from": "test:S", "to": "test:C", "cursor": cursor}, headers=P)
    assert r.status == 422 and (await r.json(content_type=None))["field"] == "cursor"


async def test_departure_board_pages(client):
    r = await client.get("/v1/stops/test:S/departures", params={"at": "2026-11-24T07:00:00+09:00", "limit": "1"},
                         headers=P)
    first = await r.json()
    assert [d["trip_id"] for d in first["departures"]] == ["test:T1"]
    r = await client.get("/v1/stops/test:S/departures", params={"cursor": first["page"]["later"], "limit": "1"},
                         headers=P)
    second = await r.json()
    assert [d["trip_id"] for d in second["departures"]] == ["test:T2"]
    r = await client.get("/v1/stops/test:S/departures", params={"cursor": second["page"]["later"], "limit": "1"},
                         headers=P)
    assert (await r.json())["departures"] == []
    eight = int(dt.datetime.fromisoformat("2026-11-24T08:00:00+09:00").timestamp())
    assert first["page"]["later"] == f"later:{eight}.1"  # from 08:00, the one departure at that second shown


def test_board_cursor_skips_departures_already_shown_at_the_same_second():
    from api.params import cursor_param
    from api.search import board_cursor

    at = dt.datetime.fromisoformat("2026-11-24T08:00:00+09:00")
    rows = [{"departure": "2026-11-24T08:05:00+09:00"}] * 3
    cur = cursor_param({"c": board_cursor(rows, at, 60, 3, 0)}, "c", ("later",))
    assert cur.at.isoformat() == "2026-11-24T08:05:00+09:00" and cur.skip == 3
    again = board_cursor(rows, cur.at, 60, 3, cur.skip)  # still the same second: the skip grows
    assert again.endswith(".6")
    assert board_cursor(rows[:1], at, 60, 3, 0) == f"later:{int(at.timestamp()) + 3600}"  # window not full


async def test_event_stream_carries_cors_headers(booking_transit):
    """The SSE stream is prepared by its handler, before any middleware could add headers: still allowed."""
    from booking_support import Clock, make_service
    from maas.store.embedded import EmbeddedStore

    store = EmbeddedStore(":memory:")
    services = services_for(booking_transit, bookings=make_service(store, Clock(), transit=booking_transit))
    services.settings.cors_origins = [APP]
    try:
        async with client_for(services) as c:
            r = await c.get("/v1/events", headers={**P, "Origin": APP})
            assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == APP
            r.close()
    finally:
        await store.aclose()


async def test_malformed_multipart_upload_is_400_not_500(client):
    r = await client.post("/v1/feeds/test", data=b"--7c51\r\nNone--7c51--\r\n",
                          headers={**auth("op-test"), "Content-Type": "multipart/form-data; boundary=7c51"})
    body = await r.json(content_type=None)
    assert r.status == 400 and body["field"] == "body" and "malformed" in body["detail"]


def test_brotli_quality_follows_body_size():
    """Small bodies (a plan answer) at the cheaper quality, big ones at the denser: both decode to the body."""
    from api.compress import BROTLI_QUALITY, SMALL_BODY_BYTES, SMALL_BROTLI_QUALITY, encode

    assert SMALL_BROTLI_QUALITY < BROTLI_QUALITY
    rows = b",".join(b'{"stop_id":"toei:%d","lat":35.%06d,"lon":139.%06d}' % (i, i * 7919 % 10**6, i * 104729 % 10**6)
                     for i in range(4000))
    small, big = rows[:SMALL_BODY_BYTES - 1], rows[:SMALL_BODY_BYTES * 2]
    assert len(big) >= SMALL_BODY_BYTES
    for body, quality in ((small, SMALL_BROTLI_QUALITY), (big, BROTLI_QUALITY)):
        packed = encode(body, "br")
        assert packed == brotli.compress(body, quality=quality) and brotli.decompress(packed) == body


def test_json_bodies_are_the_same_bytes_with_or_without_string_keys_only():
    """`respond.dumps` tries orjson without OPT_NON_STR_KEYS first: the bytes are those of the option, int and
    date keys still become strings, numpy values still encode, and what orjson cannot encode still fails."""
    import numpy as np
    import orjson

    from api.respond import dumps

    full = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    for body in ({"itineraries": [{"id": "a", "legs": [{"x": 1.5, "名": "駅"}]}], "page": {"later": None}},
                 {1: "one", dt.date(2026, 11, 24): [np.int64(3), np.arange(3)], "s": {2: None}},
                 [np.float32(0.5), {"k": np.array([1.25])}]):
        assert dumps(body) == orjson.dumps(body, option=full)
    assert dumps({1: "a"}) == b'{"1":"a"}'
    with pytest.raises(TypeError):
        dumps({"x": object()})
