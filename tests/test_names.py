"""One name matcher everywhere: every way of writing a station finds the same one in /v1/stops, /v1/plan and
`maas plan`; typos get suggestions; a feed published while the server runs is searchable at once; Accept-Language
picks the language of names and headsigns."""
from __future__ import annotations

import datetime as dt
import io
import zipfile

import orjson
import pytest

from api.params import language
from api_support import DAY, TOKYO, auth, client_for, services_for, tiny_tables, tiny_transit
from gtfs_builders import to_csv
from maas.publishing.feed_registry import FeedRegistry
from maas.publishing.feed_swap import FeedManager
from routing.names import NameIndex, UnknownPlace, fold_romaji, normalise

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
P = auth("pk-alpha")
WHEN = "2026-12-01T10:00:00+09:00"  # a Tuesday inside the sample's service dates
TOCHOMAE = "toei-subway:P-tochomae"
FORMS = ["都庁前", "とちょうまえ", "トチョウマエ", "Tochōmae", "Tochomae", "Tocho-mae", "tochoumae", "TOCHOMAE",
         "Tocho mae"]


@pytest.fixture
async def client(sample_transit):
    async with client_for(services_for(sample_transit)) as c:
        yield c


def station_of(stop: dict) -> str:
    return stop["parent_station"] or stop["id"]


def test_romaji_spellings_fold_to_one_form():
    assert {fold_romaji(x) for x in ["Tochōmae", "Tochomae", "Tocho-mae", "tochoumae", "TOCHOMAE", "Tocho mae"]} \
        == {"tochomae"}
    assert fold_romaji("Shimbashi") == fold_romaji("Shinbashi") == "shinbashi"
    assert fold_romaji("Ohtemachi") == fold_romaji("Ōtemachi") == "otemachi"
    assert fold_romaji("Chūō") == fold_romaji("chuuou") == "chuo"
    assert normalise("トチョウマエ") == normalise("とちょうまえ") == "とちょうまえ"


def test_generated_kana_when_the_feed_has_none(sample_transit):
    """A model's names carry no kana: the index reads them with pykakasi, so kana and romaji queries still work."""
    model = sample_transit.model_for(dt.date(2026, 12, 1))
    names = NameIndex.from_model(model)
    place = names.resolve("とちょうまえ")
    assert TOCHOMAE in place.station_ids and names.resolve("Tocho-mae").station_ids == place.station_ids
    assert names.names_kana[names.position(TOCHOMAE)] == "とちょうまえ"
    assert names.kana_generated[names.position(TOCHOMAE)]


@pytest.mark.parametrize("q", FORMS)
async def test_every_form_finds_the_station_in_stops(client, q):
    r = await client.get("/v1/stops", params={"q": q}, headers=P)
    assert r.status == 200, await r.text()
    stops = (await r.json())["stops"]
    assert stops and station_of(stops[0]) == TOCHOMAE and stops[0]["type"] == "station"
    assert stops[0]["name"] == "都庁前" and stops[0]["name_kana"] == "とちょうまえ" and stops[0]["match"] == "exact"


async def test_every_form_plans_the_same_trip(client):
    plans = {}
    for q in FORMS + [TOCHOMAE]:
        r = await client.get("/v1/plan", params={"from": q, "to": "大門", "depart_at": WHEN, "num": "2"}, headers=P)
        assert r.status == 200, (q, await r.text())
        plans[q] = (await r.json())["itineraries"]
    first = plans[FORMS[0]]
    assert first and first[0]["legs"][0]["from"]["name"] == "都庁前"
    assert first[0]["legs"][-1]["to"]["name"] == "大門"
    assert all(p == first for q, p in plans.items() if q != TOCHOMAE), "every name form plans the same trip"
    # the id gives the same subway trip (the name also covers the shuttle stop of the same name next door)
    assert plans[TOCHOMAE][0]["legs"][0]["trip_id"] == first[0]["legs"][0]["trip_id"]


