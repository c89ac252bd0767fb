"""The store contract, run against both engines (embedded SQLite and the Redis that `make test` starts)."""
from __future__ import annotations

import asyncio
import random

import pytest

from maas.store.base import SeatHold, free_seats


async def test_kv_set_get_nx_delete(store):
    assert await store.get("a") is None
    assert await store.set("a", "1")
    assert not await store.set("a", "2", nx=True)
    assert await store.get("a") == "1"
    assert await store.set("a", "3")
    assert await store.get("a") == "3"
    assert not await store.delete_if("a", "wrong")
    assert await store.delete_if("a", "3")
    assert await store.get("a") is None
    assert not await store.delete("a")


async def test_kv_ttl_expires(store):
    await store.set("t", "x", ttl_s=0.5)  # (long enough that the next read is in time on a loaded machine)
    assert await store.get("t") == "x"
    await asyncio.sleep(0.7)
    assert await store.get("t") is None
    assert await store.set("t", "y", nx=True)  # an expired key no longer blocks NX


async def test_keys_by_prefix_with_glob_characters(store):
    for k in ("b:1", "b:2", "b*:3", "c:1"):
        await store.set(k, "v")
    assert sorted(await store.keys("b:")) == ["b:1", "b:2"]
    assert await store.keys("b*") == ["b*:3"]


async def test_sets(store):
    await store.sadd("s", "x")
    await store.sadd("s", "y")
    await store.sadd("s", "x")
    await store.srem("s", "y")
    assert await store.smembers("s") == {"x"}


async def test_seats_are_per_segment(store):
    # 2 seats; A rides 1→3, B rides 1→3: full on segments 1-2 and 2-3, but free from stop 3 on.
    assert (await store.reserve_seats("trip", 2, 1, 3, 1, "A", 0.0 + 1e12, 0)).ok
    assert (await store.reserve_seats("trip", 2, 1, 3, 1, "B", 1e12, 0)).ok
    r = await store.reserve_seats("trip", 2, 2, 4, 1, "C", 1e12, 0)
    assert not r.ok and r.available == 0
    assert (await store.reserve_seats("trip", 2, 3, 5, 2, "D", 1e12, 0)).ok  # gets on where A and B get off
    assert not (await store.reserve_seats("trip", 2, 0, 1, 3, "E", 1e12, 0)).ok  # more than capacity
    assert (await store.reserve_seats("trip", 2, 0, 1, 2, "F", 1e12, 0)).ok


async def test_seat_hold_idempotent_expiry_commit_release(store):
    r1 = await store.reserve_seats("t", 3, 1, 2, 2, "h1", 100.0, now=10.0)
    again = await store.reserve_seats("t", 3, 1, 2, 2, "h1", 100.0, now=11.0)
    assert r1.ok and r1.available == 1 and again.ok and again.already
    assert len(await store.seat_holds("t")) == 1
    assert (await store.reserve_seats("t", 3, 1, 2, 1, "h2", 50.0, now=12.0)).ok
    assert not (await store.reserve_seats("t", 3, 1, 2, 1, "h3", 50.0, now=13.0)).ok
    assert await store.commit_seats("t", "h1", now=20.0)  # sold: never expires
    # at t=60 h2 has expired: its seat is free again and purged by the reservation itself
    assert (await store.reserve_seats("t", 3, 1, 2, 1, "h3", 500.0, now=60.0)).ok
    ids = {h.hold_id: h for h in await store.seat_holds("t")}
    assert set(ids) == {"h1", "h3"} and ids["h1"].expires_at == 0
    assert not await store.commit_seats("t", "h3", now=600.0)  # too late to confirm an expired hold
    assert await store.purge_expired_seats("t", now=600.0) == 0  # the failed commit already dropped it
    assert await store.release_seats("t", "h1")
    assert await store.seat_holds("t") == []


async def test_concurrent_reservations_never_oversell(store):
    results = await asyncio.gather(*[store.reserve_seats("busy", 10, 1, 3, 1, f"h{i}", 1e12, 0)
                                     for i in range(60)])
    assert sum(r.ok for r in results) == 10
    assert sum(h.count for h in await store.seat_holds("busy")) == 10


async def test_free_seats_matches_store_on_random_holds(store):
    """The Lua/SQL seat check agrees with the reference algorithm on random segment mixes."""
    rng = random.Random(7)
    accepted: list[SeatHold] = []
    for i in range(80):
        a = rng.randint(1, 8)
        b = rng.randint(a + 1, 9)
        n = rng.randint(1, 3)
        want = free_seats(accepted, 5, a, b, 0) >= n
        got = await store.reserve_seats("rnd", 5, a, b, n, f"h{i}", 1e12, 0)
        assert got.ok == want
        if want:
            accepted.append(SeatHold(f"h{i}", a, b, n, 1e12))


