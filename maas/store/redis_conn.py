"""Redis connections for one server or a Redis Cluster, from one URL, for every Redis user (store, closures,
rate limits).

``redis://host:port/db`` (``rediss://``, ``unix://``) is one server. ``redis+cluster://host:port[,host:port…]``
(``rediss+cluster://`` with TLS) is a Redis Cluster: the listed nodes are only where discovery starts; the client
learns the slot map and follows it through failovers and resharding (MOVED/ASK, a refreshed map after a
connection error). redis-py's own ``RedisCluster.from_url`` takes a plain ``redis://`` URL, so the ``+cluster``
marker is how `maas serve --redis` tells the two apart.

What differs on a cluster, and how every caller deals with it:
* A command or Lua script touching several keys needs them in one hash slot: keys that belong together share a
  hash tag (``same_slot``).
* Pub/sub: a plain ``PUBLISH`` is broadcast to every node, so a subscriber on any node receives every message.
  ``subscriber()`` (``subscribed()``) opens a plain connection to one live node (re-chosen on each reconnect: a node that died in a
  failover is not retried forever).
* Keyspace scans and per-server commands (INFO, WAIT, WAITAOF) go to every master (``masters()``).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
import redis.exceptions as rx
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from maas.store.base import cancel_if_swallowed

SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
_TAG = re.compile(r"\{([^}]+)\}")  # the hash tag Redis hashes: the first {…} with something inside


def is_redis_url(url: str | None) -> bool:
    return bool(url) and url.startswith(SCHEMES)


def is_cluster_url(url: str | None) -> bool:
    return bool(url) and url.startswith(CLUSTER_SCHEMES)


@dataclass(frozen=True)
class ClusterUrl:
    nodes: list[tuple[str, int]]
    ssl: bool
    username: str | None
    password: str | None


def parse_cluster_url(url: str) -> ClusterUrl:
    """``redis+cluster://[user:pass@]host:port[,host:port…]`` → start-up nodes (ValueError naming what is wrong)."""
    if not is_cluster_url(url):
        raise ValueError(f"not a Redis Cluster URL (redis+cluster://host:port): {url!r}")
    parts = urlsplit(url.replace("+cluster", "", 1))
    if parts.path not in ("", "/", "/0"):
        raise ValueError(f"a Redis Cluster has only database 0, not {parts.path[1:]!r}: {url!r}")
    netloc = parts.netloc
    user = password = None
    if "@" in netloc:
        cred, netloc = netloc.rsplit("@", 1)
        user, _, password = cred.partition(":")
        user, password = user or None, password or None
    nodes = []
    for hp in filter(None, netloc.split(",")):
        host, _, port = hp.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"Redis Cluster node {hp!r} is not host:port in {url!r}")
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise ValueError(f"no node in Redis Cluster URL {url!r}")
    return ClusterUrl(nodes, parts.scheme == "rediss", user, password)


