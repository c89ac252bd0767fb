"""Compressed responses: JSON (and other text) bodies above a size go brotli or gzip, as the client accepts.

aiohttp compresses only gzip/deflate; brotli (the ``brotli`` package) is smaller for JSON, so this middleware does
both. Streams (SSE, files) are left alone: they are prepared before the middleware sees them.
"""
from __future__ import annotations

import asyncio
import functools
import gzip

from aiohttp import web

try:
    import brotli
except ImportError:  # optional: gzip only
    brotli = None

COMPRESSIBLE = ("application/json", "application/problem+json", "application/xml", "application/geo+json",
                "text/")
OFF_LOOP_BYTES = 256 * 1024  # bigger bodies are compressed in a worker thread
# Brotli quality by body size. Below SMALL_BODY_BYTES (a plan answer: all-Tokyo ~33 KB raw, Toei ~19 KB) quality
# 0 costs ~0.4 of quality 1 (100 all-Tokyo plan bodies, interleaved, 7 passes: 60 vs 158 µs each, a loaded 2-core
# machine; quality 1 was itself a fifth of 5's cost, 106 / 219 / 591 µs at 1 / 3 / 5 on Toei bodies) for 4.8 KB
# instead of 4.5 (p90 7.3 KB; gzip -6 3.8 KB at 284 µs): any of these fits in the first TCP window (10 segments,
# ~14 KB), so the client waits no round trip longer, and on a 2-core server the CPU is requests per second. Bigger
# bodies (map layers, stop lists) keep quality 5, where the bytes saved are worth more.
SMALL_BODY_BYTES = 64 * 1024
SMALL_BROTLI_QUALITY, BROTLI_QUALITY = 0, 5


def accepted(header: str | None) -> list[str]:
    """Codings from Accept-Encoding that we can send, best first (q-values honoured, q=0 excluded)."""
    prefs: dict[str, float] = {}
    for part in (header or "").lower().split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if name:
            prefs[name.strip()] = q
    star = prefs.get("*")
    out = []
    for coding, rank in (("br", 0), ("gzip", 1)):
        if coding == "br" and brotli is None:
            continue
        q = prefs.get(coding, star if star is not None else 0.0)
        if q > 0:
            out.append((q, -rank, coding))
    return [c for _, _, c in sorted(out, reverse=True)]


@functools.lru_cache(maxsize=256)
def best_coding(header: str | None) -> str | None:
    """The coding to send for this Accept-Encoding header, None for none: `accepted`'s first, parsed once per
    distinct header (a client sends the same one on every request)."""
    codings = accepted(header)
    return codings[0] if codings else None


def encode(body: bytes, coding: str) -> bytes:
    if coding == "br":
        return brotli.compress(body, quality=SMALL_BROTLI_QUALITY if len(body) < SMALL_BODY_BYTES else BROTLI_QUALITY)
    return gzip.compress(body, compresslevel=6, mtime=0)


def packed(body: bytes, accept_encoding: str | None, min_bytes: int) -> tuple[bytes, list[tuple[str, str]]]:
    """A compressible ``body`` as sent to a client accepting ``accept_encoding``, with the headers to add: from
    ``min_bytes`` on it varies by Accept-Encoding and goes in the best coding accepted. The middleware's rule,
    also applied by a handler that encodes its answer off the event loop (/v1/plan: `api.search.plan`)."""
    if len(body) < min_bytes:
        return body, []
    coding = best_coding(accept_encoding)
    if coding is None:
        return body, [("Vary", "Accept-Encoding")]
    return encode(body, coding), [("Vary", "Accept-Encoding"), ("Content-Encoding", coding)]


def compression_middleware(min_bytes: int):
    @web.middleware
    async def compress(request: web.Request, handler) -> web.StreamResponse:
        response = await handler(request)
        if type(response) is not web.Response or response.prepared or "Content-Encoding" in response.headers \
                or "Accept-Encoding" in response.headers.getall("Vary", ()):  # (decided by the handler: `packed`)
            return response
        body = response.body
        if not isinstance(body, (bytes, bytearray)) or len(body) < min_bytes:
            return response
        if not (response.content_type or "").startswith(COMPRESSIBLE):
            return response
        accept = request.headers.get("Accept-Encoding")
        if len(body) >= OFF_LOOP_BYTES:
            out, headers = await asyncio.get_running_loop().run_in_executor(None, packed, bytes(body), accept,
                                                                            min_bytes)
        else:
            out, headers = packed(bytes(body), accept, min_bytes)
        if out is not body:
            response.body = out
        for name, value in headers:
            response.headers.add(name, value)
        return response

    return compress
