"""Property-based run of the whole API from its own /openapi.json (schemathesis) against a live server on
127.0.0.1: no 5xx for any generated input, and every response matches the documented status, media type and
schema. Bounded in examples so it stays a few seconds."""
from __future__ import annotations

import urllib.request

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi import checks as oa_checks

from api.app import create_app
from api_support import auth, live_server, services_for, tiny_transit
from booking_support import Clock, make_service
from maas.closure_store import MemoryClosureStore
from maas.services import closure_service
from maas.settings import Settings
from maas.store.embedded import EmbeddedStore

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CHECKS = [schemathesis.checks.not_a_server_error, oa_checks.status_code_conformance,
          oa_checks.content_type_conformance, oa_checks.response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    transit = tiny_transit(tmp_path_factory.mktemp("api-schema"))
    services = services_for(transit, bookings=make_service(EmbeddedStore(":memory:"), Clock()),
                            closures=closure_service(Settings(), transit, store=MemoryClosureStore()))
    with live_server(create_app(services)) as url:
        # the event stream never ends by design: it has its own tests
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json").exclude(path="/v1/events")
        schema.base_url_for_test = url
        yield schema


def test_api_conforms_to_its_schema(api_schema):
    """Each operation in turn (schemathesis' own pytest plugin does not load under pytest 9)."""
    failures, ran = [], 0
    for result in api_schema.get_all_operations():
        op = result.ok()

        @given(case=op.as_strategy() | op.as_strategy(GenerationMode.NEGATIVE))
        @settings(max_examples=12, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=auth("adm-root"), checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{op.label}: {exc}")
        ran += 1
    assert ran >= 15
    with urllib.request.urlopen(f"{api_schema.base_url_for_test}/metrics") as resp:
        metrics = resp.read().decode()
    served = sum(int(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("maas_http_requests_total{"))
    assert served > 5 * ran  # the generated cases really reached the server
    assert not failures, "\n\n".join(failures)
