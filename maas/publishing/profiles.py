"""Operator profiles set through the API (``PUT /v1/operators/{id}/profile``), stored alongside the operator's feed
versions: ``{data_dir}/feeds/{operator}/profiles/{n}.json`` (every version kept) and ``profile.json`` (the one in
effect, written atomically). An API profile overrides the feed's ``operator.json`` until the next PUT.

Reads are cached per file mtime, so every worker sharing the data folder sees a new profile on its next request.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from feeds.gtfs import check_namespace
from feeds.problems import ValidationReport
from feeds.profile import OperatorProfile, parse_profile


class ProfileStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict[str, tuple[float, OperatorProfile | None]] = {}

    def _file(self, operator: str) -> Path:
        return self.root / check_namespace(operator) / "profile.json"

    def get(self, operator: str) -> OperatorProfile | None:
        """The API-set profile of ``operator``, None when it has none."""
        f = self._file(operator)
        try:
            mtime = f.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        hit = self._cache.get(operator)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        report = ValidationReport(operator)
        profile = parse_profile(json.loads(f.read_text("utf-8")), operator, report, source="api")
        self._cache[operator] = (mtime, profile)
        return profile

    def put(self, operator: str, data: object) -> tuple[OperatorProfile | None, ValidationReport]:
        """Validate and, when clean, store as the profile in effect. Returns (profile or None, report)."""
        report = ValidationReport(operator)
        profile = parse_profile(data, operator, report, file="profile", source="api")
        if profile is None:
            return None, report
        d = self.root / operator
        versions = d / "profiles"
        versions.mkdir(parents=True, exist_ok=True)
        n = len(list(versions.glob("*.json"))) + 1
        text = json.dumps(data, ensure_ascii=False, indent=1)
        _atomic_write(versions / f"{n:05d}.json", text)
        _atomic_write(d / "profile.json", text)
        return profile, report


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
