"""Operators' published feed versions and API profiles, kept in the store (Redis in production, the embedded store by
default) so that every replica on every host sees the same versions; local files are only caches.

Store keys (every key of one operator carries the hash tag ``{op}``: one slot on a Redis Cluster, and every
multi-step change is a compare-and-set on one key):

* ``feeds:{op}:index`` — ``{"version": n, "active": id | null, "versions": [...]}``, oldest first, each entry a
  ``FeedVersion`` plus ``blob`` (the sha256 its zip is stored under). ``version`` is the compare-and-set counter
  (``Store.replace_versioned``), so two replicas publishing at once both land, one after the other.
* ``feeds:{op}:blob:{sha256}`` — the zip bytes (``Store.put_blob``: chunked, checksum verified on read).
* ``feeds:{op}:report:{version}`` — the validation report of an accepted version.
* ``feeds:{op}:profile`` — the API profile in effect ``{"version": n, "data": …}``; ``feeds:{op}:profile:{n}``
  keeps every version.
* ``feeds:operators`` — the operators with an index or a profile; ``feeds:generation`` — bumped after every change;
  channel ``feeds:changed`` — ``{"operator", "generation"}`` after every change. Followers react to the message
  and poll the counter in case a message was lost (``FeedManager.follow``).

Local cache under ``root`` (``data_dir/feeds``): ``_cache/{op}/{sha256}.zip`` (checked against its name on every
read: a damaged file is fetched again) and ``_cache/{op}/profile.json``, both written atomically with fsync
(``maas.platform.files``). A data folder from before the store (``{op}/index.json`` and version folders,
``{op}/profile.json``) is imported once by ``migrate`` and its index renamed ``index.json.imported``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import logging
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

from feeds.feed import Feed
from feeds.gtfs import check_namespace, load_feed
from feeds.problems import FeedRejected, ValidationReport
from feeds.upload import UploadLimits, extract_gtfs_zip
from maas.platform.files import write_atomic

log = logging.getLogger("maas.feeds")
CHANGED = "feeds:changed"
GENERATION = "feeds:generation"
OPERATORS = "feeds:operators"
CACHE = "_cache"  # not a possible operator id (ids start with a letter or digit)
CAS_ATTEMPTS = 100


def _key(op: str, what: str) -> str:
    return f"feeds:{{{op}}}:{what}"


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


_FIELDS = tuple(f.name for f in fields(FeedVersion))


@dataclass(frozen=True)
class Staged:
    """An upload unpacked and validated, not yet recorded: ``feed`` is None when the report has errors."""

    operator: str
    version: str
    sha256: str
    size: int
    data: bytes
    report: ValidationReport
    feed: Feed | None


@dataclass(frozen=True)
class Unpacked:
    """An upload that passed the zip checks, its files in ``folder``; not validated yet."""

    operator: str
    version: str
    sha256: str
    data: bytes
    folder: Path


class BlobMissing(LookupError):
    """A version's zip is neither in the local cache nor in the store (a store that lost data)."""