async def test_odaiba(client):
    r = await client.get("/v1/stops", params={"q": "odaiba"}, headers=P)
    stops = (await r.json())["stops"]
    assert stops and all("台場" in s["name"] for s in stops) and stops[0]["name"] == "お台場海浜公園駅前"
    r = await client.get("/v1/plan", params={"from": "Tochomae", "to": "odaiba", "depart_at": WHEN}, headers=P)
    assert r.status == 200, await r.text()
    its = (await r.json())["itineraries"]
    assert its and its[0]["legs"][-1]["to"]["name"] == "お台場海浜公園駅前"


async def test_typo_gets_a_suggestion(client):
    r = await client.get("/v1/plan", params={"from": "Tochomea", "to": "大門", "depart_at": WHEN}, headers=P)
    assert r.status == 404
    body = await r.json(content_type=None)
    assert body["field"] == "from" and "did you mean 都庁前 (Tochomae)" in body["detail"]
    assert body["suggestions"][0] == {"id": TOCHOMAE, "name": "都庁前", "name_en": "Tochomae"}
    r = await client.get("/v1/plan", params={"from": "大門", "to": "Shinjku", "depart_at": WHEN}, headers=P)
    body = await r.json(content_type=None)
    assert r.status == 404 and body["field"] == "to" and body["suggestions"][0]["name"] == "新宿"
    # /v1/stops answers near misses when nothing matches literally, marked as such
    stops = (await (await client.get("/v1/stops", params={"q": "Tochomea"}, headers=P)).json())["stops"]
    assert station_of(stops[0]) == TOCHOMAE and stops[0]["match"] == "fuzzy"
    stops = (await (await client.get("/v1/stops", params={"q": "qqqqxz"}, headers=P)).json())["stops"]
    assert stops == []


async def test_ambiguous_name_lists_the_candidates(client):
    r = await client.get("/v1/plan", params={"from": "大門", "to": "一丁目", "depart_at": WHEN}, headers=P)
    body = await r.json(content_type=None)
    assert r.status == 404 and body["field"] == "to" and "ambiguous" in body["detail"]
    assert len({s["name"] for s in body["suggestions"]}) >= 2 and all("一丁目" in s["name"] for s in body["suggestions"])
    # "daiba" is exactly 台場駅前 (Daiba Sta.), not お台場 (Odaiba) that merely contains it
    r = await client.get("/v1/plan", params={"from": "daiba", "to": "大門", "depart_at": WHEN}, headers=P)
    assert r.status == 200 and (await r.json())["itineraries"][0]["legs"][0]["from"]["name"] == "台場駅前"


async def test_accept_language_picks_names_and_headsigns(client):
    q = {"from": "Tochomae", "to": "大門", "depart_at": WHEN, "num": "1"}
    r = await client.get("/v1/plan", params=q, headers={**P, "Accept-Language": "en-GB,en;q=0.9,ja;q=0.5"})
    assert r.headers["Content-Language"] == "en"
    leg = next(leg for leg in (await r.json())["itineraries"][0]["legs"] if leg["mode"] != "WALK")
    assert leg["from"]["name"] == "Tochomae" and leg["from"]["name_ja"] == "都庁前"
    assert leg["headsign_ja"] and leg["headsign"] != leg["headsign_ja"] and leg["headsign"].isascii()
    r = await client.get("/v1/plan", params=q, headers={**P, "Accept-Language": "ja"})
    leg = next(leg for leg in (await r.json())["itineraries"][0]["legs"] if leg["mode"] != "WALK")
    assert leg["from"]["name"] == "都庁前" and "name_ja" not in leg["from"] and not leg["headsign"].isascii()
    stops = (await (await client.get("/v1/stops", params={"q": "とちょうまえ"},
                                     headers={**P, "Accept-Language": "en"})).json())["stops"]
    assert stops[0]["name"] == "Tochomae" and stops[0]["name_ja"] == "都庁前"
    r = await client.get(f"/v1/stops/{TOCHOMAE}/departures", params={"at": WHEN, "limit": "3"},
                         headers={**P, "Accept-Language": "en"})
    deps = (await r.json())["departures"]
    assert deps and all(d["headsign"].isascii() and not d["headsign_ja"].isascii() for d in deps)


