"""One example per model, shown in the OpenAPI document beside the schema (tests decode each into its model)."""
from __future__ import annotations

from api.models import search

_ROUTE = {"id": "toei-subway:E", "short_name": "E", "long_name": "大江戸線", "color": "B6007A",
          "text_color": "FFFFFF", "type": 1}
_GEOMETRY = {"type": "LineString", "coordinates": [[139.692677, 35.690607], [139.7019, 35.6862],
                                                   [139.754855, 35.656455]]}
_LEG = {
    "mode": "SUBWAY", "operator": "toei-subway", "agency": {"id": "toei-subway:toei", "name": "東京都交通局"},
    "route": _ROUTE, "trip_id": "toei-subway:E-WD-0812-1", "service_date": "2026-11-24", "headsign": "両国",
    "from": {"lat": 35.690607, "lon": 139.692677, "stop_id": "toei-subway:E-28-1", "name": "都庁前",
             "name_en": "Tochomae", "sequence": 1},
    "to": {"lat": 35.656455, "lon": 139.754855, "stop_id": "toei-subway:E-20-1", "name": "大門",
           "name_en": "Daimon", "sequence": 9},
    "departure": "2026-11-24T08:12:00+09:00", "arrival": "2026-11-24T08:31:00+09:00",
    "intermediate_stops": [{"stop_id": "toei-subway:E-27-1", "name": "新宿西口", "name_en": "Shinjuku-nishiguchi",
                            "lat": 35.6932, "lon": 139.6991, "arrival": "2026-11-24T08:14:00+09:00",
                            "departure": "2026-11-24T08:14:30+09:00"}],
    "distance_m": 9870, "duration_s": 1140, "booking_required": False, "geometry": _GEOMETRY,
}
_ITINERARY = {"id": "3f1c2a9b8d7e6f50", "departure": "2026-11-24T08:12:00+09:00",
              "arrival": "2026-11-24T08:31:00+09:00", "duration_s": 1140, "transfers": 0, "walk_distance_m": 0,
              "walking": "straight_line", "legs": [_LEG]}
_STOP = {"id": "toei-subway:P-tochomae", "name": "都庁前", "name_en": "Tochomae", "name_kana": "とちょうまえ",
         "name_romaji": "tochoumae", "lat": 35.690607, "lon": 139.692677, "type": "station",
         "parent_station": None, "operator": "toei-subway", "match": "exact"}
_DEPARTURE = {"departure": "2026-11-24T08:12:00+09:00", "stop_id": "toei-subway:E-28-1",
              "trip_id": "toei-subway:E-WD-0812-1", "headsign": "両国", "mode": "SUBWAY", "operator": "toei-subway",
              "route": {k: v for k, v in _ROUTE.items() if k != "type"}, "booking_required": False,
              "status": "scheduled", "closure": None}
_TRIP_STOP = {"stop_id": "toei-subway:E-28-1", "name": "都庁前", "name_en": "Tochomae", "lat": 35.690607,
              "lon": 139.692677, "sequence": 1, "arrival": "2026-11-24T08:12:00+09:00",
              "departure": "2026-11-24T08:12:00+09:00", "pickup": True, "drop_off": True}

EXAMPLES: dict[type, dict] = {
    search.Itinerary: _ITINERARY,
    search.Leg: _LEG,
    search.PlanResponse: {"itineraries": [_ITINERARY],
                          "page": {"earlier": "earlier:1795477800", "later": "later:1795479180"}, "notices": []},
    search.Stop: _STOP,
    search.StopsResponse: {"stops": [_STOP]},
    search.Departure: _DEPARTURE,
    search.DeparturesResponse: {"stop_id": "toei-subway:P-tochomae", "at": "2026-11-24T08:00:00+09:00",
                                "departures": [_DEPARTURE], "closed": False,
                                "page": {"later": "later:1795478520.1"}, "notices": []},
    search.Trip: {"trip_id": "toei-subway:E-WD-0812-1", "service_date": "2026-11-24", "mode": "SUBWAY",
                  "operator": "toei-subway", "agency": {"id": "toei-subway:toei", "name": "東京都交通局"},
                  "route": _ROUTE, "headsign": "両国", "booking_required": False,
                  "departure": "2026-11-24T08:12:00+09:00", "arrival": "2026-11-24T08:31:00+09:00",
                  "distance_m": 9870, "stops": [_TRIP_STOP], "geometry": _GEOMETRY},
}
