"""Durability you can see: the Redis store checks the server's persistence at start (refusing a Redis that could
lose confirmed bookings unless told otherwise, then warning loudly), ``durable()`` checks what the server answers,
`/readyz` follows the store, store outages are 503 + Retry-After (never 500) and pooled connections recover by
themselves after a Redis restart. Each test runs its own redis-server (tests/redis_support.py)."""
from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from api_support_http import Served, book_on_sample, free_port, get, serve, wait_ready
from booking_support import drop_test_store
from redis_support import PrivateRedis
from api.events import RESUBSCRIBE_MAX_S
from maas.store.errors import NotDurable, VolatileStore, transient_errors
from maas.store.redis_store import RECHECK_S, RedisStore

KEYS = {"pk-a": {"role": "partner", "name": "a"}, "pk-b": {"role": "partner", "name": "b"}}


async def test_aof_always_is_accepted_and_verified_on_every_durable(tmp_path):
    with PrivateRedis(tmp_path / "r", aof=True) as redis:
        store = RedisStore.from_url(redis.url, prefix="t:")
        try:
            p = await store.check_durability()
            assert p.aof_enabled and p.appendfsync == "always" and p.crash_safe
            assert p.mode in ("aof-always", "waitaof")
            await store.set("k", "v")
            await store.durable()  # confirmed: nothing raised
            if p.mode == "aof-always":  # Redis < 7.2: the setting is re-verified, a downgrade is caught
                await store.r.config_set("appendfsync", "everysec")
                time.sleep(RECHECK_S)
                with pytest.raises(NotDurable, match="everysec"):
                    await store.durable()
        finally:
            await drop_test_store(store)