@pytest.mark.parametrize("header, lang", [
    (None, "ja"), ("en", "en"), ("ja,en;q=0.8", "ja"), ("en-US,en;q=0.9,ja;q=0.8", "en"), ("fr, de", "ja"),
    ("ja;q=0.1, en;q=0.2", "en"), ("en;q=bogus, ja", "ja"), ("*", "ja"), ("en;q=0", "ja"),
])
def test_accept_language_parsing(header, lang):
    assert language({"Accept-Language": header} if header else {}) == lang


@pytest.mark.parametrize("form", ["とちょうまえ", "Tochōmae", "Tocho-mae"])
def test_cli_plan_resolves_every_form(form, capsys):
    from maas.cli import main

    assert main(["plan", "--from", form, "--to", "daimon", "--depart", WHEN, "--num", "1", "--json"]) == 0
    its = orjson.loads(capsys.readouterr().out)["itineraries"]
    assert its[0]["legs"][0]["from"]["name"] == "都庁前" and its[0]["legs"][-1]["to"]["name"] == "大門"


def test_cli_plan_typo_is_one_line_with_a_suggestion(capsys):
    from maas.cli import main

    assert main(["plan", "--from", "Tochomea", "--to", "大門", "--depart", WHEN]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith(("… ", "✓ "))]
    assert len(err) == 1 and err[0].startswith("maas plan: cannot plan:") and "did you mean 都庁前 (Tochomae)" in err[0]


def _renamed_feed() -> bytes:
    """The tiny feed with its station renamed (a name nobody could find before it is published), running a year
    longer."""
    tables = tiny_tables()
    for row in tables["calendar"]:
        row["end_date"] = "20271231"
    tables["stops"][0]["stop_name"] = "新宿御苑"
    tables["translations"] = [t for t in tables["translations"] if t["record_id"] != "S"] + [
        {"table_name": "stops", "field_name": "stop_name", "language": "en", "translation": "Shinjuku-Gyoen",
         "record_id": "S"}]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, rows in tables.items():
            zf.writestr(f"{name}.txt", to_csv(rows))
    return buf.getvalue()


async def test_published_feed_is_searchable_at_once_and_rollback_forgets_it(tmp_path):
    transit = tiny_transit(tmp_path)
    clock = lambda: dt.datetime.combine(DAY, dt.time(7, 0), TOKYO)  # noqa: E731
    services = services_for(transit, feeds=FeedManager(FeedRegistry(tmp_path / "feeds"), transit, clock=clock))
    plan = {"from": "shinjuku gyoen", "to": "test:C", "depart_at": "2026-11-24T07:50:00+09:00"}
    try:
        async with client_for(services) as client:
            found = lambda q: client.get("/v1/stops", params={"q": q}, headers=P)  # noqa: E731
            assert (await (await found("新宿御苑")).json())["stops"] == []
            assert (await client.post("/v1/feeds/test", data=feed_zip_bytes(), headers=auth("op-test"))).status == 201
            r = await client.post("/v1/feeds/test", data=_renamed_feed(), headers=auth("op-test"))
            assert r.status == 201, await r.text()
            for q in ("新宿御苑", "Shinjuku-Gyoen", "しんじゅくぎょえん"):
                stops = (await (await found(q)).json())["stops"]
                assert [s["id"] for s in stops][:1] == ["test:S"], q
            r = await client.get("/v1/plan", params=plan, headers=P)
            assert r.status == 200 and (await r.json())["itineraries"], await r.text()
            r = await client.get("/v1/plan", params={**plan, "depart_at": "2027-03-02T07:50:00+09:00"}, headers=P)
            assert r.status == 200 and (await r.json())["itineraries"], await r.text()  # the new feed's dates
            r = await client.post("/v1/feeds/test/rollback", headers=auth("op-test"))
            assert r.status == 200, await r.text()
            assert (await (await found("新宿御苑")).json())["stops"] == []
            assert (await client.get("/v1/plan", params=plan, headers=P)).status == 404
    finally:
        transit.close()


