"""The one stop-name matcher: Japanese, kana, Hepburn romaji in its common spellings, English, typos.

Used by the planner (``routing/places.py``), ``/v1/stops``, ``/v1/plan``, ``maas plan`` and the map page, so a name
that finds a station in one finds the same station everywhere. Each stop and station gets a few *keys*:

* its Japanese name and kana reading (from translations.txt, or generated with pykakasi when the feed has none),
  NFKC, case-folded, katakana folded to hiragana, separators dropped;
* its English name and the Hepburn romaji of its reading, folded so the common spellings meet: macrons dropped
  (Tochōmae), long vowels written ou/oo/uu/oh collapsed (Tochoumae), m before b/p/m read as n (Shimbashi),
  hyphens, spaces and apostrophes dropped (Tocho-mae); English names also without "Sta."/"Station" and with
  each parenthesised alternative on its own ("Odaiba-Kaihin-Kōen Sta. (Odaiba Marine Park Sta.)").

Every key of every stop is joined into one string, so a literal query is a few C-level ``str.find`` calls plus a
``searchsorted`` instead of a Python loop over every stop. Only when nothing matches literally does rapidfuzz
compare the query against every key (typo tolerance, "did you mean").
"""
from __future__ import annotations

import collections.abc
import functools
import itertools
import pickle
import re
import threading
import unicodedata
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from routing.geo import haversine_m

if TYPE_CHECKING:
    import pandas as pd

_DROP = re.compile(r"[\s・･·\-‐－–—'’`.,、。()（）〈〉<>「」\[\]/／&＆]+")
_KATA = {c: c - 0x60 for c in range(0x30A1, 0x30F7)}  # ァ..ヶ → ぁ..ゖ
_LATIN = re.compile(r"[a-z]")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_STATION_WORD = re.compile(r"(?:\s*\b(?:sta|stn|station)\b\.?\s*)+$", re.I)
_PAREN = re.compile(r"[(（]([^)）]*)[)）]")
SEP, ROW = "\x1f", "\n"
EXACT, PREFIX, SUBSTRING, FUZZY = 0, 1, 2, 3
TIER_NAMES = ("exact", "prefix", "substring", "fuzzy")
FUZZY_CUTOFF = 75.0  # rapidfuzz WRatio: "tochomea" → "tochomae" 87.5, "shinjku" → "shinjuku" 93, "zzz" → "zoo" 33
SUGGEST_CUTOFF = 60.0
SUGGEST_BAND = 10.0  # suggest names scoring within this of the best one, not every weak look-alike
SAME_PLACE_M = 1500.0  # stations sharing a name this close are one place (the poles of a bus stop, a line's halls)


def normalise(text: str) -> str:
    """Comparable form of a Japanese/kana/plain name: 'トチョウマエ' and 'とちょうまえ' meet, 'Chūō' is 'chuo'."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = text.translate(_KATA)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c) or c in "\u3099\u309a")
    return _DROP.sub("", unicodedata.normalize("NFKC", text))


def fold_romaji(text: str) -> str:
    """Hepburn spellings folded to one form: Tochōmae, Tochomae, Tochoumae, Tocho-mae → 'tochomae'."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text or "").casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _NON_ALNUM.sub("", text)
    text = re.sub(r"m(?=[bpm])", "n", text)
    text = re.sub(r"oh(?=[^aiueoy]|$)", "o", text)
    prev = None
    while prev != text:
        prev = text
        text = text.replace("ou", "o").replace("oo", "o").replace("uu", "u").replace("aa", "a").replace("ii", "i")
    return text


# A child process loads pykakasi's kanji table (~1.4M small objects), reads the names it is given with it, and
# writes back the readings and the table re-pickled one blob per first character: reading a network's names here
# would leave the table's (or its unpickled entries') freed pages scattered in this process's heap (~110 MiB, or
# ~38 MiB with the compact table).
_READINGS_CHILD = r"""
import pickle, sys
sys.path.insert(0, sys.argv[1])
from routing import names
texts = pickle.load(sys.stdin.buffer)
names._STATE["child"] = True  # pykakasi's own table here
out = [names.reading(t) for t in texts]
sys.stdout.buffer.write(pickle.dumps((names._table_blobs(), out), protocol=pickle.HIGHEST_PROTOCOL))
"""
CHILD_READINGS_MIN = 200  # fewer names to read: in this process (a child costs ~1 s)
WARM_ENTRIES = 64  # kanji entries opened after a network's names are read (see _CompactKanwa.warm)