async def test_ledger_append_is_atomic_and_once(store):
    entries = [{"account": "a", "side": "D", "amount": 5}, {"account": "b", "side": "C", "amount": 5}]
    assert await store.ledger_append("t1", entries)
    assert not await store.ledger_append("t1", entries)
    assert await store.ledger_append("t2", entries[:1])
    assert [e["account"] for e in await store.ledger_entries()] == ["a", "b", "a"]


async def test_publish_subscribe(store):
    sub = await store.subscribe("events:alice")
    await store.publish("events:bob", "not for alice")
    await store.publish("events:alice", "hello")
    assert await sub.get(timeout=2) == ("events:alice", "hello")
    assert await sub.get(timeout=0.05) is None
    await sub.aclose()
    await store.durable()


async def test_embedded_store_survives_reopen(tmp_path):
    from maas.store.embedded import EmbeddedStore

    path = tmp_path / "s.sqlite3"
    s = EmbeddedStore(path)
    await s.set("k", "v")
    await s.reserve_seats("t", 2, 1, 2, 1, "h", 0, 0)
    await s.ledger_append("x", [{"account": "a", "side": "D", "amount": 1}])
    await s.aclose()
    s2 = EmbeddedStore(path)
    assert await s2.get("k") == "v"
    assert [h.hold_id for h in await s2.seat_holds("t")] == ["h"]
    assert len(await s2.ledger_entries()) == 1
    await s2.aclose()


async def test_prefix_subscription_gets_every_matching_channel(store):
    """One subscription for a whole channel family (a worker's SSE fan-out), nothing from other channels."""
    sub = await store.subscribe_prefix("events:")
    try:
        await asyncio.sleep(0.05)
        for channel, message in (("events:alice", "1"), ("other:x", "2"), ("events:bob*", "3")):
            await store.publish(channel, message)
        assert [await sub.get(timeout=2) for _ in range(2)] == [("events:alice", "1"), ("events:bob*", "3")]
        assert await sub.get(timeout=0.2) is None
    finally:
        await sub.aclose()


async def test_replace_if_only_over_the_expected_value(store):
    await store.set("r", "old")
    assert not await store.replace_if("r", "other", "new")
    assert await store.get("r") == "old"
    assert await store.replace_if("r", "old", "new", ttl_s=0.5)  # (as in test_kv_ttl_expires)
    assert await store.get("r") == "new"
    await asyncio.sleep(0.7)
    assert await store.get("r") is None and not await store.replace_if("r", "new", "x")  # gone: nothing revived
    assert not await store.replace_if("absent", "", "x") and await store.get("absent") is None


async def test_replace_versioned_is_a_compare_and_set(store):
    assert await store.replace_versioned("b", '{"version": 1, "x": "a"}', 0)
    assert not await store.replace_versioned("b", '{"version": 1, "x": "b"}', 0)  # exists: not a create
    assert not await store.replace_versioned("b", '{"version": 3, "x": "c"}', 2)  # stale version
    assert await store.replace_versioned("b", '{"version": 2, "x": "d"}', 1)
    assert await store.get("b") == '{"version": 2, "x": "d"}'
    await store.set("plain", "not json")
    assert not await store.replace_versioned("plain", '{"version": 1}', 1)
    assert not await store.replace_versioned("plain", '{"version": 1}', 0)
    await store.set("legacy", '{"id": "bk_old"}')  # a record from before versions: version 0
    assert not await store.replace_versioned("legacy", '{"version": 2}', 1)
    assert await store.replace_versioned("legacy", '{"version": 1, "id": "bk_old"}', 0)
    assert not await store.replace_versioned("missing", '{"version": 2}', 1)
    # racing writers that all read version 2: exactly one wins
    wins = await asyncio.gather(*[store.replace_versioned("b", f'{{"version": 3, "w": {i}}}', 2) for i in range(20)])
    assert sum(wins) == 1


async def test_sunion_and_lex_ordered_pages(store):
    await store.sadd("u:1", "a")
    await store.sadd("u:2", "b")
    await store.sadd("u:2", "a")
    assert await store.sunion(["u:1", "u:2", "u:none"]) == {"a", "b"}
    assert await store.sunion([]) == set()
    members = [f"{t:016d}|bk_{i}" for i, t in enumerate([5, 3, 3, 10**15, 7])]
    for m in members:
        await store.zadd_lex("z", m)
    await store.zrem_lex("z", members[4])
    want = sorted(members[:4])
    assert await store.zrange_lex("z", "", 2) == want[:2]
    assert await store.zrange_lex("z", want[1], 2) == want[2:4]
    assert await store.zrange_lex("z", want[3], 2) == []
    assert await store.zrange_lex("z", f"{4:016d}|", 10) == want[2:]