def feed_zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, rows in tiny_tables().items():
            zf.writestr(f"{name}.txt", to_csv(rows))
    return buf.getvalue()


def test_unknown_and_ambiguous_raise_with_suggestions(sample_transit):
    names = sample_transit.names
    with pytest.raises(UnknownPlace) as exc:
        names.resolve("Tochomea")
    assert names.ids[exc.value.suggestions[0]] == TOCHOMAE
    with pytest.raises(UnknownPlace, match="unknown place"):
        names.resolve("zzzzqqqq")


def test_cli_plan_in_english(capsys):
    from maas.cli import main

    assert main(["plan", "--from", "都庁前", "--to", "大門", "--depart", WHEN, "--num", "1", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Tochomae → " in out and "都庁前" not in out


def test_readings_of_many_names_come_from_a_child_and_match_this_process():
    """A network's names are read in a child process (pykakasi's table never fills this heap); the readings are
    those `reading` gives here, in the same order, blanks kept blank."""
    from routing import names

    texts = ["都庁前", "", "新宿西口", "大手町", "光が丘", "とちょうまえ", "都庁前"]
    blobs, out = names._child_readings(texts)
    assert blobs and out == [names.reading(t) for t in texts]
    many = [f"{t}{i}" for i, t in enumerate(["都庁前", "大門", "日本橋"] * 70)] + [""]
    assert names.readings(many) == [names.reading(t) for t in many]


def test_kanji_table_entries_are_pykakasis_own():
    """Each entry of the compact kanji table (`_table_blobs` opened as a `_KanwaEntry`) is pykakasi's own entry
    as a mapping: the same words, each with the same readings in the same order (``items()``, ``[]``, ``get``,
    ``in``, ``values()``, length), and nothing else."""
    import pickle

    from pykakasi.kanji import Configurations

    from routing import names

    with open(Configurations.dictpath(Configurations.jisyo_kanwa), "rb") as f:
        table = pickle.load(f)
    compact = names._CompactKanwa(names._table_blobs(), entries=1)
    assert set(compact._blobs) == set(table)
    assert any(c is not None for v in table.values() for r in v.values() for _, c in r)  # contexts are covered
    for key, entry in table.items():
        got = compact.get(key)
        assert isinstance(got, names._KanwaEntry) and len(got) == len(entry)
        items = dict(got.items())
        assert items.keys() == entry.keys() and list(got.values()) == [items[w] for w in got]
        assert all(_pairs(items[w]) == _pairs(v) for w, v in entry.items())
        for w in list(entry)[:: max(1, len(entry) // 50)]:
            assert w in got and _pairs(got[w]) == _pairs(got.get(w)) == _pairs(entry[w])
        for absent in ("", chr(key) + "\x1f", chr(key) + "ゞゞゞ", 7):
            assert absent not in got and got.get(absent) is None
    assert compact.get(0x41) is None and compact.get(0x41, "none") == "none"  # ("A": no entry)


# texts whose readings are easy to get wrong: kana and kanji mixed, long compounds, the one word read with a
# context (色 after そん), variant kanji and variation selectors (itaiji), kanji outside the table, odd widths
TRICKY_TEXTS = [
    "都庁まえ", "新宿ニシ口", "ひばりヶ丘", "霞ケ関", "市ヶ谷", "佐々木", "々", "ヶ", "〆張", "JR新宿駅", "ＪＲ東日本",
    "ｼﾝｼﾞｭｸ駅", "新宿3丁目", "新宿三丁目", "大手町(東京)", "大手町 駅", "品川シーサイド", "東京国際空港第1・第2ターミナル",
    "国立競技場前交差点北", "都営大江戸線都庁前駅A4出口", "東京都千代田区丸の内一丁目九番一号東京駅八重洲中央口バスターミナル",
    "大大大大大", "日日日", "一二三四五六七八九十百千万", "そん色", "そん色ない", "遜色", "色彩", "景色", "色々",
    "そんしょく色", "髙島屋", "山﨑", "葛\U000E0100飾区", "辻\U000E0100堂", "渋\uFE00谷", "𠮷野町", "鿿", "\uE000新宿",
    "とちょうまえ", "トチョウマエ", "Tochomae", "大", "日本橋", "日本橋三越前", "御茶ノ水", "お茶の水", "自由が丘",
]


def _kanji_readings_agree(texts: list[str]) -> None:
    """This process's converter (on the compact table) reads every text as pykakasi does on its own table (in
    the readings child, which keeps pykakasi's dict)."""
    from routing import names

    texts = list(dict.fromkeys(texts))
    kakasi = names._kakasi()
    assert names._installed_table() is not None  # (the compact table is what is compared)
    got = []
    for t in texts:  # the converter itself: not `reading`'s cache nor the readings a child made
        parts = kakasi.convert(t)
        got.append(("".join(p["hira"] for p in parts), "".join(p["hepburn"] for p in parts)) if t else ("", ""))
    child = names._child_readings(texts)
    assert child is not None
    assert [t for t, a, b in zip(texts, got, child[1]) if a != b] == []


def test_kanji_readings_of_the_sample_and_tricky_texts_are_pykakasis_own(sample_transit):
    index = sample_transit.names
    _kanji_readings_agree(list(index.names) + list(index.names_kana) + TRICKY_TEXTS)


def test_kanji_readings_of_real_stop_names_are_pykakasis_own(shared_data):
    """Every stop name of the real Japanese feeds in ../shared/data (skipped when absent)."""
    import csv

    texts = []
    for name in ("toei-bus-gtfs-no-stop-times.zip", "tokyo-rail-gtfs.zip", "tokyo-metro-gtfs.zip",
                 "toei-rail-gtfs.zip", "toei-train-official-gtfs.zip", "chiibus-minato-gtfs.zip"):
        if (shared_data / name).exists():
            with zipfile.ZipFile(shared_data / name) as zf:
                rows = csv.DictReader(io.TextIOWrapper(zf.open("stops.txt"), "utf-8-sig"))
                texts += [r["stop_name"] for r in rows]
    if not texts:
        pytest.skip(f"no Japanese feed in {shared_data}")
    assert len(set(texts)) > 1000
    _kanji_readings_agree(texts)


def _pairs(readings: list) -> list[tuple]:
    """(reading, context) pairs, a context list as a tuple (``in`` tests it alike)."""
    return [(y, c if c is None or isinstance(c, str) else tuple(c)) for y, c in readings]


def test_literal_tiers_and_fuzzy_rows_come_from_every_rows_keys(sample_transit):
    """The index keeps a row's keys only in its joined haystack and each distinct key's rows as one array: a
    literal query's tier for each row is what the row's keys give (exact key, a key's prefix, inside a key), and
    a distinct key's rows are every row with that key, ascending."""
    import pickle

    from routing.names import EXACT, PREFIX, SUBSTRING, _english_keys, _japanese_keys

    ix = pickle.loads(pickle.dumps(sample_transit.names))  # (as a server gets it from the loading child)
    keys = [list(dict.fromkeys(_japanese_keys(n, k) + [x for x in _english_keys(e) + [fold_romaji(r)] if x]))
            for n, e, k, r in zip(ix.names, ix.names_en, ix.names_kana, ix.romaji)]
    assert not hasattr(ix, "_keys")
    queries = sorted({q for ks in keys for k in ks for q in (k, k[:2], k[1:4], k[-3:]) if q})
    assert len(queries) > 50
    for q in queries:
        want = {}
        for i, ks in enumerate(keys):
            tier = EXACT if q in ks else PREFIX if any(k.startswith(q) for k in ks) else \
                SUBSTRING if any(q in k for k in ks) else None
            if tier is not None:
                want[i] = tier
        assert ix._literal([q]) == want, q
    for script, distinct in ix._fuzzy_keys.items():
        assert len(ix._fuzzy_rows[script]) == len(distinct)
        for j, k in enumerate(distinct):
            assert ix._fuzzy_rows[script][j] == [i for i, ks in enumerate(keys) if k in ks]
