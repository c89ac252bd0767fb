"""Durability you can see: the Redis store checks the server's persistence at start (refusing a Redis that could
lose confirmed bookings unless told otherwise, then warning loudly), ``durable()`` checks what the server answers,
`/readyz` follows the store, store outages are 503 + Retry-After (never 500) and pooled connections recover by
themselves after a Redis restart. Each test runs its own redis-server (tests/redis_support.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from booking_support import drop_test_store
from redis_support import PrivateRedis, free_port
from maas.store.errors import NotDurable, VolatileStore, transient_errors
from maas.store.redis_store import RECHECK_S, RedisStore

ROOT = Path(__file__).resolve().parents[1]
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

            async def execute_command(*args):
                sent.append(args[0])
                return answer

            monkeypatch.setattr(store.r, "execute_command", execute_command)
            with pytest.raises(NotDurable, match=message):
                await store.durable()
            assert sent == [{"waitaof": "WAITAOF", "replicas": "WAIT"}[mode]]
            good = [1, 0] if mode == "waitaof" else 1
            monkeypatch.setattr(store.r, "execute_command", lambda *a: _value(good))
            await store.durable()
        finally:
            await store.aclose()


async def _value(v):
    return v


def _serve(tmp_path: Path, url: str, *extra: str, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = free_port()
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(KEYS))
    env = {**os.environ, "MAAS_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "maas.cli", "serve", "--redis", url, "--port", str(port),
                             "--workers", str(workers), "--keys", str(keys), "--data-dir", str(tmp_path / "data"),
                             "--dev", *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_serve_refuses_redis_without_aof(tmp_path):
    with PrivateRedis(tmp_path / "r", aof=False) as redis:
        proc, _ = _serve(tmp_path, redis.url)
        try:
            assert proc.wait(60) == 2
            err = proc.stderr.read()
            line = [x for x in err.splitlines() if x.startswith("maas serve:")]
            assert len(line) == 1 and "appendonly no" in line[0] and "--allow-volatile-redis" in line[0], err
        finally:
            _stop(proc)


def test_serve_refuses_unreachable_redis(tmp_path):
    proc, _ = _serve(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert proc.wait(60) == 2
        assert "cannot reach Redis" in proc.stderr.read()
    finally:
        _stop(proc)


def test_serve_with_flag_warns_loudly_and_serves(tmp_path):
    from api_support_http import get, wait_ready

    with PrivateRedis(tmp_path / "r", aof=False) as redis:
        proc, base = _serve(tmp_path, redis.url, "--allow-volatile-redis")
        try:
            wait_ready(proc, base)
            assert get(f"{base}/readyz")[0] == 200
        finally:
            _stop(proc)
        err = proc.stderr.read()
        assert "WARNING: VOLATILE REDIS" in err and "LOSES CONFIRMED BOOKINGS" in err
        assert '"VOLATILE REDIS' in err  # and the worker's structured log says it too


def test_redis_restart_under_a_live_server(tmp_path):
    """Stop Redis under `maas serve`: readyz 503 and store calls 503 + Retry-After (no 500); start it again on
    the same port: ready and serving again without restarting the server, the booking still there (AOF)."""
    from api_support_http import book_on_sample, get, wait_ready

    redis = PrivateRedis(tmp_path / "r", aof=True).start()
    proc, base = _serve(tmp_path, redis.url)
    try:
        wait_ready(proc, base)
        booking = book_on_sample(base, "pk-a")
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
        assert book_on_sample(base, "pk-b")["state"] == "CONFIRMED"
    finally:
        _stop(proc)
        redis.stop()
    records = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    assert not [r for r in records if r.get("status") == 500 or r.get("level") == "error"], records


def test_store_errors_are_transient_errors():
    import redis.exceptions as rx

    assert issubclass(rx.ConnectionError, transient_errors()) and issubclass(NotDurable, transient_errors())