async def test_redis_without_aof_is_refused_unless_allowed(tmp_path, caplog):
    with PrivateRedis(tmp_path / "r", aof=False) as redis:
        store = RedisStore.from_url(redis.url, prefix="t:")
        try:
            with pytest.raises(VolatileStore, match="appendonly no.*--allow-volatile-redis"):
                await store.check_durability()
            p = await store.check_durability(allow_volatile=True)
            assert not p.crash_safe and p.mode == "volatile"
            assert any("VOLATILE REDIS" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
            await store.durable()  # accepted risk: best effort, no error
        finally:
            await drop_test_store(store)


@pytest.mark.parametrize("mode, answer, message", [("waitaof", [0, 0], "WAITAOF answered 0"),
                                                    ("replicas", 0, "no Redis replica")])
async def test_durable_checks_the_servers_answer(tmp_path, monkeypatch, mode, answer, message):
    """WAITAOF (Redis >= 7.2) and WAIT (replicas) answers are read: zero fsyncs / replicas is not durable."""
    with PrivateRedis(tmp_path / "r", aof=True) as redis:
        store = RedisStore.from_url(redis.url, prefix="t:")
        try:
            await store.check_durability()
            store._mode = mode
            sent = []

            async def wait_after_write(client, key, *command):  # the write, then the wait, on one connection
                sent.append(command[0])
                return answer

            monkeypatch.setattr(store, "_wait_after_write", wait_after_write)
            with pytest.raises(NotDurable, match=message):
                await store.durable()
            assert sent == [{"waitaof": "WAITAOF", "replicas": "WAIT"}[mode]]
            good = [1, 0] if mode == "waitaof" else 1
            monkeypatch.setattr(store, "_wait_after_write", lambda *a: _value(good))
            await store.durable()
        finally:
            await store.aclose()


async def _value(v):
    return v


def _serve(tmp_path: Path, url: str, *extra: str) -> Served:
    return serve(tmp_path, ["--redis", url, *extra], KEYS)


def test_serve_refuses_redis_without_aof(tmp_path):
    with PrivateRedis(tmp_path / "r", aof=False) as redis:
        served = _serve(tmp_path, redis.url)
        try:
            assert served.proc.wait(60) == 2
            err = served.output()
            line = [x for x in err.splitlines() if x.startswith("maas serve:")]
            assert len(line) == 1 and "appendonly no" in line[0] and "--allow-volatile-redis" in line[0], err
        finally:
            served.stop()


def test_serve_refuses_unreachable_redis(tmp_path):
    served = _serve(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert served.proc.wait(60) == 2
        assert "cannot reach Redis" in served.output()
    finally:
        served.stop()


def test_serve_with_flag_warns_loudly_and_serves(tmp_path):
    with PrivateRedis(tmp_path / "r", aof=False) as redis:
        served = _serve(tmp_path, redis.url, "--allow-volatile-redis")
        try:
            wait_ready(served)
            assert get(f"{served.base}/readyz")[0] == 200
        finally:
            served.stop()
        err = served.output()
        assert "WARNING: VOLATILE REDIS" in err and "LOSES CONFIRMED BOOKINGS" in err
        assert '"VOLATILE REDIS' in err  # and the worker's structured log says it too


def test_redis_restart_under_a_live_server(tmp_path):
    """Stop Redis under `maas serve`: readyz 503 and store calls 503 + Retry-After (no 500); start it again on
    the same port: ready and serving again without restarting the server, the booking still there (AOF), and an
    event stream opened before the outage gets events again (the worker's shared subscription came back)."""
    redis = PrivateRedis(tmp_path / "r", aof=True).start()
    served = _serve(tmp_path, redis.url)
    base = served.base
    try:
        wait_ready(served)
        booking = book_on_sample(base, "pk-a")
        stream = urllib.request.urlopen(urllib.request.Request(f"{base}/v1/events", headers={
            "Authorization": "Bearer pk-b"}), timeout=20)
        assert stream.readline() == b"retry: 3000\n"
        redis.stop()
        status, body = get(f"{base}/readyz")
        assert status == 503 and body["status"] == "store_unavailable"
        for path in (f"/v1/bookings/{booking['id']}", f"/v1/payments/{booking['id']}"):
            status, body, headers = get(f"{base}{path}", "pk-a", with_headers=True)
            assert status == 503 and body["type"].endswith("store-unavailable"), body
            assert headers["Content-Type"].startswith("application/problem+json") and headers["Retry-After"]
        redis.start()  # the first calls after the restart succeed: dead pooled connections are replaced
        for _ in range(5):
            status, body = get(f"{base}/v1/bookings/{booking['id']}", "pk-a")
            assert status == 200 and body["state"] == "CONFIRMED", body
        assert get(f"{base}/readyz")[0] == 200
        time.sleep(RESUBSCRIBE_MAX_S + 0.5)  # the longest the shared subscription waits before trying again
        second = book_on_sample(base, "pk-b")
        assert second["state"] == "CONFIRMED"
        deadline = time.monotonic() + 15
        while second["id"] not in stream.readline().decode():
            assert time.monotonic() < deadline, "the stream heard nothing after the restart"
        stream.close()
    finally:
        served.stop()
        redis.stop()
    records = served.records()
    assert not [r for r in records if r.get("status") == 500 or r.get("level") == "error"], records


def test_store_errors_are_transient_errors():
    import redis.exceptions as rx

    assert issubclass(rx.ConnectionError, transient_errors()) and issubclass(NotDurable, transient_errors())


async def test_a_locked_embedded_store_is_unavailable_not_a_bug(tmp_path):
    """Another process holding the SQLite write lock past busy_timeout: the API's 503 + Retry-After, not a 500."""
    import sqlite3

    from maas.store.embedded import EmbeddedStore

    store = EmbeddedStore(tmp_path / "store.sqlite3")
    store._db.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO kv (key, value) VALUES ('x', 'held')")
    try:
        with pytest.raises(transient_errors()):
            await store.set("booking:1", "{}")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await store.set("booking:1", "{}") and await store.get("booking:1") == "{}"


async def test_cluster_durable_waits_for_a_replica_of_every_master(redis_cluster_url, monkeypatch):
    """On a cluster with replicas, a confirmed write must be on the replica a failover would promote: durable()
    writes then WAITs (one connection) on every master, each in a slot that master serves."""
    from redis.crc import key_slot

    from booking_support import drop_test_store, open_test_store

    store = await open_test_store("redis", redis_cluster_url)
    try:
        p = await store.check_durability()
        assert p.masters == 3 and p.crash_safe and p.aof_enabled, p
        await store.set("k", "v")
        await store.durable()  # really waits: every master's replica acknowledges
        if p.replicas < 1:
            pytest.skip("the test cluster has no replicas (MAAS_REDIS_CLUSTER_REPLICAS=0)")
        sent = []

        async def wait_after_write(client, key, *command):
            sent.append((key, command[0]))
            return 0  # no replica acknowledged

        monkeypatch.setattr(store, "_wait_after_write", wait_after_write)
        with pytest.raises(NotDurable, match="no Redis replica .master"):
            await store.durable()
        assert sorted(c for _, c in sent) == ["WAIT"] * 3
        owners = {store.r.nodes_manager.slots_cache[key_slot(k.encode())][0].name for k, _ in sent}
        assert owners == {n.name for n in store.r.get_primaries()}  # one write in each master's own slots
    finally:
        monkeypatch.undo()
        await drop_test_store(store)
