"""Big closure payloads are parsed in a child process: the same closures as parsing here, the same errors
(field included), the stored and answered JSON forms byte for byte those of `closure_to_json`, and parsing here
again when the child is gone."""
from __future__ import annotations

import datetime as dt

import orjson
import pytest
import shapely

from feeds.closure_json import ClosureError, closure_to_json
from maas.disruptions.closure_parse import CHILD_BYTES, ChildParser, wants_child
from maas.disruptions.closures import ClosureService
from test_jma_offloop import big_polygon

NOW = dt.datetime(2026, 11, 24, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def big_body(cid: str = "big") -> bytes:
    body = orjson.dumps({"id": cid, "start": NOW.isoformat(), "targets": {"areas": [big_polygon()]}})
    assert len(body) >= CHILD_BYTES
    return body


@pytest.fixture
async def svc():
    s = ClosureService(clock=lambda: NOW)
    await s.start()
    yield s
    await s.aclose()


def test_only_big_json_and_cap_bodies_go_to_the_child():
    assert wants_child(big_body(), "application/json")
    assert wants_child(big_body(), "application/cap+xml")  # a CAP polygon can be as big
    assert not wants_child(b'{"id": "x"}', "application/json")
    assert not wants_child(b"<Report xmlns=\"http://xml.kishou.go.jp/jmaxml1/\">" + b" " * CHILD_BYTES,
                           "application/xml")  # JMA telegrams name areas by code
    assert not wants_child(big_body(), "application/x-protobuf")
    assert not wants_child(big_body(), "text/plain")  # refused by the parser, with its own message


async def test_child_parses_like_the_service_and_encodes_the_stored_form(svc):
    body = big_body()
    here = svc.parse(body, "application/json")
    assert svc.child is not None
    result = await svc.accept(body, "application/json")
    (c,) = result.accepted
    assert shapely.equals(c.areas[0].geometry, here[0].areas[0].geometry) and c.start == here[0].start
    form = svc.json_form(c)
    assert isinstance(form, orjson.Fragment)  # the child's encoding, embedded as is
    assert orjson.loads(orjson.dumps(form)) == orjson.loads(orjson.dumps(closure_to_json(here[0])))
    assert (await svc.store.load())["big"] == closure_to_json(here[0])
    # every closure held answers with its stored bytes; one not held is encoded anew
    await svc.accept(orjson.dumps({"id": "small", "targets": {"areas": [big_polygon(16)]}}), "application/json")
    small = svc.get("small")
    assert orjson.dumps(svc.json_form(small)) == (await svc.store.load_raw())["small"]
    (copy,) = svc.parse(orjson.dumps({"id": "small", "targets": {"areas": [big_polygon(16)]}}), "application/json")
    assert svc.json_form(copy) == closure_to_json(small)


async def test_child_errors_are_the_parsers_and_change_nothing(svc):
    bad = orjson.loads(big_body())
    ring = bad["targets"]["areas"][0]["coordinates"][0]
    ring[10], ring[11] = ring[11], ring[10]  # two swapped vertices: the ring crosses itself
    with pytest.raises(ClosureError) as child_err:
        await svc.accept(orjson.dumps(bad), "application/json")
    with pytest.raises(ClosureError) as here_err:
        svc.parse(orjson.dumps(bad), "application/json")
    assert (child_err.value.detail, child_err.value.field) == (here_err.value.detail, here_err.value.field)
    assert child_err.value.field and svc.list_all() == [] and svc.version == 0


async def test_a_dead_child_falls_back_to_parsing_here(svc):
    await svc.accept(big_body("one"), "application/json")
    pool = svc.child._executor()
    for p in list(pool._processes.values()):
        p.kill()
        p.join()
    result = await svc.accept(big_body("two"), "application/json")
    assert [c.id for c in result.accepted] == ["two"] and svc.child is None
    assert sorted(c.id for c in svc.list_all()) == ["one", "two"]


async def test_child_parser_alone():
    child = ChildParser()
    try:
        await child.start()
        parsed, encoded = await child.parse(big_body(), "application/json", namespace=None, source="t", now=NOW)
        assert [c.id for c in parsed] == ["big"] and set(encoded) == {"big"}
        with pytest.raises(ClosureError, match="unsupported content type"):
            await child.parse(big_body(), "text/plain", namespace=None, source="t", now=NOW)
    finally:
        child.close()


async def test_a_reload_rebuilds_only_what_changed_big_ones_in_the_child(svc, monkeypatch):
    await svc.accept(big_body("one"), "application/json")
    one, version = svc.get("one"), svc.version
    await svc.reload()  # what the store's change notice makes every worker do, this one too
    assert svc.get("one") is one and svc.version == version  # same bytes: nothing decoded, nothing new
    other = ClosureService(svc.store, clock=lambda: NOW)  # another worker on the same store
    other.child = None
    await other.start()
    assert shapely.equals(other.get("one").areas[0].geometry, one.areas[0].geometry)
    await other.accept(big_body("two"), "application/json")
    built = []
    real = svc.child.build

    async def spy(rows):
        built.append(sorted(rows))
        return await real(rows)

    monkeypatch.setattr(svc.child, "build", spy)
    await svc.reload()
    assert built == [["two"]] and svc.get("one") is one and svc.version == version + 1
    assert orjson.loads(orjson.dumps(svc.json_form(svc.get("two")))) == closure_to_json(other.get("two"))
    await other.lift("one")
    await svc.reload()
    assert [c.id for c in svc.list_all()] == ["two"] and built == [["two"]]
    await other.aclose()
