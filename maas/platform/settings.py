"""Service settings: one typed object built from CLI flags and environment, passed explicitly everywhere."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from maas.platform.secrets import Secrets


def default_data_dir() -> Path:
    return Path(os.environ.get("MAAS_DATA_DIR", Path.home() / ".local" / "share" / "tokyo-maas"))


def default_cache_dir() -> Path:
    return Path(os.environ.get("MAAS_CACHE_DIR", Path.home() / ".cache" / "tokyo-maas"))


def _env_path(name: str) -> Path | None:
    v = os.environ.get(name)
    return Path(v) if v else None


def _env_float(name: str, default: float) -> float:
    v = os.environ.get(name)
    return float(v) if v else default


def default_cors_origins() -> list[str]:
    """MAAS_CORS_ORIGINS: comma-separated origins (``https://app.example``) or ``*``; empty: no cross-origin."""
    return [o.strip() for o in os.environ.get("MAAS_CORS_ORIGINS", "").split(",") if o.strip()]


@dataclass
class Settings:
    feeds: list[str] = field(default_factory=list)  # "ns=path" specs; empty means the built-in sample
    osm: Path | None = None
    redis_url: str | None = None  # None: the embedded store
    # every booking key in Redis starts with this (tenants or test runs sharing one Redis stay apart)
    redis_prefix: str = field(default_factory=lambda: os.environ.get("MAAS_REDIS_PREFIX", "maas:"))
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    planner_threads: int = 2
    data_dir: Path = field(default_factory=default_data_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    keys_file: Path | None = None
    secrets: Secrets | None = None  # None: random per-process keys (library use, tests); `maas serve` requires them
    dev: bool = False  # development mode (`maas serve --dev`, `make run`): a generated key per data folder
    allow_volatile_redis: bool = False  # serve even when Redis could lose confirmed bookings (warns loudly)
    sse_per_key: int = 16  # open /v1/events streams per API key and worker; more get 429
    sse_per_worker: int = 1000  # open /v1/events streams per worker
    cors_origins: list[str] = field(default_factory=default_cors_origins)  # browser apps allowed to call the API
    compress_min_bytes: int = 1024  # JSON bodies at least this big are sent gzip/brotli when the client accepts
    # JMA XML intake: municipality polygons keyed by JMA area code (GeoJSON), and the warning policy table
    jma_areas: Path | None = field(default_factory=lambda: _env_path("MAAS_JMA_AREAS"))
    jma_policy: Path | None = field(default_factory=lambda: _env_path("MAAS_JMA_POLICY"))
    # GTFS-Realtime: "op=URL[,interval_s]" sources pulled (`maas serve --realtime`); pushed data needs none.
    realtime: list[str] = field(default_factory=list)
    # realtime data older than this (header timestamp) expires back to the schedule
    realtime_max_age_s: float = field(default_factory=lambda: _env_float("MAAS_REALTIME_MAX_AGE_S", 300.0))
    realtime_timeout_s: float = 10.0  # one pull request, connect to last byte

    @property
    def embedded_db(self) -> Path:
        return self.data_dir / "store.sqlite3"