class FeedRegistry:
    """The versions of every operator's feed (see the module docstring). ``store``: the shared store; None opens
    an embedded store at ``root/registry.sqlite3`` when something is first written (library use, tests)."""

    def __init__(self, root: Path, store=None, limits: UploadLimits = UploadLimits()):
        self.root = Path(root)
        self.limits = limits
        self._store = store
        self._owns_store = store is None

    # ------------------------------------------------------------------ the store
    @property
    def cache(self) -> Path:
        return self.root / CACHE

    def _reader(self):
        """The store to read from; None while a private embedded store has not been created (nothing published)."""
        if self._store is None and (self.root / "registry.sqlite3").exists():
            return self._writer()
        return self._store

    def _writer(self):
        if self._store is None:
            from maas.store.embedded import EmbeddedStore

            self._store = EmbeddedStore(self.root / "registry.sqlite3")
        return self._store

    @property
    def store(self):
        return self._writer()

    async def aclose(self) -> None:
        if self._owns_store and self._store is not None:
            await self._store.aclose()
            self._store = None

    # ------------------------------------------------------------------ reading
    async def _index(self, operator: str) -> dict | None:
        store = self._reader()
        raw = None if store is None else await store.get(_key(check_namespace(operator), "index"))
        return None if raw is None else json.loads(raw)

    async def operators(self) -> list[str]:
        store = self._reader()
        return [] if store is None else sorted(await store.smembers(OPERATORS))

    async def versions(self, operator: str) -> list[FeedVersion]:
        rec = await self._index(operator)
        return [] if rec is None else _versions(rec)

    async def active(self, operator: str) -> FeedVersion | None:
        return next((v for v in await self.versions(operator) if v.active), None)

    async def previous(self, operator: str) -> FeedVersion | None:
        """The version before the active one (what a rollback returns to), None if there is none."""
        items = await self.versions(operator)
        idx = next((i for i, v in enumerate(items) if v.active), None)
        return items[idx - 1] if idx else None

    async def generation(self) -> int:
        store = self._reader()
        raw = None if store is None else await store.get(GENERATION)
        return int(raw or 0)

    async def report(self, v: FeedVersion) -> dict | None:
        store = self._reader()
        raw = None if store is None else await store.get(_key(v.operator, f"report:{v.version}"))
        return None if raw is None else json.loads(raw)

    async def load(self, v: FeedVersion) -> Feed:
        """The version's feed, parsed here from the cached zip (fetched from the store when the cache lacks it or
        holds a damaged copy). The parse runs in a thread."""
        return await self.load_blob(v.operator, await self.blob_of(v))

    async def load_blob(self, operator: str, sha: str) -> Feed:
        data = await self.fetch(operator, sha)
        return await asyncio.get_running_loop().run_in_executor(None, self._parse, operator, data)

    async def blob_of(self, v: FeedVersion) -> str:
        """The sha256 the version's zip is stored under (the upload's own, or a re-zipped imported folder's)."""
        rec = await self._index(v.operator) or {}
        entry = next((e for e in rec.get("versions", []) if e["version"] == v.version), None)
        return entry.get("blob", v.sha256) if entry else v.sha256

    async def fetch(self, operator: str, sha: str) -> bytes:
        """The zip with checksum ``sha``: the local cache when it is intact, else the store (then cached)."""
        loop = asyncio.get_running_loop()
        path = self.cache / operator / f"{sha}.zip"
        data = await loop.run_in_executor(None, _read_checked, path, sha)
        if data is not None:
            return data
        store = self._reader()
        data = None if store is None else await store.get_blob(_key(operator, f"blob:{sha}"))
        if data is None or hashlib.sha256(data).hexdigest() != sha:
            raise BlobMissing(f"the zip {sha[:12]}… of operator {operator!r} is not in the store")
        await loop.run_in_executor(None, write_atomic, path, data)
        return data

    def _parse(self, operator: str, data: bytes) -> Feed:
        """Unpack (with the upload's checks) into a temporary folder and load; blocking."""
        self.cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.cache, prefix=".tmp-"))
        try:
            extract_gtfs_zip(data, tmp, self.limits)
            return load_feed(tmp, operator)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------ writing
    def stage(self, operator: str, data: bytes) -> Staged:
        """Unpack (UploadError on a hostile zip) and validate with the GTFS importer. Blocking: run in a thread."""
        return self.validate(self.unpack(operator, data))

    def unpack(self, operator: str, data: bytes) -> Unpacked:
        """The upload's checks (size, ratio, paths, UTF-8: UploadError) and its files in a temporary folder, which
        ``validate`` removes. Blocking."""
        check_namespace(operator)
        sha = hashlib.sha256(data).hexdigest()
        version = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.cache.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=self.cache, prefix=".tmp-"))
        try:
            extract_gtfs_zip(data, folder, self.limits)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return Unpacked(operator, version, sha, data, folder)

    def validate(self, up: Unpacked) -> Staged:
        """Import and validate the unpacked files (then removed). Blocking."""
        try:
            feed = load_feed(up.folder, up.operator)
            report = feed.report
        except FeedRejected as rej:
            feed, report = None, rej.report
        finally:
            shutil.rmtree(up.folder, ignore_errors=True)
        return Staged(up.operator, up.version, up.sha256, len(up.data), up.data, report, feed)

    def discard(self, up: Unpacked) -> None:
        shutil.rmtree(up.folder, ignore_errors=True)

    async def store_blob(self, operator: str, sha: str, data: bytes) -> None:
        """Put the zip in the store under its checksum (before the swap: a store that cannot take it leaves the
        live network untouched) and in the local cache."""
        store = self._writer()
        key = _key(operator, f"blob:{sha}")
        if not await store.has_blob(key):
            await store.put_blob(key, data)
        await asyncio.get_running_loop().run_in_executor(
            None, write_atomic, self.cache / operator / f"{sha}.zip", data)

    async def forget_blob(self, operator: str, sha: str) -> None:
        """Drop a stored zip that validation refused, unless a recorded version uses the same bytes."""
        rec = await self._index(operator) or {}
        if any(e.get("blob", e["sha256"]) == sha for e in rec.get("versions", [])):
            return
        await self._writer().delete_blob(_key(operator, f"blob:{sha}"))
        (self.cache / operator / f"{sha}.zip").unlink(missing_ok=True)

    async def commit(self, staged: Staged) -> FeedVersion:
        """Record an accepted version (its blob already stored) and its report; it becomes the operator's active
        one."""
        if staged.feed is None:
            raise ValueError("a rejected feed cannot be recorded")
        await self._writer().set(_key(staged.operator, f"report:{staged.version}"),
                                 json.dumps(staged.report.to_dict()))
        entry = {**FeedVersion(staged.operator, staged.version, staged.sha256,
                               dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                               len(staged.report.errors), len(staged.report.warnings), False,
                               staged.size).to_dict(), "blob": staged.sha256}

        def add(rec: dict) -> dict:
            return {**rec, "active": staged.version, "versions": rec["versions"] + [entry]}

        rec = await self._update(staged.operator, add)
        await self._changed(staged.operator)
        return next(v for v in _versions(rec) if v.version == staged.version)

    async def activate(self, operator: str, version: str) -> FeedVersion:
        def point(rec: dict) -> dict:
            if not any(e["version"] == version for e in rec["versions"]):
                raise KeyError(version)
            return {**rec, "active": version}

        rec = await self._update(operator, point)
        await self._changed(operator)
        return next(v for v in _versions(rec) if v.active)

    async def _update(self, operator: str, change: Callable[[dict], dict]) -> dict:
        """Read-modify-write the operator's index by compare-and-set (retried when another replica wrote first)."""
        store, key = self._writer(), _key(check_namespace(operator), "index")
        for _ in range(CAS_ATTEMPTS):
            raw = await store.get(key)
            rec = json.loads(raw) if raw else {"version": 0, "active": None, "versions": []}
            new = {**change(rec), "version": int(rec["version"]) + 1}
            if await store.replace_versioned(key, json.dumps(new), int(rec["version"])):
                await store.sadd(OPERATORS, operator)
                return new
            await asyncio.sleep(0.01)
        raise RuntimeError(f"the feed index of {operator!r} kept changing under this write")

    async def announce(self, operator: str, sha: str, by: str) -> None:
        """Tell the other workers a version is stored and about to be recorded, so they can build it meanwhile
        (``{"operator", "staged": sha, "by"}`` on ``feeds:changed``; the generation does not move)."""
        await self._writer().publish(CHANGED, json.dumps({"operator": operator, "staged": sha, "by": by}))

    async def _changed(self, operator: str) -> None:
        store = self._writer()
        gen = await store.incr(GENERATION)
        await store.durable()  # a publish the API confirmed survives a store crash, as a booking does
        await store.publish(CHANGED, json.dumps({"operator": operator, "generation": gen}))

    # ------------------------------------------------------------------ profiles
    async def profile_record(self, operator: str) -> dict | None:
        store = self._reader()
        raw = None if store is None else await store.get(_key(check_namespace(operator), "profile"))
        return None if raw is None else json.loads(raw)

    async def put_profile(self, operator: str, data: object) -> dict:
        """Store an already validated profile as the one in effect (every version kept); returns the record."""
        store, key = self._writer(), _key(check_namespace(operator), "profile")
        for _ in range(CAS_ATTEMPTS):
            old = await self.profile_record(operator)
            n = int(old["version"]) + 1 if old else 1
            rec = {"version": n, "data": data, "updated": dt.datetime.now(dt.timezone.utc).isoformat()}
            if await store.replace_versioned(key, json.dumps(rec, ensure_ascii=False), n - 1):
                await store.set(_key(operator, f"profile:{n:05d}"), json.dumps(data, ensure_ascii=False))
                await store.sadd(OPERATORS, operator)
                await self._changed(operator)
                await asyncio.get_running_loop().run_in_executor(None, self.write_profile_cache, operator, rec)
                return rec
            await asyncio.sleep(0.01)
        raise RuntimeError(f"the profile of {operator!r} kept changing under this write")

    def profile_cache(self, operator: str) -> Path:
        return self.cache / check_namespace(operator) / "profile.json"

    def write_profile_cache(self, operator: str, rec: dict | None) -> None:
        path = self.profile_cache(operator)
        if rec is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, json.dumps(rec, ensure_ascii=False))

    def cached_profile_version(self, operator: str) -> int | None:
        """The version the local cache holds; None when absent or damaged (then it is rewritten)."""
        try:
            return int(json.loads(self.profile_cache(operator).read_text("utf-8"))["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # ------------------------------------------------------------------ start-up
    def sweep(self) -> None:
        """Remove temporary files and folders a crash left in the cache (never a complete cache file)."""
        if not self.cache.exists():
            return
        for tmp in self.cache.rglob(".tmp-*"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)

    async def migrate(self) -> list[str]:
        """Import a data folder written before the store (``{op}/index.json`` with version folders,
        ``{op}/profile.json``) once; returns the operators imported. A damaged old index is set aside
        (``index.json.damaged``) with a warning, never fatal."""
        if not self.root.exists():
            return []
        loop = asyncio.get_running_loop()
        done = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and p.name != CACHE):
            op = folder.name
            try:
                check_namespace(op)
            except ValueError:
                continue
            if (folder / "index.json").exists():
                await self._import_versions(op, folder, loop)
                done.append(op)
            if (folder / "profile.json").exists():
                await self._import_profile(op, folder)
                done.append(op)
        return sorted(set(done))

    async def _import_versions(self, op: str, folder: Path, loop) -> None:
        index = folder / "index.json"
        try:
            old = json.loads(index.read_text("utf-8"))
            entries = [{k: v[k] for k in _FIELDS} for v in old]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("the feed index %s is damaged (%s): set aside, nothing imported from it", index, exc)
            index.replace(folder / "index.json.damaged")
            return
        store, imported, active = self._writer(), [], None
        for e in entries:
            vdir = folder / e["version"]
            if not vdir.is_dir():
                log.warning("feed version %s/%s has no folder: not imported", op, e["version"])
                continue
            data = await loop.run_in_executor(None, _zip_folder, vdir)
            sha = hashlib.sha256(data).hexdigest()
            await store.put_blob(_key(op, f"blob:{sha}"), data)
            imported.append({**e, "active": False, "blob": sha})
            if e["active"]:
                active = e["version"]

        def merge(rec: dict) -> dict:
            known = {e["version"] for e in rec["versions"]}
            versions = sorted(rec["versions"] + [e for e in imported if e["version"] not in known],
                              key=lambda e: e["created"])
            return {**rec, "versions": versions, "active": rec["active"] or active}

        if imported:
            await self._update(op, merge)
            await self._changed(op)
        index.replace(folder / "index.json.imported")
        log.info("imported %d feed version(s) of %s into the store", len(imported), op)

    async def _import_profile(self, op: str, folder: Path) -> None:
        path = folder / "profile.json"
        try:
            data = json.loads(path.read_text("utf-8"))
        except ValueError as exc:
            log.warning("the profile %s is damaged (%s): set aside", path, exc)
            path.replace(folder / "profile.json.damaged")
            return
        if await self.profile_record(op) is None:  # the store's profile wins over an old host's copy
            await self.put_profile(op, data)
        path.replace(folder / "profile.json.imported")


def _versions(rec: dict) -> list[FeedVersion]:
    return [FeedVersion(**{**{k: e[k] for k in _FIELDS}, "active": e["version"] == rec.get("active")})
            for e in rec.get("versions", [])]


def _read_checked(path: Path, sha: str) -> bytes | None:
    """The cached file when its content still has checksum ``sha``; a damaged one is removed (and fetched again)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() == sha:
        return data
    log.warning("cached feed %s is damaged: fetching it again from the store", path)
    path.unlink(missing_ok=True)
    return None


def _zip_folder(folder: Path) -> bytes:
    """A deterministic zip of a version folder's files (fixed timestamps, sorted names)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(p for p in folder.iterdir() if p.is_file()):
            zf.writestr(zipfile.ZipInfo(f.name, date_time=(1980, 1, 1, 0, 0, 0)), f.read_bytes(),
                        compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()
