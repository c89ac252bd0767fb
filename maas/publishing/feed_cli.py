"""`maas feeds publish`: what an operator's script runs to upload its GTFS zip; standard library only."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from maas.platform.api_client import post


def publish_feed(url: str, key: str, operator: str, path: Path, timeout: float = 600.0) -> tuple[int, dict]:
    """POST the zip to ``{url}/v1/feeds/{operator}``; returns (HTTP status, JSON body)."""
    return post(f"{url.rstrip('/')}/v1/feeds/{quote(operator, safe='')}", key, Path(path).read_bytes(),
                "application/zip", timeout)


def format_outcome(status: int, body: dict) -> str:
    """A human summary: the version made live, or why not, then every problem of the validation report."""
    report = body.get("report") or {}
    if 200 <= status < 300:
        v = body.get("version", {})
        head = f"published {v.get('operator')} version {v.get('version')} (sha256 {v.get('sha256', '')[:12]}…)"
    else:
        head = f"REJECTED ({status}): {body.get('detail', body.get('title', ''))}"
    lines = [head]
    if report:
        lines.append(f"  {report.get('errors', 0)} errors, {report.get('warnings', 0)} warnings")
        for p in report.get("problems", [])[:100]:
            where = p["file"] + (f" row {p['row']}" if p.get("row") is not None else "")
            lines.append(f"  {p['severity'].upper():7} {where}: {p['message']}")
    return "\n".join(lines)


def cmd_feeds_publish(args) -> int:
    try:
        status, body = publish_feed(args.url, args.key, args.operator, Path(args.file))
    except OSError as exc:  # URLError is an OSError
        print(f"cannot publish: {exc}")
        return 1
    print(format_outcome(status, body))
    return 0 if 200 <= status < 300 else 1