def _table_blobs() -> dict[int, bytes]:
    """{first character's code point: its entry as `_packed_entry`'s parts, pickled and zlib-compressed} of
    pykakasi's kanji table (2.2 MiB; the largest entry opens in ~0.2 ms)."""
    from pykakasi.kanji import Configurations, Kanwa

    table = Kanwa._shared_state.get("_jisyo_table")
    if not isinstance(table, dict):
        with open(Configurations.dictpath(Configurations.jisyo_kanwa), "rb") as f:
            table = pickle.load(f)
    return {k: zlib.compress(pickle.dumps(_packed_entry(v), protocol=pickle.HIGHEST_PROTOCOL), 6)
            for k, v in table.items()}


_WORD_SEP = "\x1f"  # between the words of an entry, and between their readings
_NO_CONTEXT = itertools.repeat(None)


def _packed_entry(entry: dict) -> tuple[tuple[tuple[int, str, str], ...], dict]:
    """A kanji table entry ({word: [(reading, context or None), ...]}) as the parts of a `_KanwaEntry`: for each
    number n of readings, the words with n readings and no context joined in one string and their readings (n a
    word, in order) in another, the words in pykakasi's order; and the rest (a context, an empty string or the
    separator in a word or reading: one word in pykakasi 2.x's table) as a dict with each word's readings as a
    tuple of pairs, a list context as a tuple (pykakasi only tests it with ``in``)."""
    words: dict[int, list[str]] = {}
    readings_of: dict[int, list[str]] = {}
    rest = {}
    for word, readings_ in entry.items():
        texts = [word] + [y for y, _ in readings_]
        if not readings_ or any(c is not None for _, c in readings_) or any(not t or _WORD_SEP in t for t in texts):
            rest[word] = tuple((y, c if c is None or isinstance(c, str) else tuple(c)) for y, c in readings_)
        else:
            words.setdefault(len(readings_), []).append(word)
            readings_of.setdefault(len(readings_), []).extend(y for y, _ in readings_)
    return tuple((n, _WORD_SEP.join(words[n]), _WORD_SEP.join(readings_of[n])) for n in sorted(words)), rest


