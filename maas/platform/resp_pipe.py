"""One Redis connection that many coroutines share, commands pipelined and replies matched in order: the rate
limiter's path, taken on every request.

Through redis-py's client a rate-limit hit cost the event loop ~380 µs of CPU on a busy 2-core machine (pool
check-out, command packing, parser layers, retries), more than the rest of the request's middlewares together;
on this connection, with the command's bytes packed once per key, 123–133 µs, most of it the loop's own wake-up
for the reply, which concurrent hits share (figures: benchmarks/profile_api.py, bench_api.py --old-commit). Only what the limiter needs: a plain `redis://` or `unix://` server (AUTH,
SELECT, RESP2 replies). TLS and Redis Cluster stay with redis-py.
"""
from __future__ import annotations

import asyncio
import collections
from urllib.parse import unquote, urlsplit

PLAIN_SCHEMES = ("redis://", "unix://")


class ReplyError(Exception):
    """An error reply (``-ERR ...``, ``-NOSCRIPT ...``): the command failed, the connection is fine."""


def pack(*args: bytes | str | int | float) -> bytes:
    """A command in RESP (numbers written as redis-py writes them: ``repr`` of a float, ``str`` of an int)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else (repr(a) if isinstance(a, float) else str(a)).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def parse(buf: bytearray | bytes, i: int = 0):
    """(reply, end) of the RESP2 reply at ``i``, or (None, -1) while it is incomplete. Error replies come back as
    ReplyError values, not raised."""
    nl = buf.find(b"\r\n", i)
    if nl < 0:
        return None, -1
    kind, line = buf[i:i + 1], bytes(buf[i + 1:nl])
    end = nl + 2
    if kind == b"+":
        return line, end
    if kind == b"-":
        return ReplyError(line.decode(errors="replace")), end
    if kind == b":":
        return int(line), end
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, end
        if len(buf) < end + n + 2:
            return None, -1
        return bytes(buf[end:end + n]), end + n + 2
    if kind == b"*":
        n = int(line)
        items = []
        for _ in range(max(n, 0)):
            item, end = parse(buf, end)
            if end < 0:
                return None, -1
            items.append(item)
        return (items if n >= 0 else None), end
    raise ConnectionError(f"unexpected reply from Redis: {bytes(buf[i:i + 40])!r}")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiting: collections.deque[asyncio.Future] = collections.deque()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        i = 0
        try:
            while self.waiting:
                reply, end = parse(self.buf, i)
                if end < 0:
                    break
                i = end
                fut = self.waiting.popleft()
                if not fut.done():  # (a caller that timed out: its reply still comes, in its turn)
                    fut.set_result(reply)
        except (ConnectionError, ValueError) as exc:
            self._fail(ConnectionError(str(exc)))
            if self.transport is not None:
                self.transport.close()
            return
        del self.buf[:i]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(ConnectionError(f"Redis closed the connection: {exc}" if exc else "Redis closed the connection"))

    def _fail(self, exc: Exception) -> None:
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(exc)


class RespPipe:
    """Commands on one lazily opened connection to ``url`` (re-opened after a failure, in the running loop)."""

    def __init__(self, url: str, timeout_s: float = 0.5):
        if not url.startswith(PLAIN_SCHEMES):
            raise ValueError(f"RespPipe serves redis:// and unix:// URLs, not {url!r}")
        self.url, self.timeout_s = url, timeout_s
        self._proto: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Future | None = None

    async def call(self, command: bytes):
        """The reply to one packed command (ReplyError for an error reply); ConnectionError or TimeoutError
        when Redis cannot answer within the timeout."""
        proto = self._proto
        loop = asyncio.get_running_loop()
        if proto is None or proto.transport is None or self._loop is not loop:
            proto = await self._connection(loop)
        fut = loop.create_future()
        proto.waiting.append(fut)
        proto.transport.write(command)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await fut
        except TimeoutError:
            if proto is self._proto:  # a Redis that stopped answering: the next call connects again, and
                self._close()  # the calls waiting on this connection fail now instead of each timing out
            raise

    async def _connection(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        if self._opening is not None and self._loop is loop and not self._opening.done():
            return await asyncio.shield(self._opening)  # one connect for every caller that found none
        self._close()
        self._loop = loop
        self._opening = loop.create_future()
        try:
            async with asyncio.timeout(self.timeout_s):
                proto = await self._open(loop)
        except BaseException as exc:
            self._opening.set_exception(exc if isinstance(exc, Exception) else ConnectionError(str(exc)))
            self._opening.exception()  # (retrieved: a failed connect with nobody else waiting logs nothing)
            raise
        self._proto = proto
        self._opening.set_result(proto)
        return proto

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            _, proto = await loop.create_unix_connection(_Protocol, parts.path)
        else:
            _, proto = await loop.create_connection(_Protocol, parts.hostname or "127.0.0.1", parts.port or 6379)
        hello = []
        if parts.password is not None:
            user = unquote(parts.username) if parts.username else None
            hello.append(("AUTH", pack("AUTH", *([user] if user else []), unquote(parts.password))))
        db = _db(parts)
        if db:
            hello.append(("SELECT", pack("SELECT", db)))
        for name, command in hello:
            fut = loop.create_future()
            proto.waiting.append(fut)
            proto.transport.write(command)
            reply = await fut
            if isinstance(reply, ReplyError):
                proto.transport.close()
                raise ConnectionError(f"Redis refused {name}: {reply}")
        return proto

    def _close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            try:
                self._proto.transport.close()
            except RuntimeError:  # its event loop is closed already (a test's, a restarted worker's)
                pass
        self._proto = None

    async def aclose(self) -> None:
        self._close()


def _db(parts) -> int:
    """The database number of a redis:// URL (its path) or a unix:// URL (``?db=N``)."""
    if parts.scheme == "unix":
        for kv in parts.query.split("&"):
            k, _, v = kv.partition("=")
            if k == "db" and v.isdigit():
                return int(v)
        return 0
    path = parts.path.strip("/")
    return int(path) if path.isdigit() else 0
