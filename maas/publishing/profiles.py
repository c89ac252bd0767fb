"""Operator profiles set through the API (``PUT /v1/operators/{id}/profile``). The store holds them
(``feeds:{op}:profile``, every version kept: ``maas.publishing.feed_registry``); each host reads its local cache
``{data_dir}/feeds/_cache/{op}/profile.json``, which the writer updates at once and every other replica's follower
(``FeedManager.follow``) rewrites within a second or two of a change. An API profile overrides the feed's
``operator.json`` until the next PUT.

Reads are cached (the catalog asks for every priced operator of every plan) without a file system call: the
answer stands until this process hears of a change (`ProfileStore.changed`: its own PUT, or its follower seeing
a new version in effect, written here or by another worker on this host) or ``RECHECK_S`` has passed (a file
changed behind the followers' backs); then the file's mtime says whether to read it again. A damaged cache
file reads as "no profile" and is removed, so the follower writes it again from the store.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from feeds.gtfs import check_namespace
from feeds.problems import ValidationReport
from feeds.profile import OperatorProfile, parse_profile
from maas.publishing.feed_registry import CACHE

log = logging.getLogger("maas.feeds")
RECHECK_S = 1.0  # the most a profile file changed by no follower of this process stays unseen (a follower: ~0.5 s)


class ProfileStore:
    """``root``: the registry's folder (``data_dir/feeds``); ``registry``: needed to ``put`` (reading is local)."""

    _generation = 0  # this process's count of profile changes heard of (`changed`): every instance asks again

    def __init__(self, root: Path, registry=None, clock=time.monotonic):
        self.root = Path(root)
        self.registry = registry
        self.clock = clock
        # operator → (file mtime or None when absent, generation, clock time to check again by, profile)
        self._cache: dict[str, tuple[int | None, int, float, OperatorProfile | None]] = {}
        self._files: dict[str, Path] = {}

    @staticmethod
    def changed() -> None:
        """A profile file may have changed: every store of this process checks its files at its next `get`."""
        ProfileStore._generation += 1

    def _file(self, operator: str) -> Path:
        """The cached profile's path, made once per operator: plans price every answer through `get`, and the
        path (with the namespace check) cost several times the stat that follows."""
        f = self._files.get(operator)
        if f is None:
            f = self._files[operator] = self.root / CACHE / check_namespace(operator) / "profile.json"
        return f

    def get(self, operator: str) -> OperatorProfile | None:
        """The API-set profile of ``operator``, None when it has none."""
        gen, now = ProfileStore._generation, self.clock()  # (before the stat: a change after it is asked again)
        hit = self._cache.get(operator)
        if hit is not None:
            known, seen, until, profile = hit
            if seen == gen and now < until:
                return profile
        f = self._file(operator)
        try:
            mtime = f.stat().st_mtime_ns
        except FileNotFoundError:
            self._cache[operator] = (None, gen, now + RECHECK_S, None)
            return None
        if hit is not None and known == mtime:
            self._cache[operator] = (mtime, gen, now + RECHECK_S, profile)
            return profile
        try:
            data = json.loads(f.read_text("utf-8"))["data"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cached profile %s is damaged (%s): removed, the follower fetches it again", f, exc)
            f.unlink(missing_ok=True)
            return None
        report = ValidationReport(operator)
        profile = parse_profile(data, operator, report, source="api")
        self._cache[operator] = (mtime, gen, now + RECHECK_S, profile)
        return profile

    async def put(self, operator: str, data: object) -> tuple[OperatorProfile | None, ValidationReport]:
        """Validate and, when clean, store as the profile in effect. Returns (profile or None, report)."""
        report = ValidationReport(operator)
        profile = parse_profile(data, operator, report, file="profile", source="api")
        if profile is None:
            return None, report
        if self.registry is None:
            raise RuntimeError("this profile store only reads: give it the feed registry to write")
        await self.registry.put_profile(operator, data)
        ProfileStore.changed()
        return profile, report
