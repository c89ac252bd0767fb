"""Travellers told: a JMA warning whose area a booked trip enters sends `warning` (avoid) or `disrupted` (close)
with a re-planned alternative that stays out; its lift sends `restored`."""
from __future__ import annotations

import datetime as dt

import pytest

from api_support import auth, client_for, read_events, services_for, subscribe
from booking_support import GOOD_CARD, Clock, make_service
from conftest import shared_file
from jma_support import JST, SHINJUKU, landslide_xml, warning_xml
from maas.disruptions.closure_store import MemoryClosureStore
from maas.services import closure_service
from maas.platform.settings import Settings
from maas.store.embedded import EmbeddedStore
from tokyo_mini import mini_transit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NS = "shuttle-mini"  # a shuttle namespace, so the registry books it with a default seat count
T0 = dt.datetime(2026, 11, 24, 7, 0, tzinfo=JST)
XML = {**auth("dis-jma"), "Content-Type": "application/xml"}


async def test_warning_disrupted_and_restored_events(tmp_path):
    from operators.catalog import FeedCatalog
    from operators.registry import OperatorRegistry

    areas = shared_file("tokyo-municipalities.geojson")
    transit = mini_transit(tmp_path, NS)
    store = EmbeddedStore(":memory:")
    registry = OperatorRegistry(store, FeedCatalog(lambda: transit.network.feeds))
    clock = Clock()  # 2026-11-24 08:00
    services = services_for(transit, bookings=make_service(store, clock, registry=registry, transit=transit),
                            clock=clock,
                            closures=closure_service(Settings(jma_areas=areas), transit, store=MemoryClosureStore(),
                                                     clock=clock))
    try:
        async with client_for(services) as client:
            q = {"from": f"{NS}:SBY", "to": f"{NS}:IKB", "depart_at": "2026-11-24T08:10:00+09:00", "num": "1"}
            it = (await (await client.get("/v1/plan", params=q, headers=auth("pk-alpha"))).json())["itineraries"][0]
            assert it["legs"][0]["route"]["id"] == f"{NS}:FAST" and it["departure"].endswith("08:15:00+09:00")
            o = await (await client.post("/v1/offers", json={"itinerary": it}, headers=auth("pk-alpha"))).json()
            r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": GOOD_CARD},
                                  headers=auth("pk-alpha"))
            booking = (await r.json())["id"]
            assert r.status == 201
            alpha = await subscribe(client, "pk-alpha")
            # 大雨警報 over 新宿区 (avoid): `warning`, with an alternative round the area
            xml = warning_xml([(*SHINJUKU, [("大雨警報", "03", "発表")])], T0)
            assert (await client.post("/v1/closures", data=xml.encode(), headers=XML)).status == 201
            [(name, ev)] = await read_events(alpha, 1, timeout=10)
            assert name == "warning" and ev["booking_id"] == booking
            assert ev["closure"]["id"] == "jma:warn:130000:1310400:03" and ev["closure"]["strength"] == "avoid"
            assert ev["warning"]["headline"]["ja"] == "新宿区に大雨警報" and ev["reason"].startswith("stop")
            assert {leg["route"]["id"] for leg in ev["alternative"]["legs"] if leg["mode"] != "WALK"} == {f"{NS}:SLOW"}
            # the next report no longer lists a warning for 新宿区: `restored`
            xml = warning_xml([(*SHINJUKU, [])], T0 + dt.timedelta(minutes=30))
            assert (await client.post("/v1/closures", data=xml.encode(), headers=XML)).status == 201
            [(name, ev)] = await read_events(alpha, 1, timeout=10)
            assert name == "restored" and ev["booking_id"] == booking
            assert ev["closure"]["id"] == "jma:warn:130000:1310400:03"
            # a landslide alert (close): `disrupted`, again with the way round
            xml = landslide_xml([SHINJUKU + ("発表",)], T0 + dt.timedelta(minutes=40))
            assert (await client.post("/v1/closures", data=xml.encode(), headers=XML)).status == 201
            [(name, ev)] = await read_events(alpha, 1, timeout=10)
            assert name == "disrupted" and ev["warning"]["kind"] == "土砂災害警戒情報"
            assert {leg["route"]["id"] for leg in ev["alternative"]["legs"] if leg["mode"] != "WALK"} == {f"{NS}:SLOW"}
            # an advisory only informs: nobody is told
            xml = warning_xml([(*("1310100", "千代田区"), [("雷注意報", "14", "発表")])], T0 + dt.timedelta(minutes=50))
            assert (await client.post("/v1/closures", data=xml.encode(), headers=XML)).status == 201
            with pytest.raises(TimeoutError):
                await read_events(alpha, 1, timeout=1.0)
            alpha.close()
    finally:
        transit.mask_provider = None
        transit.close()
        await store.aclose()
