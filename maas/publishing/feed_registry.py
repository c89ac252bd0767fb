"""Operators' published feed versions on disk: every accepted upload kept with its checksum, one active per operator.

Layout under ``root`` (``settings.data_dir/feeds``): ``{operator}/{version}/*.txt`` and ``{operator}/index.json``
(the versions, newest last). The index is rewritten atomically (write + rename), so workers sharing the data
folder read a consistent list; ``generation`` (a counter file) tells them something changed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from feeds.feed import Feed
from feeds.gtfs import check_namespace, load_feed
from feeds.problems import FeedRejected, ValidationReport
from feeds.upload import UploadLimits, extract_gtfs_zip


@dataclass(frozen=True)
class FeedVersion:
    operator: str
    version: str
    sha256: str
    created: str  # ISO 8601, UTC
    errors: int
    warnings: int
    active: bool = False
    size: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Staged:
    """An upload unpacked and validated, not yet recorded: ``feed`` is None when the report has errors."""

    operator: str
    version: str
    sha256: str
    size: int
    path: Path
    report: ValidationReport
    feed: Feed | None


class FeedRegistry:
    def __init__(self, root: Path, limits: UploadLimits = UploadLimits()):
        self.root = Path(root)
        self.limits = limits

    # ------------------------------------------------------------------ reading
    def operators(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "index.json").exists())

    def versions(self, operator: str) -> list[FeedVersion]:
        index = self._dir(operator) / "index.json"
        if not index.exists():
            return []
        return [FeedVersion(**v) for v in json.loads(index.read_text("utf-8"))]

    def active(self, operator: str) -> FeedVersion | None:
        return next((v for v in self.versions(operator) if v.active), None)

    def path_of(self, v: FeedVersion) -> Path:
        return self._dir(v.operator) / v.version

    def generation(self) -> int:
        f = self.root / "generation"
        return int(f.read_text()) if f.exists() else 0

    def load(self, v: FeedVersion) -> Feed:
        return load_feed(self.path_of(v), v.operator)

    # ------------------------------------------------------------------ writing
    def stage(self, operator: str, data: bytes) -> Staged:
        """Unpack (UploadError on a hostile zip) and validate with the GTFS importer. Blocking: run in a thread."""
        check_namespace(operator)
        sha = hashlib.sha256(data).hexdigest()
        version = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        path = self._dir(operator) / version
        try:
            extract_gtfs_zip(data, path, self.limits)
            try:
                feed = load_feed(path, operator)
                report = feed.report
            except FeedRejected as rej:
                feed, report = None, rej.report
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        if feed is None:
            shutil.rmtree(path, ignore_errors=True)
        return Staged(operator, version, sha, len(data), path, report, feed)

    def commit(self, staged: Staged) -> FeedVersion:
        """Record an accepted version as the operator's active one."""
        if staged.feed is None:
            raise ValueError("a rejected feed cannot be recorded")
        new = FeedVersion(staged.operator, staged.version, staged.sha256,
                          dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                          len(staged.report.errors), len(staged.report.warnings), True, staged.size)
        items = [replace(v, active=False) for v in self.versions(staged.operator)] + [new]
        self._write(staged.operator, items)
        return new

    def discard(self, staged: Staged) -> None:
        shutil.rmtree(staged.path, ignore_errors=True)

    def previous(self, operator: str) -> FeedVersion | None:
        """The version before the active one (what a rollback returns to), None if there is none."""
        items = self.versions(operator)
        idx = next((i for i, v in enumerate(items) if v.active), None)
        return items[idx - 1] if idx else None

    def activate(self, operator: str, version: str) -> FeedVersion:
        items = self.versions(operator)
        if not any(v.version == version for v in items):
            raise KeyError(version)
        items = [replace(v, active=v.version == version) for v in items]
        self._write(operator, items)
        return next(v for v in items if v.active)

    # ------------------------------------------------------------------ internals
    def _dir(self, operator: str) -> Path:
        return self.root / check_namespace(operator)

    def _write(self, operator: str, items: list[FeedVersion]) -> None:
        d = self._dir(operator)
        d.mkdir(parents=True, exist_ok=True)
        _atomic_write(d / "index.json", json.dumps([v.to_dict() for v in items], indent=1))
        _atomic_write(self.root / "generation", str(self.generation() + 1))


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
