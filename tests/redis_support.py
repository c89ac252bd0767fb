"""Private redis-server processes for tests that must stop, restart or reconfigure their Redis (durability checks,
restarts under a live server): each on a free port with its data in the test's tmp folder, stopped at the end."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """``redis-server`` on ``port`` with ``dir`` for its files; ``aof`` = appendonly yes + appendfsync always."""

    def __init__(self, folder: Path, *, aof: bool = True, port: int | None = None):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed (scripts/ensure-redis.sh installs Debian's)")
        self.folder, self.aof, self.port = folder, aof, port or free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--dir", str(self.folder), *persistence],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> "PrivateRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def redis_is_volatile(url: str) -> bool:
    """True when the Redis at ``url`` could lose acknowledged writes in a crash (no AOF-always, no WAITAOF)."""
    import redis

    r = redis.Redis.from_url(url)
    try:
        aof = bool(r.info("persistence").get("aof_enabled"))
        fsync = r.config_get("appendfsync").get("appendfsync")
        version = tuple(int(x) for x in str(r.info("server")["redis_version"]).split(".")[:2])
        return not (aof and (fsync in ("always", b"always") or version >= (7, 2)))
    finally:
        r.close()


def serve_redis_args(url: str) -> list[str]:
    """``maas serve`` options for the test Redis: with ``--allow-volatile-redis`` when that Redis is volatile (a
    developer's machine Redis), so the test states explicitly that it accepts a Redis that may lose data."""
    return ["--redis", url] + (["--allow-volatile-redis"] if redis_is_volatile(url) else [])
