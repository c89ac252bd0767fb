"""Property-based run of the whole API from its own /openapi.json (schemathesis) against a live server on
127.0.0.1, once per role (partner, operator, disaster, admin): no 5xx for any generated input, every response
matches the documented status, media type and schema, and no schema-valid request is rejected — the document
states every constraint the handlers check (patterns, bounds, required fields), so a request that fits it is
answered (2xx, or 401/403/404/409 about credentials and state), never refused as malformed.

The few rejections a schema cannot rule out are listed in SEMANTIC with the reason. Bounded in examples so it
stays well under a minute per role."""
from __future__ import annotations

import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as oa_checks
from schemathesis.specs.openapi.checks import RejectedPositiveData

from api.app import create_app
from api_support import auth, live_server, services_for, tiny_transit
from booking_support import Clock, make_service
from maas.disruptions.closure_store import MemoryClosureStore
from maas.services import closure_service
from maas.platform.settings import Settings
from maas.store.embedded import EmbeddedStore

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROLES = ("adm-root", "pk-alpha", "op-test", "dis-jma")
# Why a request that fits the schema may still be refused: validity no schema can state. Each entry is
# (operation, status, problem member, what it must start with) → the reason.
SEMANTIC = {
    ("POST /v1/feeds/{operator}", 422, "field", "body"):
        "the upload must be a safe zip of a GTFS feed that passes validation",
    ("POST /v1/feeds/{operator}", 400, "field", "body"):
        "a multipart form must be well-formed (boundaries, part headers)",
    ("POST /v1/closures", 422, "type", "https://tokyo-maas.example/problems/invalid-closure"):
        "ids must exist in the timetable, polygons must enclose an area without crossing themselves, end after "
        "start",
    ("PUT /v1/operators/{id}/profile", 422, "type", "https://tokyo-maas.example/problems/invalid-profile"):
        "a profile's fares, seats and rules are checked by the fare engine against each other and the feed",
    ("POST /v1/bookings", 422, "type", "https://tokyo-maas.example/problems/invalid_card"):
        "a sandbox card number must pass the Luhn check",
    ("GET /v1/bookings", 422, "field", "cursor"): "an opaque cursor is valid only as this API returned it",
    ("POST /v1/realtime/{operator}", 422, "type", "https://tokyo-maas.example/problems/invalid-realtime"):
        "a GTFS-Realtime message must decode, with its timestamps near the server's clock and valid ids",
    ("GET /v1/vehicles", 422, "field", "bbox"): "a bounding box needs min ≤ max, longitudes within ±180 and "
                                                "latitudes within ±90",
    ("POST /v1/offers", 422, "type", "https://tokyo-maas.example/problems/unknown_trip"):
        "every ride must be one the timetable has (trip, service day, stops, positions, pickup and drop-off)",
    ("POST /v1/offers", 422, "type", "https://tokyo-maas.example/problems/invalid_itinerary"):
        "an itinerary needs a ride to book (not only walks), each with a trip and its boarding and alighting",
    ("POST /v1/offers", 422, "type", "https://tokyo-maas.example/problems/invalid_passengers"):
        "1 to 9 passengers in all, children with at least one adult",
}


def _explained(case, response) -> bool:
    try:
        problem = response.json()
    except Exception:
        return False
    return any(op == case.operation.label and status == response.status_code
               and str(problem.get(member, "")).startswith(prefix)
               for op, status, member, prefix in SEMANTIC)


@schemathesis.check
def accepts_schema_valid_requests(ctx, response, case):
    """positive_data_acceptance, less the rejections SEMANTIC explains."""
    try:
        return oa_checks.positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if _explained(case, response):
            return None
        raise


CHECKS = [schemathesis.checks.not_a_server_error, oa_checks.status_code_conformance,
          oa_checks.content_type_conformance, oa_checks.response_schema_conformance,
          accepts_schema_valid_requests]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    transit = tiny_transit(tmp_path_factory.mktemp("api-schema"))
    services = services_for(transit, bookings=make_service(EmbeddedStore(":memory:"), Clock()),
                            closures=closure_service(Settings(), transit, store=MemoryClosureStore()))
    with live_server(create_app(services)) as url:
        wait_ready(url)  # /readyz answers 503 while the planner warms up: test the server it becomes
        # the event stream never ends by design: it has its own tests
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json").exclude(path="/v1/events")
        schema.base_url_for_test = url
        yield schema


def wait_ready(url: str, limit_s: float = 300.0) -> None:
    import time
    import urllib.error

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=30) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server was not ready within {limit_s} s")


@pytest.mark.parametrize("key", ROLES)
def test_api_conforms_to_its_schema(api_schema, key):
    """Each operation in turn, with this role's key (schemathesis' own pytest plugin does not load under
    pytest 9)."""
    failures, ran = [], 0
    for result in api_schema.get_all_operations():
        op = result.ok()

        @given(case=op.as_strategy() | op.as_strategy(GenerationMode.NEGATIVE))
        @settings(max_examples=10, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=auth(key), checks=CHECKS, timeout=120)  # a loaded CI machine is slow

        try:
            run()
        except BaseException as exc:  # hypothesis raises a group; collect every operation's, report them together
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            failures.append(f"{op.label}: {exc}")
        ran += 1
    assert ran >= 15
    with urllib.request.urlopen(f"{api_schema.base_url_for_test}/metrics") as resp:
        metrics = resp.read().decode()
    served = sum(int(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("maas_http_requests_total{"))
    assert served > 5 * ran  # the generated cases really reached the server
    assert not failures, "\n\n".join(failures)