def _child_readings(texts: list[str]) -> tuple[dict[int, bytes], list[tuple[str, str]]] | None:
    """(kanji table blobs, readings of ``texts``) from a child process; None when no child can run."""
    import subprocess
    import sys
    from pathlib import Path

    try:
        run = subprocess.run([sys.executable, "-c", _READINGS_CHILD, str(Path(__file__).resolve().parents[1])],
                             input=pickle.dumps(list(texts)), capture_output=True, timeout=300, check=True)
        blobs, out = pickle.loads(run.stdout)
        if isinstance(blobs, dict) and blobs and len(out) == len(texts):
            return blobs, [tuple(r) for r in out]
    except (OSError, subprocess.SubprocessError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
        pass
    return None


class _KanwaItems(collections.abc.ItemsView):
    def __iter__(self):
        return self._mapping._pairs()


class _KanwaValues(collections.abc.ValuesView):
    def __iter__(self):
        return (v for _, v in self._mapping._pairs())


class _KanwaEntry(collections.abc.Mapping):
    """One entry of pykakasi's kanji table ({word: ((reading, context or None), ...)}, the words starting with one
    character) held as a few joined strings (`_packed_entry`) instead of a dict of Python objects: all-Tokyo's 64
    most used entries hold 0.74 MiB instead of 8.3. pykakasi's converter iterates ``items()`` whole for each kanji
    run it reads (and looks at a word's readings only when the text starts with the word), so ``items()`` splits
    the strings and pairs the parts with C-level zips on each call: ~0.1 us a word more than a dict's items, a
    stop name's reading p50 0.19 ms instead of 0.12 (0.4 ms instead of 0.16 through 大's 2,514 words). The words
    come grouped by their number of readings, each group in pykakasi's order: its converter keeps the longest word
    the text starts with (one word of each length can be a prefix), whatever the order, and a word's readings keep
    theirs. Read-only."""

    __slots__ = ("_groups", "_rest")

    def __init__(self, groups: tuple[tuple[int, str, str], ...], rest: dict):
        self._groups, self._rest = groups, rest

    def _pairs(self) -> collections.abc.Iterator[tuple[str, tuple]]:
        """(word, its readings as (reading, None) pairs) of every word, made at C speed."""
        parts = []
        for n, words, readings_ in self._groups:
            each = iter(readings_.split(_WORD_SEP))
            parts.append(zip(words.split(_WORD_SEP), zip(*[zip(each, _NO_CONTEXT) for _ in range(n)])))
        parts.append(self._rest.items())
        return itertools.chain.from_iterable(parts)

    def items(self):
        return _KanwaItems(self)

    def values(self):
        return _KanwaValues(self)

    def __iter__(self) -> collections.abc.Iterator[str]:
        return (w for w, _ in self._pairs())

    def __len__(self) -> int:
        return sum(words.count(_WORD_SEP) + 1 for _, words, _ in self._groups) + len(self._rest)

    def __getitem__(self, word: str) -> tuple:
        if isinstance(word, str) and word and _WORD_SEP not in word:
            for n, words, readings_ in self._groups:
                at = (_WORD_SEP + words + _WORD_SEP).find(_WORD_SEP + word + _WORD_SEP)
                if at >= 0:
                    i = n * words.count(_WORD_SEP, 0, at)
                    return tuple(zip(readings_.split(_WORD_SEP)[i:i + n], _NO_CONTEXT))
        return self._rest[word]


class _CompactKanwa:
    """pykakasi's kanji dictionary kept as one compressed blob per first character (2.2 MiB) instead of ~1.4M Python
    objects (91 MiB resident per process, the biggest single item of a server's heap after the timetable). An
    entry is opened (`_KanwaEntry`: a few joined strings) when a query needs it and an LRU keeps the hot ones:
    opening takes ~0.015 ms, 0.2 ms for the largest (大: 2,514 words), and all 6,823 entries open would hold
    8.6 MiB, the 512 largest 3.6 (38 as dicts). A network's names are read in a child (`readings`), and start-up
    opens only the entries most used in them (`warm`). The same words with the same readings, so the readings
    are the same. Read-only, like pykakasi's own table (its lookups only call ``get``)."""

    def __init__(self, blobs: dict[int, bytes], entries: int = 512):
        self._blobs = blobs
        self._entry = functools.lru_cache(maxsize=entries)(self._open)

    def _open(self, key: int) -> _KanwaEntry | None:
        blob = self._blobs.get(key)
        return None if blob is None else _KanwaEntry(*pickle.loads(zlib.decompress(blob)))

    def get(self, key: int, default=None):
        hit = self._entry(key)
        return default if hit is None else hit

    def warm(self, texts: list[str], entries: int) -> None:
        """Open the entries of the ``entries`` characters most used in ``texts`` (the most used last, most recent):
        all-Tokyo's 64 most used kanji (田大川新町東...) hold 0.74 MiB and open in ~25 ms, and save the first
        free-text queries ~0.2-0.5 ms each."""
        counts = collections.Counter(c for t in texts for c in t if ord(c) in self._blobs)
        for c, _ in reversed(counts.most_common(entries)):
            self._entry(ord(c))


_LOCK = threading.Lock()
# in the readings child; the table blobs a child handed back; the readings it made (a query for a name needs none)
_STATE: dict = {"child": False, "blobs": None, "known": {}}


@functools.cache
def _kakasi():
    import pykakasi

    if _STATE["child"]:
        return pykakasi.kakasi()
    try:  # install the compact table before pykakasi loads its own (a Borg shared by every converter)
        from pykakasi.kanji import Kanwa

        state = Kanwa._shared_state
        with state["_lock"]:
            if state["_jisyo_table"] is None:
                with _LOCK:
                    blobs, _STATE["blobs"] = _STATE["blobs"], None
                if blobs is None:
                    got = _child_readings([])
                    blobs = got[0] if got else _table_blobs()
                state["_jisyo_table"] = _CompactKanwa(blobs)
    except (ImportError, AttributeError, KeyError, TypeError):  # another pykakasi layout: its own table then
        pass
    return pykakasi.kakasi()


def _installed_table() -> _CompactKanwa | None:
    try:
        from pykakasi.kanji import Kanwa

        table = Kanwa._shared_state.get("_jisyo_table")
    except (ImportError, AttributeError):
        return None
    return table if isinstance(table, _CompactKanwa) else None


def readings(texts: list[str]) -> list[tuple[str, str]]:
    """`reading` of each text; many at once in a child process (see _READINGS_CHILD), which also hands over the
    kanji table, so the converter is ready for queries after."""
    todo = sorted({t for t in texts if t})
    if len(todo) >= CHILD_READINGS_MIN:
        got = _child_readings(todo)
        if got is not None:
            blobs, out = got
            with _LOCK:
                if _STATE["blobs"] is None:
                    _STATE["blobs"] = blobs
            _kakasi()  # installs those blobs now: the first query needing a reading is not the slow one
            found = dict(zip(todo, out))
            with _LOCK:
                _STATE["known"] = {**_STATE["known"], **found}
            table = _installed_table()
            if table is not None:
                table.warm(todo, WARM_ENTRIES)
            return [found[t] if t else ("", "") for t in texts]
    return [reading(t) for t in texts]


@dataclass(frozen=True)
class BuiltNames:
    """A NameIndex built in another process with what this one needs to answer queries as if it had built it:
    the kanji table blobs and the readings that process made (`export_names`, `adopt_names`). Building one here
    leaves ~13 MiB of freed temporaries scattered in the heap for good (all-Tokyo: its readings' children's
    output, the unpacked tables, the keys made on the way)."""

    index: "NameIndex"
    blobs: dict[int, bytes] | None
    known: dict[str, tuple[str, str]]


def export_names(index: "NameIndex") -> BuiltNames:
    """``index`` with this process's kanji table blobs and readings, to hand to another process."""
    table = _installed_table()
    with _LOCK:
        blobs = table._blobs if table is not None else _STATE["blobs"]
        return BuiltNames(index, blobs, dict(_STATE["known"]))


def adopt_names(built: BuiltNames) -> "NameIndex":
    """Install what `export_names` handed over as `readings` does after its child (the blobs, then the readings
    known, then the most used kanji entries warmed), and return the index."""
    with _LOCK:
        if built.blobs and _STATE["blobs"] is None and _installed_table() is None:
            _STATE["blobs"] = built.blobs
        _STATE["known"] = {**_STATE["known"], **built.known}
    _kakasi()
    table = _installed_table()
    if table is not None:
        # the names whose readings were generated, as `readings` warms after its child
        table.warm(sorted({n for n, g in zip(built.index.names, built.index.kana_generated.tolist()) if g and n}),
                   WARM_ENTRIES)
    return built.index


@functools.lru_cache(maxsize=65536)
def reading(text: str) -> tuple[str, str]:
    """(hiragana, Hepburn) reading of a Japanese name, generated by pykakasi (kanji readings are its best guess)."""
    if not text:
        return "", ""
    known = _STATE["known"].get(text)
    if known is not None:
        return known
    parts = _kakasi().convert(text)
    return "".join(p["hira"] for p in parts), "".join(p["hepburn"] for p in parts)


def _is_latin(text: str) -> bool:
    return bool(_LATIN.search(unicodedata.normalize("NFKD", text.casefold()))) and \
        all(ord(c) < 0x3000 for c in text)


def _english_keys(name_en: str) -> list[str]:
    """The English name, its parts in and out of parentheses, each also without a trailing 'Sta.'."""
    if not name_en:
        return []
    parts = [name_en, _PAREN.sub(" ", name_en)] + _PAREN.findall(name_en)
    out = []
    for p in parts:
        for variant in (p, _STATION_WORD.sub("", p.strip())):
            k = fold_romaji(variant)
            if k and k not in out:
                out.append(k)
    return out


def _japanese_keys(name: str, kana: str) -> list[str]:
    out = []
    for variant in (name, name[:-1] if name.endswith("駅") and len(name) > 1 else "", kana):
        k = normalise(variant)
        if k and k not in out:
            out.append(k)
    return out


def query_keys(query: str) -> list[str]:
    """The forms of a query to look for: as typed (normalised), and as romaji when it is latin or kana/kanji."""
    keys = [normalise(query)]
    rom = fold_romaji(query) if _is_latin(query) else fold_romaji(reading(unicodedata.normalize("NFKC", query))[1])
    if rom and rom not in keys:
        keys.append(rom)
    return [k for k in keys if k]


class _Groups:
    """Lists of row indexes held as one CSR pair of arrays (a Python list of ints each held ~5x the bytes):
    ``groups[k]`` is list k, as a list of ints. Read-only."""

    __slots__ = ("start", "rows")

    def __init__(self, lists: list[list[int]]):
        self.start = np.zeros(len(lists) + 1, np.int64)
        np.cumsum([len(x) for x in lists], out=self.start[1:])
        self.rows = np.fromiter((r for x in lists for r in x), np.int32, int(self.start[-1]))

    def __len__(self) -> int:
        return len(self.start) - 1

    def __getitem__(self, k: int) -> list[int]:
        return self.rows[self.start[k]:self.start[k + 1]].tolist()


class UnknownPlace(ValueError):
    """A name that matches no stop, or several places we cannot choose between; ``suggestions`` are row indexes."""

    def __init__(self, message: str, suggestions: list[int]):
        super().__init__(message)
        self.suggestions = suggestions


@dataclass(frozen=True, slots=True)
class NameHit:
    index: int  # row of the index
    tier: int  # EXACT, PREFIX, SUBSTRING or FUZZY: lower is better
    score: float = 100.0  # rapidfuzz score for FUZZY hits
    distance_m: float | None = None


@dataclass(frozen=True)
class NamedPlace:
    """What a name resolved to: one or more stations (ids as in the feeds) that together are the place."""

    station_ids: list[str]
    name: str
    name_en: str


class NameIndex:
    """Stops (location_type 0) and stations (1) of a network, searchable by any name form. Read-only once built."""

    def __init__(self, ids, names, names_en, names_kana, parents, location_type, lat, lon,
                 headsigns_en: dict[str, str] | None = None):
        self.ids: list[str] = [str(x) for x in ids]
        self.names: list[str] = [str(x) for x in names]
        self.names_en: list[str] = [str(x) for x in names_en]
        given_kana = [str(x) for x in names_kana]
        self.location_type = np.asarray(location_type, np.int8)
        self.lat = np.asarray(lat, np.float64)
        self.lon = np.asarray(lon, np.float64)
        self._pos = {s: i for i, s in enumerate(self.ids)}
        parents = [str(p) for p in parents]
        self.parent: list[str] = [p if p in self._pos else "" for p in parents]
        # the station a row belongs to: its parent, else itself (a stop without parent is its own station)
        self.station = np.array([self._pos[p] if p else i for i, p in enumerate(self.parent)], np.int64)
        for i, st in enumerate(self.station.tolist()):  # a parent without translations takes its poles' ones
            if st != i and self.names[st] == self.names[i]:
                self.names_en[st] = self.names_en[st] or self.names_en[i]
                given_kana[st] = given_kana[st] or given_kana[i]
        self.kana_generated = np.array([not k for k in given_kana], bool)
        gen = readings([n for k, n in zip(given_kana, self.names) if not k])
        gen_it = iter(gen)
        self.names_kana: list[str] = [k or next(gen_it)[0] for k in given_kana]
        self.romaji = [r[1] for r in readings(self.names_kana)]
        self.headsigns_en = dict(headsigns_en or {})
        self._name_en_by_ja: dict[str, str] = {}
        for n, e in zip(self.names, self.names_en):
            if n and e:
                self._name_en_by_ja.setdefault(n, e)
        keys = [_japanese_keys(n, k) + [x for x in _english_keys(e) + [fold_romaji(r)] if x]
                for n, e, k, r in zip(self.names, self.names_en, self.names_kana, self.romaji)]
        keys = [list(dict.fromkeys(k)) for k in keys]
        # a row's keys are read back from the haystack on a hit (`_literal`), not kept as lists of their own (all-Tokyo:
        # 1.1 MiB), and each distinct key's rows as one array (`_fuzzy_rows`: 0.7 MiB as lists)
        rows = [SEP.join(k) for k in keys]
        self._haystack = ROW.join(rows)
        lens = np.fromiter((len(r) + 1 for r in rows), np.int64, len(rows))
        self._starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if len(rows) else \
            np.zeros(0, np.int64)
        rows_of: dict[str, list[int]] = {}
        for i, ks in enumerate(keys):
            for k in ks:
                rows_of.setdefault(k, []).append(i)
        # each distinct key once (platforms repeat their station's names), romaji and Japanese apart: a query is
        # compared only with keys of its own script
        self._fuzzy_keys = {script: [k for k in rows_of if k.isascii() == (script == "latin")]
                            for script in ("latin", "japanese")}
        self._fuzzy_rows = {script: _Groups([rows_of[k] for k in keys]) for script, keys in self._fuzzy_keys.items()}

    # ---- construction ---------------------------------------------------------------------------------------
    @classmethod
    def from_tables(cls, stops: pd.DataFrame, trips: pd.DataFrame | None = None) -> "NameIndex":
        """From a feed's (or a network's) normalised stops table; trips give English headsigns when translated."""
        import pandas as pd

        def col(name: str, default="") -> list:
            return stops[name].fillna(default).tolist() if name in stops else [default] * len(stops)

        lt = pd.to_numeric(stops["location_type"], errors="coerce").fillna(0).astype(int) \
            if "location_type" in stops else pd.Series(np.zeros(len(stops), int))
        keep = lt.isin([0, 1]).to_numpy()
        stops = stops[keep].reset_index(drop=True)
        heads: dict[str, str] = {}
        if trips is not None and len(trips) and "trip_headsign_en" in trips:
            pairs = trips[["trip_headsign", "trip_headsign_en"]].astype(str)
            pairs = pairs[(pairs["trip_headsign"] != "") & (pairs["trip_headsign_en"] != "")].drop_duplicates()
            heads = dict(zip(pairs["trip_headsign"], pairs["trip_headsign_en"]))
        return cls(stops["stop_id"].astype(str).tolist(), col("stop_name"), col("stop_name_en"),
                   col("stop_name_kana"), col("parent_station"), lt[keep].to_numpy(),
                   pd.to_numeric(stops["stop_lat"], errors="coerce").to_numpy(np.float64),
                   pd.to_numeric(stops["stop_lon"], errors="coerce").to_numpy(np.float64), heads)

    @classmethod
    def from_network(cls, network) -> "NameIndex":
        return cls.from_tables(network.table("stops"), network.table("trips"))

    @classmethod
    def from_model(cls, model) -> "NameIndex":
        """From a transit model's string tables (no kana there: generated), for a Planner used on its own."""
        n_st = len(model.station_ids)
        ids, names, en, parents, lt, lat, lon = [], [], [], [], [], [], []
        for i in range(n_st):
            ids.append(model.station_ids[i]); names.append(model.station_names[i])
            en.append(model.station_names_en[i]); parents.append(""); lt.append(1)
            lat.append(model.station_lat[i]); lon.append(model.station_lon[i])
        for s in range(model.n_stops):
            st = model.station_ids[int(model.stop_station[s])]
            if st == model.stop_ids[s]:
                lt[int(model.stop_station[s])] = 0  # a stop without parent: its own station
                continue
            ids.append(model.stop_ids[s]); names.append(model.stop_names[s]); en.append(model.stop_names_en[s])
            parents.append(st); lt.append(0); lat.append(model.stop_lat[s]); lon.append(model.stop_lon[s])
        return cls(ids, names, en, [""] * len(ids), parents, lt, lat, lon)

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, stop_id: str) -> int | None:
        return self._pos.get(stop_id)

    # ---- search ---------------------------------------------------------------------------------------------
    def _literal(self, keys: list[str]) -> dict[int, int]:
        """Row → best tier over every query key found literally in the row's keys."""
        tiers: dict[int, int] = {}
        hay, starts = self._haystack, self._starts
        for q in keys:
            whole, head = SEP + q + SEP, SEP + q  # (no key holds SEP: a key equal to q, a key starting with q)
            at = hay.find(q)
            while at >= 0:
                i = int(np.searchsorted(starts, at, side="right")) - 1
                nxt = int(starts[i + 1]) if i + 1 < len(starts) else len(hay) + 1  # (after the row's ROW)
                row = SEP + hay[int(starts[i]):nxt - 1] + SEP  # the row's keys, each between SEPs
                tier = EXACT if whole in row else PREFIX if head in row else SUBSTRING
                if tier < tiers.get(i, 99):
                    tiers[i] = tier
                at = hay.find(q, nxt)  # one hit per row is enough
        return tiers

    def _fuzzy(self, keys: list[str], cutoff: float, limit: int) -> dict[int, float]:
        from rapidfuzz import fuzz, process

        best: dict[int, float] = {}
        for q in keys:
            if len(q) < 3:
                continue
            script = "latin" if q.isascii() else "japanese"
            for _, score, k in process.extract(q, self._fuzzy_keys[script], scorer=fuzz.WRatio,
                                               score_cutoff=cutoff, limit=limit * 4):
                for row in self._fuzzy_rows[script][k]:
                    best[row] = max(best.get(row, 0.0), float(score))
        return best

    def _order(self, hits: list[NameHit]) -> list[NameHit]:
        # best match first; stations before their platforms; then shorter (more specific) names
        return sorted(hits, key=lambda h: (h.tier, -h.score, -int(self.location_type[h.index]),
                                           len(self.names[h.index]), self.ids[h.index]))

    def search(self, query: str, limit: int = 20, fuzzy: bool = True) -> list[NameHit]:
        """Stops and stations matching ``query``: literal matches, or when there are none, near misses."""
        keys = query_keys(query)
        if not keys:
            return []
        tiers = self._literal(keys)
        hits = [NameHit(i, t) for i, t in tiers.items()]
        if not hits and fuzzy:
            hits = [NameHit(i, FUZZY, s) for i, s in self._fuzzy(keys, FUZZY_CUTOFF, limit).items()]
        return self._order(hits)[:limit]

    def near(self, lat: float, lon: float, radius_m: float, limit: int,
             among: list[NameHit] | None = None) -> list[NameHit]:
        idx = np.array([h.index for h in among], np.int64) if among is not None else np.arange(len(self.ids))
        if not len(idx):
            return []
        d = haversine_m(lat, lon, self.lat[idx], self.lon[idx])
        ok = np.flatnonzero(d <= radius_m)
        order = ok[np.argsort(d[ok], kind="stable")][:limit]
        by = {h.index: h for h in among} if among is not None else {}
        return [NameHit(int(idx[j]), by[int(idx[j])].tier if by else EXACT,
                        by[int(idx[j])].score if by else 100.0, float(d[j])) for j in order]

    def browse(self, limit: int) -> list[NameHit]:
        """Every stop and station without a query: stations first, then by id (a map's first view)."""
        order = np.lexsort((np.array(self.ids, dtype=object).astype(str), -self.location_type))[:limit]
        return [NameHit(int(i), EXACT) for i in order]

    def suggest(self, query: str, n: int = 5) -> list[int]:
        """Stations whose names are nearest to ``query`` (one per distinct name), best first."""
        keys = query_keys(query)
        scored = self._fuzzy(keys, SUGGEST_CUTOFF, n * 4) if keys else {}
        top = max(scored.values(), default=0.0)
        rows = sorted((i for i in scored if scored[i] >= top - SUGGEST_BAND),
                      key=lambda i: (-scored[i], -int(self.location_type[i]), self.ids[i]))
        return self._distinct_stations(rows, n)

    def _distinct_stations(self, rows, n: int) -> list[int]:
        out, seen = [], set()
        for i in rows:
            st = int(self.station[i])
            if self.names[st] in seen:
                continue
            seen.add(self.names[st])
            out.append(st)
            if len(out) == n:
                break
        return out

    def label(self, row: int) -> str:
        en = self.names_en[row]
        return f"{self.names[row]} ({en})" if en and en != self.names[row] else self.names[row]

    def resolve(self, query: str) -> NamedPlace:
        """The place a traveller means by ``query``: every station with the best-matching name, when they are
        one place. Raises UnknownPlace (with suggestions) for no match or for several different places."""
        keys = query_keys(query)
        tiers = self._literal(keys) if keys else {}
        if not tiers:
            sugg = self.suggest(query)
            hint = f": did you mean {', '.join(self.label(i) for i in sugg)}?" if sugg else \
                ": give a stop id (operator:id), a station name or 'lat,lon'"
            raise UnknownPlace(f"unknown place {query!r}{hint}", sugg)
        best = min(tiers.values())
        rows = [i for i, t in tiers.items() if t == best]
        stations = sorted({int(self.station[i]) for i in rows}, key=lambda s: (-int(self.location_type[s]),
                                                                                 len(self.names[s]), self.ids[s]))
        distinct = {self.names[s] for s in stations}
        lat, lon = self.lat[stations], self.lon[stations]
        spread = float(haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :]).max()) \
            if len(stations) > 1 else 0.0
        if (len(distinct) == 1 or best == EXACT) and spread <= SAME_PLACE_M:
            first = stations[0]
            return NamedPlace([self.ids[s] for s in stations], self.names[first], self.names_en[first])
        sugg = self._distinct_stations(stations, 5) if len(distinct) > 1 else stations[:5]
        what = ", ".join(self.label(i) if len(distinct) > 1 else self.ids[i] for i in sugg)
        raise UnknownPlace(f"{query!r} is ambiguous: it matches {what}"
                           f"{' …' if len(distinct) > len(sugg) else ''}; give the full name or an id", sugg)

    # ---- presentation ---------------------------------------------------------------------------------------
    def to_dict(self, hit: NameHit, lang: str = "ja") -> dict:
        i = hit.index
        out = {"id": self.ids[i], "name": self.names[i], "name_en": self.names_en[i] or None,
               "name_kana": self.names_kana[i] or None, "name_romaji": self.romaji[i] or None,
               "lat": float(self.lat[i]), "lon": float(self.lon[i]),
               "type": "station" if self.location_type[i] == 1 else "stop",
               "parent_station": self.parent[i] or None, "operator": self.ids[i].split(":", 1)[0],
               "match": TIER_NAMES[hit.tier]}
        if hit.distance_m is not None:
            out["distance_m"] = round(hit.distance_m, 1)
        return localise_names(out, lang)

    def suggestion(self, row: int) -> dict:
        return {"id": self.ids[row], "name": self.names[row], "name_en": self.names_en[row] or None}

    def english(self, text: str) -> str | None:
        """English for a Japanese headsign or stop name: the feeds' translation, else a station of that name."""
        if not text:
            return None
        return self.headsigns_en.get(text) or self._name_en_by_ja.get(text) or \
            self._name_en_by_ja.get(text.removesuffix("行").removesuffix("ゆき"))