def redacted(url: str) -> str:
    """The URL without its password (log lines, error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@")))


def same_slot(key: str, suffix: str) -> str:
    """A key beside ``key`` in its hash slot: ``key`` itself (no tag of its own) becomes the tag, so the existing
    key keeps its name and slot (data already stored is not moved) and the new one joins it."""
    return key + suffix if _TAG.search(key) else "{" + key + "}" + suffix


def _retry(retries: int = 3) -> Retry:
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries)


def connect(url: str, *, max_connections: int = 64, socket_timeout: float | None = None,
            socket_connect_timeout: float = 2.0, health_check_interval: float = 5,
            retries: int = 3) -> aioredis.Redis | RedisCluster:
    """A client for ``url``: a pool that queues callers for a free connection (one server) or a cluster client
    whose per-node pools reconnect and whose slot map is refreshed after a failover. ``retries``: how often a
    call is retried on a fresh connection (0 for callers that must fail fast, such as the rate limiter)."""
    common = dict(socket_connect_timeout=socket_connect_timeout, socket_timeout=socket_timeout,
                  socket_keepalive=True, health_check_interval=health_check_interval, retry=_retry(retries),
                  retry_on_error=[rx.ConnectionError, rx.TimeoutError])
    if not is_cluster_url(url):
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10, **common)
        return aioredis.Redis(connection_pool=pool)
    cu = parse_cluster_url(url)
    # A cluster node's pool refuses (MaxConnectionsError) instead of queueing: give it room for bursts.
    client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in cu.nodes], ssl=cu.ssl, username=cu.username,
                          password=cu.password, max_connections=max(256, max_connections),
                          require_full_coverage=False, reinitialize_steps=1, **common)
    # RedisCluster sets its own connection class (no argument for it): swap it for the nodes made so far and all
    # that the slot map adds later (they are made from this same dict).
    cls = _ClusterSSLConnection if cu.ssl else _ClusterConnection
    client.connection_kwargs["connection_class"] = cls
    for node in client.nodes_manager.startup_nodes.values():
        node.connection_class = cls
    return client


class _TornDownIsConnectionError:
    """A cluster connection torn down under its sender fails as a ConnectionError.

    In a failover redis-py's cluster client disconnects every connection of a node it drops from its slot map,
    also one another task is sending on; that send then fails with ``AttributeError`` (its writer is gone). Neither
    redis-py's retry nor the callers' transient-error handling (503, the rate limiter letting the request through)
    know that error, so a request racing the failover answered 500."""

    async def send_packed_command(self, command, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except AttributeError as exc:
            if self.is_connected:  # not the torn-down connection: a bug, keep it visible
                raise
            raise rx.ConnectionError(f"connection to {self.host}:{self.port} closed while sending") from exc


class _ClusterConnection(_TornDownIsConnectionError, Connection):
    pass


class _ClusterSSLConnection(_TornDownIsConnectionError, SSLConnection):
    pass


def node_client(client: RedisCluster, node: ClusterNode) -> aioredis.Redis:
    """A plain client to one node of the cluster, with the cluster's credentials (per-node commands, pub/sub)."""
    kw = client.connection_kwargs
    return aioredis.Redis(host=node.host, port=node.port, username=kw.get("username"), password=kw.get("password"),
                          ssl=kw.get("connection_class") is not None and "SSL" in kw["connection_class"].__name__,
                          socket_connect_timeout=2, socket_keepalive=True, health_check_interval=5,
                          retry=_retry(), retry_on_error=[rx.ConnectionError, rx.TimeoutError])


async def masters(client: aioredis.Redis | RedisCluster) -> list[tuple[str, aioredis.Redis | RedisCluster, object]]:
    """``(name, client, node)`` per master: the one server itself, or every primary of the cluster (with the node,
    so callers can route commands ``target_nodes=node``)."""
    if not isinstance(client, RedisCluster):
        return [("server", client, None)]
    if client.nodes_manager.default_node is None:
        await client.initialize()
    return [(n.name, client, n) for n in client.get_primaries()]


async def subscriber(client: aioredis.Redis | RedisCluster):
    """A fresh PubSub: on one server its own connection; on a cluster a plain connection to a random live node
    (plain PUBLISH reaches every node). The caller closes it and asks again after a connection error."""
    if not isinstance(client, RedisCluster):
        return client.pubsub()
    try:
        await client.initialize()  # a fresh slot map: after a failover, the dead node is no longer listed
    except rx.RedisError:
        pass
    nodes = [n for n in client.get_nodes()]
    random.shuffle(nodes)
    last: Exception | None = None
    for node in nodes:
        plain = node_client(client, node)
        try:
            await plain.ping()
        except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
            last = exc
            await plain.aclose()
            continue
        return _OwnedPubSub(plain)
    raise rx.ConnectionError(f"no Redis Cluster node answers: {last}")


async def subscribed(client: aioredis.Redis | RedisCluster, *channels: str, pattern: str | None = None):
    """A `subscriber` already subscribed to ``channels`` (or ``pattern``); closed again when subscribing fails."""
    ps = await subscriber(client)
    try:
        if pattern is not None:
            await ps.psubscribe(pattern)
        else:
            await ps.subscribe(*channels)
    except BaseException:
        await ps.aclose()
        raise
    return ps


async def next_message(ps, timeout: float) -> dict | None:
    """The next pub/sub message or None after ``timeout``, honouring a cancel.

    redis-py's ``get_message(timeout=…)`` turns a cancel landing as its read time-out fires into the time-out (it
    returns None and the task stays "cancelling"); a loop around it would then go on for ever and shutdown's
    ``await task`` hang. Every reader of a subscription goes through here."""
    msg = await ps.get_message(ignore_subscribe_messages=True, timeout=timeout)
    cancel_if_swallowed()
    return msg


class _OwnedPubSub:
    """A PubSub that also closes the one-node client it was made from."""

    def __init__(self, plain: aioredis.Redis):
        self._plain, self._ps = plain, plain.pubsub()

    def __getattr__(self, name):
        return getattr(self._ps, name)

    async def aclose(self) -> None:
        try:
            await self._ps.aclose()
        finally:
            await self._plain.aclose()