async def test_sets_update_in_one_batch(store):
    await store.sadd("v:1", "gone")
    await store.sets_update(add=[("v:1", "a"), ("v:2", "b"), ("v:1", "a")], remove=[("v:1", "gone"), ("v:3", "x")])
    assert await store.smembers("v:1") == {"a"} and await store.smembers("v:2") == {"b"}


# ---- Redis Cluster: keys that go together share a slot; old key names still read; URLs -------------------------
def test_same_slot_keys_hash_to_their_data_key_slot():
    from redis.crc import key_slot

    from maas.store.redis_conn import same_slot

    for key in ("maas:ledger:entries", "test:0123:ledger:entries", "maas:closures", "{tenant}:ledger:entries"):
        assert key_slot(same_slot(key, ":txns").encode()) == key_slot(key.encode()), key
    assert same_slot("maas:closures", ":version") == "{maas:closures}:version"  # the data key keeps its name


async def test_ledger_still_reads_the_id_set_written_before_the_hash_tag(redis_url):
    """A single-Redis deployment upgraded in place: a transaction posted under the old ``ledger:txns`` set is not
    posted again."""
    from booking_support import drop_test_store, open_test_store

    store = await open_test_store("redis", redis_url)
    try:
        await store.r.sadd(store.prefix + "ledger:txns", "capture:bk_old")
        assert not await store.ledger_append("capture:bk_old", [{"txn": "capture:bk_old", "amount": 1}])
        assert await store.ledger_append("capture:bk_new", [{"txn": "capture:bk_new", "amount": 2}])
        assert not await store.ledger_append("capture:bk_new", [{"txn": "capture:bk_new", "amount": 2}])
        assert await store.ledger_entries() == [{"txn": "capture:bk_new", "amount": 2}]
    finally:
        await drop_test_store(store)


@pytest.mark.parametrize("url, nodes", [("redis+cluster://127.0.0.1:7000", [("127.0.0.1", 7000)]),
                                        ("redis+cluster://u:p@a:7000,b:7001/", [("a", 7000), ("b", 7001)]),
                                        ("rediss+cluster://[::1]:7000", [("::1", 7000)])])
def test_cluster_urls_name_their_start_up_nodes(url, nodes):
    from maas.store.redis_conn import is_cluster_url, parse_cluster_url

    assert is_cluster_url(url) and parse_cluster_url(url).nodes == nodes


@pytest.mark.parametrize("url", ["redis+cluster://", "redis+cluster://host", "redis+cluster://h:99999",
                                 "redis+cluster://h:7000/3"])
def test_bad_cluster_urls_are_refused_with_the_reason(url):
    from maas.store.redis_conn import parse_cluster_url

    with pytest.raises(ValueError, match="node|database"):
        parse_cluster_url(url)


async def test_a_cluster_connection_torn_down_while_sending_is_retried_not_a_crash(redis_cluster_url, monkeypatch):
    """A failover disconnects every connection of a node the client drops, also one a request is sending on. That
    send must fail as a ConnectionError, which the cluster client retries on a fresh connection (redis-py's own
    connection raised AttributeError there, a /v1/plan 500 under test_failover), and the rate limiter lets through."""
    from redis.asyncio.connection import AbstractConnection

    from maas.platform.ratelimit import RateLimit, RedisRateLimiter
    from maas.store.redis_conn import connect

    key = b"maas:test:torn"
    torn: list = []
    send = AbstractConnection.send_packed_command

    async def marking_send(self, command, check_health=True):  # which connection carries the command under test
        if any(key in part for part in ([command] if isinstance(command, bytes) else command)):
            self.maas_test_target = True  # kept through the handshake a fresh connection sends first
        return await send(self, command, check_health)

    async def torn_down_once(self):  # the failover's node.disconnect() landing on the send's awaited health check
        if getattr(self, "maas_test_target", False) and not torn:
            torn.append(self)
            await self.disconnect()

    client = connect(redis_cluster_url)
    limiter = RedisRateLimiter(redis_cluster_url, prefix="maas:test:")
    try:
        await client.set(key, "before")
        monkeypatch.setattr(AbstractConnection, "send_packed_command", marking_send)
        monkeypatch.setattr(AbstractConnection, "check_health", torn_down_once)
        await client.set(key, "after")
        assert torn and await client.get(key) == b"after"
        torn.clear()
        key = b"maas:test:torn-bucket"  # the limiter's own bucket: rl:torn-bucket under its prefix
        decision = await limiter.hit("torn-bucket", RateLimit(rate=1, burst=5))
        assert torn and decision.allowed
    finally:
        monkeypatch.undo()
        await client.delete(b"maas:test:torn", b"maas:test:torn-bucket")
        await client.aclose()
        await limiter.aclose()
