"""Bounded, typed input everywhere: every registered endpoint (walked from ``app[ENDPOINTS]``, so a new endpoint is
covered by being registered) gets the extremes in each of its path parameters, query parameters and body fields:
negative numbers, ±2**63, 2**64, NaN, Infinity, year 1 and year 9999 dates and times, huge and control-character
strings. Each answer must be a client error (or, for a read, an empty success) as problem+json, never a 5xx, and
the stored state (bookings, offers, seats, payments, ledger, closures, feeds) must be exactly as it was: no PENDING
booking, no closure, no feed version left behind.
"""
from __future__ import annotations

import copy
import datetime as dt
import io
import json
import re
import zipfile

import pytest
from google.transit import gtfs_realtime_pb2 as pb

from api.app import create_app
from api.keys import ENDPOINTS
from api_support import KEYS, TOKYO, auth
from booking_support import GOOD_CARD, Clock, booking_tables, itinerary, make_service, new_booking_transit
from gtfs_builders import to_csv
from maas.disruptions.closure_store import MemoryClosureStore
from maas.publishing.feed_registry import FeedRegistry
from maas.publishing.feed_swap import FeedManager
from maas.services import closure_service
from maas.platform.settings import Settings
from maas.store.embedded import EmbeddedStore

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NOW = dt.datetime(2026, 11, 24, 8, 0, tzinfo=TOKYO)
ADMIN = auth("adm-root")
HUGE = "x" * 150_000

# as query/path text (URLs stay under the server's 8 KiB request line)
TEXT_EXTREMES = ["-1", str(-(2**63)), str(2**63), str(2**64), "1e309", "NaN", "Infinity", "-Infinity",
                 "0001-01-01", "9999-12-31", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                 "9999-12-31T23:59:59.999999+00:00", "x" * 3000, "%00", "\u202e"]
# as JSON values in a body
JSON_EXTREMES = [-1, -(2**63), 2**63, 2**64 - 1, -1.7e308, 1.7e308, 0.5, "0001-01-01", "9999-12-31",
                 "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", HUGE, "\u0000", True, [], {}]
# (null is left out: for an optional field it means "not given", which is a valid request)
# not JSON at all, put where a value goes: the parser must refuse them (RFC 8259 has no NaN or Infinity)
RAW_EXTREMES = ["NaN", "Infinity", "-Infinity", "1e400", str(2**70)]


