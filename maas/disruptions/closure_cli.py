"""`maas closures import FILE`: send a closure payload (JMA XML, CAP, our JSON, GTFS-RT alerts) to a running server
(``--url`` and a disaster key), or apply it straight to the configured closure store (Redis or the embedded SQLite
file) that the servers follow. One line out: what was applied, or why not."""
from __future__ import annotations

import asyncio
from pathlib import Path

from feeds.closure_json import ClosureError
from maas.platform.api_client import post

MAX_FILE_BYTES = 1_000_000


def content_type_for(path: Path, head: bytes) -> str:
    """By extension, else by the first bytes: XML (JMA or CAP, told apart by the server), JSON or protobuf."""
    ext = path.suffix.lower()
    if ext == ".xml" or head.lstrip().startswith(b"<"):
        return "application/xml"
    if ext in (".json", ".geojson") or head.lstrip()[:1] in (b"{", b"["):
        return "application/json"
    return "application/x-protobuf"


def post_closures(url: str, key: str, data: bytes, ctype: str, timeout: float = 60.0) -> tuple[int, dict]:
    return post(f"{url.rstrip('/')}/v1/closures", key, data, ctype, timeout)


def summary(body: dict) -> str:
    acc, lifted = body.get("accepted") or [], body.get("lifted") or []
    out = f"applied: {len(acc)} closure(s) stored, {len(lifted)} lifted (version {body.get('version')})"
    unknown = body.get("unknown_areas") or []
    if unknown:
        out += "; unknown areas: " + ", ".join(f"{u['code']} {u['name']}" for u in unknown[:10])
    return out


async def apply_locally(settings, data: bytes, ctype: str) -> dict:
    """Apply to the store every server of this deployment follows (ids are not checked against a model here:
    JMA telegrams name areas only)."""
    from maas.disruptions.closure_store import closure_store_for
    from maas.disruptions.closures import ClosureService
    from maas.services import jma_intake

    if not settings.redis_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = closure_store_for(settings.redis_url, None if settings.redis_url else
                              settings.data_dir / "closures.sqlite3", settings.redis_prefix)
    svc = ClosureService(store, jma=jma_intake(settings))
    try:
        await svc.reload()
        res = await svc.accept(data, ctype, source="cli")
    finally:
        await svc.aclose()
    return {"accepted": [{"id": c.id} for c in res.accepted], "lifted": list(res.lifted), "version": res.version,
            "unknown_areas": list(res.unknown_areas)}


def cmd_closures_import(args) -> int:
    from maas.platform.settings import Settings

    path = Path(args.file)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            print(f"cannot import {path}: larger than {MAX_FILE_BYTES} bytes")
            return 1
        data = path.read_bytes()
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}")
        return 1
    ctype = args.content_type or content_type_for(path, data[:64])
    if args.url:
        if not args.key:
            print("--url needs --key (a disaster-role API key)")
            return 1
        try:
            status, body = post_closures(args.url, args.key, data, ctype)
        except OSError as exc:  # URLError is an OSError
            print(f"cannot reach {args.url}: {exc}")
            return 1
        if not 200 <= status < 300:
            where = f" ({body['field']})" if body.get("field") else ""
            print(f"REJECTED ({status}){where}: {body.get('detail', body.get('title', ''))}")
            return 1
        print(summary(body))
        return 0
    settings = Settings(redis_url=args.redis)
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)
    if args.areas:
        settings.jma_areas = Path(args.areas)
    if args.policy:
        settings.jma_policy = Path(args.policy)
    try:
        body = asyncio.run(apply_locally(settings, data, ctype))
    except ClosureError as exc:
        print(f"REJECTED{f' ({exc.field})' if exc.field else ''}: {exc.detail}")
        return 1
    except (OSError, ValueError) as exc:  # unreadable municipality/policy file, store unreachable
        print(f"cannot import: {exc}")
        return 1
    print(summary(body))
    return 0


def add_parser(sub) -> None:
    cl = sub.add_parser("closures", help="disaster warnings and closures")
    csub = cl.add_subparsers(dest="closures_command", required=True)
    ci = csub.add_parser("import", help="apply a JMA XML / CAP / JSON / GTFS-RT alerts file")
    ci.add_argument("file", metavar="FILE")
    ci.add_argument("--url", help="server base URL: send it there (else apply to the configured store)")
    ci.add_argument("--key", help="a disaster-role API key (with --url)")
    ci.add_argument("--redis", help="Redis URL of the closure store (default: the embedded SQLite file)")
    ci.add_argument("--data-dir", help="where the embedded store keeps its data")
    ci.add_argument("--areas", help="municipality GeoJSON with jma_code (default: $MAAS_JMA_AREAS)")
    ci.add_argument("--policy", help="warning policy JSON (default: $MAAS_JMA_POLICY, else the built-in table)")
    ci.add_argument("--content-type", help="override the detected content type")
    ci.set_defaults(func=cmd_closures_import)
