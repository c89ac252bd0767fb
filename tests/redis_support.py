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


class PrivateCluster:
    """A Redis Cluster of its own (scripts/ensure-redis-cluster.sh: 3 masters + 3 replicas, AOF always) with its
    files under ``folder``, for tests that kill nodes; stopped (every node) at the end."""

    SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure-redis-cluster.sh"

    def __init__(self, folder: Path, *, replicas: int = 1, node_timeout_ms: int = 1500):
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            pytest.skip("redis-server is not installed (scripts/ensure-redis-cluster.sh installs Debian's)")
        self.folder, self.replicas, self.node_timeout_ms = folder, replicas, node_timeout_ms
        self.url: str | None = None

    def _env(self) -> dict:
        import os
        import sys

        return {**os.environ, "MAAS_REDIS_CLUSTER_DIR": str(self.folder), "PYTHON": sys.executable,
                "MAAS_REDIS_CLUSTER_REPLICAS": str(self.replicas),
                "MAAS_REDIS_CLUSTER_NODE_TIMEOUT_MS": str(self.node_timeout_ms)}

    @property
    def first_port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def ports(self) -> list[int]:
        return [int(p) for p in (self.folder / str(self.first_port) / "ports").read_text().split()]

    def pid(self, port: int) -> int:
        return int((self.folder / str(self.first_port) / str(port) / "redis.pid").read_text())

    def nodes(self, via: int | None = None) -> list[dict]:
        """``CLUSTER NODES`` as dicts (port, role, flags, master id, slots) from a live node."""
        for port in [via] if via else self.ports():
            out = subprocess.run(["redis-cli", "-p", str(port), "cluster", "nodes"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip() and "ERR" not in out.stdout[:10]:
                rows = []
                for line in out.stdout.strip().splitlines():
                    f = line.split()
                    rows.append({"id": f[0], "port": int(f[1].split("@")[0].rsplit(":", 1)[1]), "flags": f[2],
                                 "master": f[3], "slots": f[8:]})
                return rows
        return []

    def start(self) -> "PrivateCluster":
        out = subprocess.run([str(self.SCRIPT), "start"], env=self._env(), capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"the test cluster did not start: {out.stderr[-2000:]}")
        self.url = out.stdout.strip().splitlines()[-1]
        return self

    def stop(self) -> None:
        if self.url:
            subprocess.run([str(self.SCRIPT), "stop", str(self.first_port)], env=self._env(), capture_output=True,
                           timeout=60)
            self.url = None

    def __enter__(self) -> "PrivateCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