def localise_names(obj: dict, lang: str, names: NameIndex | None = None) -> dict:
    """``name`` (and ``headsign``) in ``lang``: for "en" the English one when known, the Japanese one kept as
    ``name_ja``/``headsign_ja``. Applied in place to one object, for "ja" it changes nothing."""
    if lang != "en":
        return obj
    if obj.get("name") and "name_en" in obj:
        obj["name_ja"] = obj["name"]
        obj["name"] = obj["name_en"] or obj["name"]
    if obj.get("headsign") and names is not None:
        obj["headsign_ja"] = obj["headsign"]
        obj["headsign"] = names.english(obj["headsign"]) or obj["headsign"]
    return obj


def localise_itinerary(it: dict, lang: str, names: NameIndex) -> dict:
    """Every name and headsign of an itinerary (Itinerary JSON) in ``lang``, in place."""
    if lang != "en":
        return it
    for leg in it.get("legs", []):
        localise_names(leg, lang, names)
        for key in ("from", "to"):
            if isinstance(leg.get(key), dict):
                _stop_name(leg[key], names)
        for stop in leg.get("intermediate_stops") or []:
            _stop_name(stop, names)
    return it


def _stop_name(obj: dict, names: NameIndex) -> None:
    if not obj.get("name"):
        return
    en = obj.get("name_en")
    if not en and obj.get("stop_id") is not None:
        row = names.position(obj["stop_id"])
        en = names.names_en[row] if row is not None else None
    obj["name_ja"] = obj["name"]
    obj["name"] = en or names.english(obj["name"]) or obj["name"]