def _zip(tables: dict[str, list[dict]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, rows in tables.items():
            zf.writestr(f"{name}.txt", to_csv(rows))
    return buf.getvalue()


def gtfs_rt_alert(start: int | None, end: int | None, stop: str = "toei-subway:105") -> bytes:
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.timestamp = int(NOW.timestamp())
    ent = msg.entity.add()
    ent.id = "rt-1"
    ent.alert.informed_entity.add().stop_id = stop
    ent.alert.effect = pb.Alert.NO_SERVICE
    period = ent.alert.active_period.add()
    if start is not None:
        period.start = start
    if end is not None:
        period.end = end
    return msg.SerializeToString()


CLOSURE = {"id": "flood-105", "start": "2026-11-24T12:00:00+09:00", "end": "2026-11-24T18:00:00+09:00",
           "targets": {"stops": ["toei-subway:105"]}, "message": {"ja": "冠水", "en": "Flooding"}}


class World:
    """A live API on the booking helpers' timetable with one confirmed booking and one closure."""

    def __init__(self, tmp_path):
        transit = self.transit = new_booking_transit()  # feeds get published into it
        self.store = EmbeddedStore(":memory:")
        self.clock = Clock(NOW)
        self.bookings = make_service(self.store, self.clock, transit=transit)
        self.closures = closure_service(Settings(), transit, store=MemoryClosureStore(), clock=self.clock)
        from api_support import services_for

        self.services = services_for(transit, bookings=self.bookings, closures=self.closures, clock=self.clock,
                                     feeds=FeedManager(FeedRegistry(tmp_path / "feeds"), transit, self.bookings,
                                                       clock=self.clock))
        self.app = create_app(self.services, close_services=False)
        self.ids: dict[str, str] = {}

    async def seed(self) -> None:
        offer = await self.bookings.create_offer(itinerary(), {"adult": 1}, "seed-offer", "alpha")
        booking = await self.bookings.book(offer["id"], GOOD_CARD, "seed-book", "alpha")
        await self.closures.accept(json.dumps(CLOSURE).encode(), "application/json", source="disaster:jma")
        auths = await self.bookings.payments.authorizations()
        self.ids = {"booking": booking["id"], "auth": auths[0].id, "closure": CLOSURE["id"],
                    "stop": "toei-subway:105", "operator": "toei-subway"}

    async def fresh_offer(self) -> str:
        offer = await self.bookings.create_offer(itinerary(), {"adult": 1}, f"o-{len(self.ids)}", "alpha")
        self.ids[f"offer-{len(self.ids)}"] = offer["id"]
        return offer["id"]

    async def snapshot(self) -> dict:
        store = {k: await self.store.get(k) for k in await self.store.keys("") if not k.startswith("ratelimit")}
        seats = {}
        for res in {json.loads(v)["leg"]["operator"] for k, v in store.items() if k.startswith("ophold:") and v}:
            seats[res] = res
        registry = self.services.feeds.registry
        versions = []
        for op in await registry.operators():
            versions += [str(v) for v in await registry.versions(op)]
        versions.sort()
        return {"store": store, "closures": sorted(json.dumps(c.to_dict() if hasattr(c, "to_dict") else str(c))
                                                   for c in self.closures.list_all()),
                "closure_version": self.closures.version,
                "feeds": sorted(f.namespace for f in self.services.transit.network.feeds),
                "versions": versions}


def base_request(ep, ids: dict, offer_id: str | None) -> tuple[dict, dict, object, str]:
    """A valid request for the endpoint (path params, query, body, content type) whose fields the test spoils
    one at a time. Endpoints not listed get their declared parameters only."""
    path = {"id": {"GET /v1/payments/{id}": ids["auth"], "DELETE /v1/closures/{id}": ids["closure"],
                   "GET /v1/stops/{id}/departures": ids["stop"],
                   "GET /v1/operators/{id}/settlement": ids["operator"],
                   "PUT /v1/operators/{id}/profile": ids["operator"],
                   "GET /v1/operators/{id}/profile": ids["operator"]}.get(f"{ep.method} {ep.path}",
                                                                          ids["booking"]),
            "operator": "toei-subway"}
    query = {"GET /v1/plan": {"from": "toei-subway:101", "to": "toei-subway:110",
                              "depart_at": "2026-11-24T09:50:00+09:00"},
             "GET /v1/stops": {"q": "1"}, "GET /v1/operators/{id}/settlement": {"date": "2026-11-24"},
             "GET /v1/closures": {"at": "2026-11-24T13:00:00+09:00"},
             "GET /v1/stops/{id}/departures": {"at": "2026-11-24T09:00:00+09:00"}}.get(f"{ep.method} {ep.path}", {})
    body = {"POST /v1/offers": {"itinerary": itinerary(), "passengers": {"adult": 1, "child": 0},
                                "medium": "ticket"},
            "POST /v1/bookings": {"offer_id": offer_id, "payment": GOOD_CARD},
            "POST /v1/bookings/{id}/cancel": {"leg_index": 1},
            "POST /v1/closures": {**CLOSURE, "id": "flood-106"},
            "PUT /v1/operators/{id}/profile": PROFILE,
            "POST /v1/tickets/verify": {"qr_payload": "MAAS1:b3A9dG9laS1idXM.AAAAAAAAAAAAAAAA"},
            "POST /v1/realtime/{operator}": realtime_message()}.get(f"{ep.method} {ep.path}")
    return path, query, body, "application/json"


def realtime_message() -> dict:
    """A GTFS-RT TripUpdates message in protobuf's JSON mapping, stamped now (the realtime service's clock)."""
    import time

    now = int(time.time())
    return {"header": {"gtfs_realtime_version": "2.0", "incrementality": "DIFFERENTIAL", "timestamp": str(now)},
            "entity": [{"id": "e1", "trip_update": {"trip": {"trip_id": "x", "start_date": "20261124"},
                                                    "stop_time_update": [{"stop_sequence": 1, "arrival": {
                                                        "time": str(now + 60), "delay": 30}}]}}]}


PROFILE = {"names": {"ja": "都営地下鉄", "en": "Toei Subway"},
           "fares": {"source": "feed", "feed_prices": "ic", "ticket_rounding": 10,
                     "child": {"percent": 50, "ic": {"step": 1, "round": "down"}}},
           "seats": {"inventory": False}, "ticket": {"kind": "qr"},
           "cancellation": {"windows": [{"min_before_departure": 0, "refund_percent": 100}]},
           "settlement": {"account": "toei-transportation"}}


def leaves(value, prefix=()):
    """Paths to every leaf of a JSON value (dict keys and list indexes)."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from leaves(v, prefix + (k,))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from leaves(v, prefix + (i,))
    else:
        yield prefix


def _get(body, path):
    for key in path:
        if isinstance(body, dict):
            body = body.get(key)
        elif isinstance(body, list) and isinstance(key, int) and key < len(body):
            body = body[key]
        else:
            return None
    return body


def spoil(body, path, value):
    out = copy.deepcopy(body)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


from api.openapi import json_schema  # noqa: E402 - typed models as plain JSON Schema

_EXAMPLE = {"object": {}, "string": "", "integer": 0, "number": 0.0, "array": [], "boolean": False}


def schema_fields(spec: dict) -> dict[str, object]:
    """Top-level body properties the operation declares (so a field the base body lacks is spoiled too), each
    with a value of its declared type to compare the extremes with."""
    content = (spec.get("requestBody") or {}).get("content", {})
    schema = json_schema((content.get("application/json") or {}).get("schema", {}))
    out = {}
    for option in schema.get("oneOf", [schema]):
        option = json_schema(option)  # a oneOf may list typed models too
        for name, prop in option.get("properties", {}).items():
            if "type" not in prop:  # msgspec writes an optional field as anyOf [its type, null]
                prop = next((p for p in prop.get("anyOf", []) if p.get("type") not in (None, "null")), prop)
            kind = prop.get("type")  # None for a $ref: no type to compare the extremes with
            kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
            out[name] = _EXAMPLE.get(kind)
    return out


_DATE = re.compile(r"^\d{4}-\d\d-\d\d")


def out_of_domain(base, bad) -> bool:
    """Whether ``bad`` can never be a valid value where ``base`` (a valid value) stands: a different JSON type, a
    number beyond 64 bits or doubles' sane range, a huge or control-character string, a year 1 or 9999 date where
    a date goes. -1, 0.5 or a short string may be valid somewhere (a latitude, an id) and may be accepted."""
    def kind(v):
        return "bool" if isinstance(v, bool) else "num" if isinstance(v, (int, float)) else type(v).__name__
    if base is None:
        return not isinstance(bad, (str, int, float)) or isinstance(bad, bool) or bad in (HUGE, "\u0000")
    if kind(base) != kind(bad):
        return True
    if isinstance(bad, str):
        return bad in (HUGE, "\u0000") or (isinstance(base, str) and bool(_DATE.match(base)))
    if isinstance(bad, (int, float)) and not isinstance(bad, bool):
        return abs(bad) >= 2**63 or abs(bad) > 1e300
    return False


async def _is_query(client, world, ep, path, query, body) -> bool:
    """Whether the endpoint's valid request answers 2xx and leaves the stored state as it was."""
    if body is None or ep.method != "POST":
        return False
    before = await world.snapshot()
    r = await client.request(ep.method, fill(ep.path, path), params=query, data=json.dumps(body),
                             headers={**ADMIN, "Content-Type": "application/json"})
    return r.status < 300 and await world.snapshot() == before


def fill(template: str, values: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


async def check(client, world, method, url, *, what, params=None, data=None, ctype="application/json",
                mutating=None, may_accept=False, headers=None):
    before = await world.snapshot()
    headers = {**ADMIN, "Content-Type": ctype, **(headers or {})}
    r = await client.request(method, url, params=params, data=data, headers=headers)
    text = await r.text()
    mutating = method != "GET" if mutating is None else mutating
    assert r.status < 500, f"{what}: {r.status} {text[:300]}"
    if r.status >= 400:
        assert r.content_type == "application/problem+json", f"{what}: {r.status} {r.content_type} {text[:200]}"
        body = json.loads(text)
        assert body["status"] == r.status and body["detail"], what
    if mutating and may_accept and r.status < 400:
        return r.status  # a value valid for this field: the request did what it should
    if mutating:
        assert 400 <= r.status < 500, f"{what} was accepted: {r.status} {text[:300]}"
    after = await world.snapshot()
    assert after == before, f"{what} changed the stored state"
    return r.status


@pytest.fixture
async def world(tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    w = World(tmp_path)
    await w.seed()
    async with TestClient(TestServer(w.app)) as client:
        yield w, client
    await w.store.aclose()
    w.transit.close()


async def test_every_endpoint_survives_extreme_inputs(world):
    w, client = world
    endpoints = [ep for ep in w.app[ENDPOINTS] if ep.timeout_s is not None or ep.path != "/v1/events"]
    assert {f"{ep.method} {ep.path}" for ep in endpoints} >= {"POST /v1/offers", "POST /v1/bookings",
                                                             "POST /v1/closures", "GET /v1/plan"}
    tried = 0
    for ep in endpoints:
        if ep.timeout_s is None:  # a stream: its parameters are checked before it starts, like any other
            pass
        offer_id = await w.fresh_offer() if ep.path == "/v1/bookings" else None
        path, query, body, ctype = base_request(ep, w.ids, offer_id)
        # A POST whose valid request changes nothing stored is a query (a ticket check): it may answer an
        # out-of-domain value with a 2xx too, as long as nothing is stored. Every other write must refuse it.
        reads = ep.method == "GET" or await _is_query(client, w, ep, path, query, body)
        if ep.path == "/v1/bookings":  # the probe booked the offer: the spoiled requests get one of their own
            path, query, body, ctype = base_request(ep, w.ids, await w.fresh_offer())
        names = re.findall(r"\{(\w+)\}", ep.path)
        declared = [p["name"] for p in ep.spec.get("parameters", []) if p.get("in") == "query"]
        for name in names:
            for bad in TEXT_EXTREMES:
                url = fill(ep.path, {**path, name: bad.replace("/", "%2F")})
                await check(client, w, ep.method, url, params=query, data=json.dumps(body) if body else None,
                            what=f"{ep.method} {ep.path} {name}={bad[:40]!r}", mutating=ep.method != "GET",
                            may_accept=len(bad) < 1000 and bad != "%00")  # an id may well be "-1" or a date
                tried += 1
        formats = {p["name"]: p.get("schema", {}).get("format") for p in ep.spec.get("parameters", [])}
        for name in sorted(set(declared) | set(query)):
            for bad in TEXT_EXTREMES:
                dated = formats.get(name) in ("date", "date-time") and bool(_DATE.match(bad))
                await check(client, w, ep.method, fill(ep.path, path), params={**query, name: bad},
                            data=json.dumps(body) if body else None,
                            mutating=ep.method != "GET" or dated,  # a year 1 or 9999 date is refused, even to read
                            what=f"{ep.method} {ep.path} ?{name}={bad[:40]!r}")
                tried += 1
        for name in [p["name"] for p in ep.spec.get("parameters", []) if p.get("in") == "header"]:
            for bad in TEXT_EXTREMES:
                if not bad.isascii():
                    continue  # HTTP header values are bytes; the client library refuses others itself
                await check(client, w, ep.method, fill(ep.path, path), params=query,
                            data=json.dumps(body) if body else None, headers={name: bad},
                            may_accept=len(bad) <= 255,
                            what=f"{ep.method} {ep.path} {name}: {bad[:40]!r}")
                tried += 1
        if body is None and not schema_fields(ep.spec):
            continue
        body = body or {}
        declared_body = schema_fields(ep.spec)
        paths = set(leaves(body)) | {(k,) for k in declared_body}
        for leaf in sorted(paths, key=str):
            base = _get(body, leaf) if _get(body, leaf) is not None else declared_body.get(leaf[0])
            for bad in JSON_EXTREMES:
                if ep.path == "/v1/bookings" and not out_of_domain(base, bad):
                    offer_id = await w.fresh_offer()  # an accepted value books the offer: give each its own
                    body = {**body, "offer_id": offer_id} if "offer_id" in body else body
                await check(client, w, ep.method, fill(ep.path, path), params=query,
                            data=json.dumps(spoil(body, leaf, bad)), ctype=ctype,
                            may_accept=not out_of_domain(base, bad), mutating=not reads,
                            what=f"{ep.method} {ep.path} body{list(leaf)}={str(bad)[:40]!r}")
                tried += 1
            for raw in RAW_EXTREMES:  # not JSON: refused by every endpoint, reads included
                marker = "__RAW__"
                text = json.dumps(spoil(body, leaf, marker)).replace(f'"{marker}"', raw)
                await check(client, w, ep.method, fill(ep.path, path), params=query, data=text, ctype=ctype,
                            what=f"{ep.method} {ep.path} body{list(leaf)}={raw}")
                tried += 1
    assert tried > 1000


@pytest.mark.parametrize("start, end", [(None, 2**64 - 1), (2**63, None), (253402300800, None),
                                        (None, 253402300800), (0, 253402300799), (2**40, 2**41)])
async def test_gtfs_rt_alert_active_period_beyond_year_9999(world, start, end):
    """Found: an alert whose active_period ends after year 9999 answered 500."""
    w, client = world
    await check(client, w, "POST", "/v1/closures", data=gtfs_rt_alert(start, end), ctype="application/x-protobuf",
                what=f"GTFS-RT active_period {start}..{end}")


@pytest.mark.parametrize("start, end", [("9999-12-31T23:59:59+00:00", None),
                                        ("2026-11-24T12:00:00+09:00", "9999-12-31T23:59:59-14:00"),
                                        ("0001-01-01T00:00:00+14:00", "2026-11-25T00:00:00+09:00"),
                                        ("9999-12-31", None), ("2026-11-24T12:00:00+09:00", "9999-12-31")])
async def test_json_closure_in_year_9999_or_1(world, start, end):
    w, client = world
    body = {**CLOSURE, "id": "far-away", "start": start, "end": end}
    await check(client, w, "POST", "/v1/closures", data=json.dumps(body), what=f"closure {start}..{end}")


async def test_feed_publish_with_extreme_calendar_is_refused_or_harmless(world):
    """A feed whose calendar runs to year 9999 or starts in year 1 never reaches a date computation unchecked."""
    w, client = world
    tables = booking_tables()["toei-bus"]
    for start, end in (("00010101", "20261231"), ("20260101", "99991231"), ("20260101", str(2**63))):
        bad = copy.deepcopy(tables)
        bad["calendar"][0].update(start_date=start, end_date=end)
        r = await client.post("/v1/feeds/toei-bus", data=_zip(bad), headers={**ADMIN, "Content-Type": "application/zip"})
        assert r.status < 500, await r.text()
        if r.status >= 400:
            assert r.content_type == "application/problem+json"
        for day in ("2026-11-24", "2100-12-31", "2000-01-01"):  # planning still answers, on any allowed day
            r = await client.get("/v1/plan", headers=auth("pk-alpha"), params={
                "from": "toei-bus:0001_01", "to": "toei-bus:0042_02", "depart_at": f"{day}T10:00:00+09:00"})
            assert r.status in (200, 422), await r.text()
        app = create_app(w.services, close_services=False)  # a worker starting on this network
        assert app is not None


async def test_feed_with_a_stop_sequence_beyond_32_bits_is_refused(world):
    """The model keeps stop_sequence as int32 and seats are held per sequence: 2**40 would wrap silently."""
    w, client = world
    before = await w.snapshot()
    tables = copy.deepcopy(booking_tables()["toei-bus"])
    tables["stop_times"][-1]["stop_sequence"] = str(2**40)
    r = await client.post("/v1/feeds/toei-bus", data=_zip(tables), headers={**ADMIN, "Content-Type": "application/zip"})
    body = await r.json(content_type=None)
    assert r.status == 422 and "stop_sequence" in json.dumps(body), body
    assert await w.snapshot() == before
