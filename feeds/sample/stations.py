"""Facts for the built-in Tokyo sample: real station names, numbers and coordinates, typed in as data.

Subway names, numbers (stop_code) and coordinates are those of Toei's official GTFS (ODPT, CC BY 4.0); bus stop poles,
names, kana and coordinates are those of Toei Bus's GTFS-JP stops.txt/translations.txt, and each bus route's stop list
follows the real route: the stops along its published shape, taking the pole on the left of the road (Japan drives on
the left) for each direction. Shuttle stops are real places near transit, placed by us.
No timetable comes from any source: `feeds/sample/generate.py` builds every trip from the headways declared here.
出典：東京都交通局・公共交通オープンデータ協議会 (Source: Tokyo Metropolitan Bureau of Transportation / ODPT).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Station:
    """One subway platform stop; ``code`` is the station number (A-01 …), also used as the raw stop_id."""

    code: str
    name: str
    name_en: str
    name_kana: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Headways:
    """Minutes between departures: weekday peak (07:00–09:30, 17:00–20:00), weekday off-peak, early/late
    shoulders, and the weekend/holiday service; ``first``/``last`` are the first and last departures (HH:MM, may be
    ≥ 24:00) from each terminus."""

    peak: int
    offpeak: int
    shoulder: int
    weekend: int
    first: str
    last: str


@dataclass(frozen=True)
class SubwayLine:
    route_id: str
    letter: str
    name: str
    name_en: str
    name_kana: str
    color: str
    text_color: str
    speed_kmh: float  # average speed including dwell, used to derive run times from distance
    headways: Headways
    stations: tuple[Station, ...]


@dataclass(frozen=True)
class BusStop:
    """One bus pole (raw stop_id = Toei Bus pole id ``NNNN-PP``; parent station ``NNNN``)."""

    pole_id: str
    name: str
    name_en: str
    name_kana: str
    lat: float
    lon: float


@dataclass(frozen=True)
class BusRoute:
    route_id: str
    short_name: str
    name: str
    name_en: str
    color: str
    text_color: str
    headways: Headways
    outbound: tuple[str, ...]  # pole ids in calling order, direction 0
    inbound: tuple[str, ...]  # direction 1


@dataclass(frozen=True)
class ShuttleStop:
    stop_id: str
    name: str
    name_en: str
    name_kana: str
    lat: float
    lon: float
    parent: str = ""  # parent station id, when two bays form one place (loop start and end)


@dataclass(frozen=True)
class ShuttleService:
    """An autonomous shuttle operator: one route, seats to be booked ``notice_min`` minutes ahead."""

    namespace: str
    agency_id: str
    agency_name: str
    agency_name_en: str
    agency_url: str
    route_id: str
    short_name: str
    name: str
    name_en: str
    color: str
    text_color: str
    seat_capacity: int
    speed_kmh: float
    dwell_s: int
    weekday_headway: int
    weekend_headway: int
    first: str
    last: str
    notice_min: int
    notice_max: int
    loop: bool  # True: one direction, first and last bays share a parent; False: both directions
    stops: tuple[ShuttleStop, ...]
    parents: tuple[ShuttleStop, ...] = ()


# Stations whose sample record says "no step-free access" (wheelchair_boarding 2). Illustrative only, so that
# step-free routing has something to avoid; today every Toei station has at least one lift.
NO_STEP_FREE: frozenset[str] = frozenset({"A-19", "I-22", "S-03", "E-04"})

SUBWAY_LINES: tuple[SubwayLine, ...] = (
    SubwayLine("A", "A", "浅草線", "Asakusa Line", "あさくさせん", "E85298", "FFFFFF", 35.0,
               Headways(peak=3, offpeak=6, shoulder=8, weekend=7, first="05:00", last="24:20"), (
        Station("A-01", "西馬込", "Nishi-magome", "にしまごめ", 35.587050, 139.706086),
        Station("A-02", "馬込", "Magome", "まごめ", 35.596773, 139.711884),
        Station("A-03", "中延", "Nakanobu", "なかのぶ", 35.605274, 139.713645),
        Station("A-04", "戸越", "Togoshi", "とごし", 35.614421, 139.716315),
        Station("A-05", "五反田", "Gotanda", "ごたんだ", 35.626878, 139.723965),
        Station("A-06", "高輪台", "Takanawadai", "たかなわだい", 35.631751, 139.730384),
        Station("A-07", "泉岳寺", "Sengakuji", "せんがくじ", 35.638715, 139.739993),
        Station("A-08", "三田", "Mita", "みた", 35.646749, 139.746877),
        Station("A-09", "大門", "Daimon", "だいもん", 35.656870, 139.754679),
        Station("A-10", "新橋", "Shimbashi", "しんばし", 35.665386, 139.759338),
        Station("A-11", "東銀座", "Higashi-ginza", "ひがしぎんざ", 35.669915, 139.767350),
        Station("A-12", "宝町", "Takaracho", "たからちょう", 35.675606, 139.771966),
        Station("A-13", "日本橋", "Nihombashi", "にほんばし", 35.681796, 139.775814),
        Station("A-14", "人形町", "Ningyocho", "にんぎょうちょう", 35.686345, 139.782276),
        Station("A-15", "東日本橋", "Higashi-nihombashi", "ひがしにほんばし", 35.692123, 139.784886),
        Station("A-16", "浅草橋", "Asakusabashi", "あさくさばし", 35.697494, 139.786335),
        Station("A-17", "蔵前", "Kuramae", "くらまえ", 35.703128, 139.790858),
        Station("A-18", "浅草", "Asakusa", "あさくさ", 35.708920, 139.796542),
        Station("A-19", "本所吾妻橋", "Honjo-azumabashi", "ほんじょあづまばし", 35.708565, 139.804397),
        Station("A-20", "押上", "Oshiage", "おしあげ", 35.710824, 139.812993),
    )),
    SubwayLine("I", "I", "三田線", "Mita Line", "みたせん", "0079C2", "FFFFFF", 35.0,
               Headways(peak=4, offpeak=6, shoulder=8, weekend=7, first="05:05", last="24:15"), (
        Station("I-01", "目黒", "Meguro", "めぐろ", 35.633635, 139.715444),
        Station("I-02", "白金台", "Shirokanedai", "しろかねだい", 35.637851, 139.726007),
        Station("I-03", "白金高輪", "Shirokane-takanawa", "しろかねたかなわ", 35.643283, 139.734344),
        Station("I-04", "三田", "Mita", "みた", 35.648650, 139.748998),
        Station("I-05", "芝公園", "Shibakoen", "しばこうえん", 35.654186, 139.749850),
        Station("I-06", "御成門", "Onarimon", "おなりもん", 35.660774, 139.751366),
        Station("I-07", "内幸町", "Uchisaiwaicho", "うちさいわいちょう", 35.669344, 139.755330),
        Station("I-08", "日比谷", "Hibiya", "ひびや", 35.676585, 139.760274),
        Station("I-09", "大手町", "Otemachi", "おおてまち", 35.684093, 139.762798),
        Station("I-10", "神保町", "Jimbocho", "じんぼうちょう", 35.695331, 139.758213),
        Station("I-11", "水道橋", "Suidobashi", "すいどうばし", 35.703460, 139.755147),
        Station("I-12", "春日", "Kasuga", "かすが", 35.709532, 139.753287),
        Station("I-13", "白山", "Hakusan", "はくさん", 35.721682, 139.752134),
        Station("I-14", "千石", "Sengoku", "せんごく", 35.727772, 139.744984),
        Station("I-15", "巣鴨", "Sugamo", "すがも", 35.733793, 139.738154),
        Station("I-16", "西巣鴨", "Nishi-sugamo", "にしすがも", 35.743568, 139.728703),
        Station("I-17", "新板橋", "Shin-itabashi", "しんいたばし", 35.748772, 139.719808),
        Station("I-18", "板橋区役所前", "Itabashi-kuyakushomae", "いたばしくやくしょまえ", 35.751372, 139.710120),
        Station("I-19", "板橋本町", "Itabashihoncho", "いたばしほんちょう", 35.761309, 139.705544),
        Station("I-20", "本蓮沼", "Motohasunuma", "もとはすぬま", 35.768566, 139.702410),
        Station("I-21", "志村坂上", "Shimura-sakaue", "しむらさかうえ", 35.776082, 139.695097),
        Station("I-22", "志村三丁目", "Shimura-sanchome", "しむらさんちょうめ", 35.777468, 139.685751),
        Station("I-23", "蓮根", "Hasune", "はすね", 35.784262, 139.678947),
        Station("I-24", "西台", "Nishidai", "にしだい", 35.787074, 139.672867),
        Station("I-25", "高島平", "Takashimadaira", "たかしまだいら", 35.788908, 139.661361),
        Station("I-26", "新高島平", "Shin-takashimadaira", "しんたかしまだいら", 35.790289, 139.654050),
        Station("I-27", "西高島平", "Nishi-takashimadaira", "にしたかしまだいら", 35.791965, 139.645421),
    )),
    SubwayLine("S", "S", "新宿線", "Shinjuku Line", "しんじゅくせん", "6CBB5A", "FFFFFF", 36.0,
               Headways(peak=4, offpeak=7, shoulder=9, weekend=8, first="05:02", last="24:10"), (
        Station("S-01", "新宿", "Shinjuku", "しんじゅく", 35.688433, 139.698418),
        Station("S-02", "新宿三丁目", "Shinjuku-sanchome", "しんじゅくさんちょうめ", 35.691016, 139.706794),
        Station("S-03", "曙橋", "Akebonobashi", "あけぼのばし", 35.692402, 139.722317),
        Station("S-04", "市ヶ谷", "Ichigaya", "いちがや", 35.691530, 139.737588),
        Station("S-05", "九段下", "Kudanshita", "くだんした", 35.695546, 139.751738),
        Station("S-06", "神保町", "Jimbocho", "じんぼうちょう", 35.695972, 139.757981),
        Station("S-07", "小川町", "Ogawamachi", "おがわまち", 35.695005, 139.766449),
        Station("S-08", "岩本町", "Iwamotocho", "いわもとちょう", 35.695607, 139.775115),
        Station("S-09", "馬喰横山", "Bakuro-yokoyama", "ばくろよこやま", 35.691930, 139.783006),
        Station("S-10", "浜町", "Hamacho", "はまちょう", 35.688601, 139.787725),
        Station("S-11", "森下", "Morishita", "もりした", 35.687982, 139.796623),
        Station("S-12", "菊川", "Kikukawa", "きくかわ", 35.688399, 139.806057),
        Station("S-13", "住吉", "Sumiyoshi", "すみよし", 35.689040, 139.815723),
        Station("S-14", "西大島", "Nishi-ojima", "にしおおじま", 35.689391, 139.826231),
        Station("S-15", "大島", "Ojima", "おおじま", 35.689752, 139.834705),
        Station("S-16", "東大島", "Higashi-ojima", "ひがしおおじま", 35.689959, 139.847255),
        Station("S-17", "船堀", "Funabori", "ふなぼり", 35.683760, 139.863955),
        Station("S-18", "一之江", "Ichinoe", "いちのえ", 35.685987, 139.882586),
        Station("S-19", "瑞江", "Mizue", "みずえ", 35.693510, 139.897700),
        Station("S-20", "篠崎", "Shinozaki", "しのざき", 35.706022, 139.903796),
        Station("S-21", "本八幡", "Motoyawata", "もとやわた", 35.722819, 139.926613),
    )),
    SubwayLine("E", "E", "大江戸線", "Oedo Line", "おおえどせん", "B6007A", "FFFFFF", 33.0,
               Headways(peak=4, offpeak=7, shoulder=9, weekend=8, first="05:00", last="23:45"), (
        Station("E-01", "新宿西口", "Shinjuku-nishiguchi", "しんじゅくにしぐち", 35.693367, 139.699121),
        Station("E-02", "東新宿", "Higashi-shinjuku", "ひがししんじゅく", 35.697957, 139.707434),
        Station("E-03", "若松河田", "Wakamatsu-kawada", "わかまつかわだ", 35.699188, 139.718043),
        Station("E-04", "牛込柳町", "Ushigome-yanagicho", "うしごめやなぎちょう", 35.699501, 139.725040),
        Station("E-05", "牛込神楽坂", "Ushigome-kagurazaka", "うしごめかぐらざか", 35.700911, 139.735894),
        Station("E-06", "飯田橋", "Iidabashi", "いいだばし", 35.702952, 139.745257),
        Station("E-07", "春日", "Kasuga", "かすが", 35.708493, 139.752487),
        Station("E-08", "本郷三丁目", "Hongo-sanchome", "ほんごうさんちょうめ", 35.707510, 139.760524),
        Station("E-09", "上野御徒町", "Ueno-okachimachi", "うえのおかちまち", 35.707949, 139.773351),
        Station("E-10", "新御徒町", "Shin-okachimachi", "しんおかちまち", 35.707009, 139.782166),
        Station("E-11", "蔵前", "Kuramae", "くらまえ", 35.705587, 139.792244),
        Station("E-12", "両国", "Ryogoku", "りょうごく", 35.696807, 139.797469),
        Station("E-13", "森下", "Morishita", "もりした", 35.687926, 139.798251),
        Station("E-14", "清澄白河", "Kiyosumi-shirakawa", "きよすみしらかわ", 35.682355, 139.798758),
        Station("E-15", "門前仲町", "Monzen-nakacho", "もんぜんなかちょう", 35.672772, 139.795124),
        Station("E-16", "月島", "Tsukishima", "つきしま", 35.663757, 139.783912),
        Station("E-17", "勝どき", "Kachidoki", "かちどき", 35.658934, 139.777138),
        Station("E-18", "築地市場", "Tsukijishijo", "つきじしじょう", 35.664919, 139.766929),
        Station("E-19", "汐留", "Shiodome", "しおどめ", 35.663193, 139.760225),
        Station("E-20", "大門", "Daimon", "だいもん", 35.656671, 139.755696),
        Station("E-21", "赤羽橋", "Akabanebashi", "あかばねばし", 35.654985, 139.743989),
        Station("E-22", "麻布十番", "Azabu-juban", "あざぶじゅうばん", 35.656448, 139.736330),
        Station("E-23", "六本木", "Roppongi", "ろっぽんぎ", 35.664106, 139.731354),
        Station("E-24", "青山一丁目", "Aoyama-itchome", "あおやまいっちょうめ", 35.673067, 139.723925),
        Station("E-25", "国立競技場", "Kokuritsu-kyogijo", "こくりつきょうぎじょう", 35.679896, 139.714667),
        Station("E-26", "代々木", "Yoyogi", "よよぎ", 35.683505, 139.701603),
        Station("E-27", "新宿", "Shinjuku", "しんじゅく", 35.688462, 139.699019),
        Station("E-28", "都庁前", "Tochomae", "とちょうまえ", 35.690607, 139.692677),
        Station("E-29", "西新宿五丁目", "Nishi-shinjuku-gochome", "にししんじゅくごちょうめ", 35.689892, 139.684545),
        Station("E-30", "中野坂上", "Nakano-sakaue", "なかのさかうえ", 35.697887, 139.682899),
        Station("E-31", "東中野", "Higashi-nakano", "ひがしなかの", 35.707160, 139.683112),
        Station("E-32", "中井", "Nakai", "なかい", 35.713935, 139.686296),
        Station("E-33", "落合南長崎", "Ochiai-minami-nagasaki", "おちあいみなみながさき", 35.723435, 139.683389),
        Station("E-34", "新江古田", "Shin-egota", "しんえごた", 35.732579, 139.670498),
        Station("E-35", "練馬", "Nerima", "ねりま", 35.737411, 139.654762),
        Station("E-36", "豊島園", "Toshimaen", "としまえん", 35.741711, 139.649116),
        Station("E-37", "練馬春日町", "Nerima-kasugacho", "ねりまかすがちょう", 35.751410, 139.640300),
        Station("E-38", "光が丘", "Hikarigaoka", "ひかりがおか", 35.758527, 139.628901),
    )),
)

# The Oedo line is a "6": Hikarigaoka … Tochomae (E-28), then the loop E-01 … E-27 back to Tochomae. A loop trip calls
# at Tochomae twice, on two platforms under one parent.
OEDO_LOOP_JUNCTION = "E-28"

BUS_STOPS: tuple[BusStop, ...] = (
    BusStop("0005-01", "渋谷三丁目", "Shibuya-Sanchōme (Shibuya 3)", "しぶやさんちょうめ", 35.658472, 139.707404),
    BusStop("0005-02", "渋谷三丁目", "Shibuya-Sanchōme (Shibuya 3)", "しぶやさんちょうめ", 35.658075, 139.707523),
    BusStop("0007-01", "青山学院中等部前", "Aoyamagakuin-Chūtōbu", "あおやまがくいんちゅうとうぶまえ", 35.658995, 139.713843),
    BusStop("0007-02", "青山学院中等部前", "Aoyamagakuin-Chūtōbu", "あおやまがくいんちゅうとうぶまえ", 35.658706, 139.71349),
    BusStop("0016-02", "赤坂アークヒルズ前", "Akasaka Ark Hills", "あかさかあーくひるずまえ", 35.667871, 139.740116),
    BusStop("0016-03", "赤坂アークヒルズ前", "Akasaka Ark Hills", "あかさかあーくひるずまえ", 35.668011, 139.739665),
    BusStop("0074-01", "有明テニスの森", "Ariake Tennis No-Mori", "ありあけてにすのもり", 35.63613, 139.786652),
    BusStop("0074-02", "有明テニスの森", "Ariake Tennis No-Mori", "ありあけてにすのもり", 35.636646, 139.788025),
    BusStop("0075-01", "有明小中学校前", "Ariake-Shō-Chū-Gakkō", "ありあけしょうちゅうがっこうまえ", 35.641376, 139.795584),
    BusStop("0075-02", "有明小中学校前", "Ariake-Shō-Chū-Gakkō", "ありあけしょうちゅうがっこうまえ", 35.641035, 139.795542),
    BusStop("0075-03", "有明小中学校前", "Ariake-Shō-Chū-Gakkō", "ありあけしょうちゅうがっこうまえ", 35.641031, 139.794491),
    BusStop("0075-04", "有明小中学校前", "Ariake-Shō-Chū-Gakkō", "ありあけしょうちゅうがっこうまえ", 35.64242, 139.793841),
    BusStop("0077-01", "有明二丁目", "Ariake-Nichōme (Ariake 2)", "ありあけにちょうめ", 35.639442, 139.792794),
    BusStop("0077-02", "有明二丁目", "Ariake-Nichōme (Ariake 2)", "ありあけにちょうめ", 35.638672, 139.791799),
    BusStop("0099-03", "市ヶ谷駅前", "Ichigaya Sta.", "いちがやえきまえ", 35.69053, 139.735804),
    BusStop("0099-04", "市ヶ谷駅前", "Ichigaya Sta.", "いちがやえきまえ", 35.690279, 139.73558),
    BusStop("0101-01", "市谷田町", "Ichigaya-Tamachi", "いちがやたまち", 35.695185, 139.736687),
    BusStop("0101-02", "市谷田町", "Ichigaya-Tamachi", "いちがやたまち", 35.694793, 139.736992),
    BusStop("0138-01", "牛込北町", "Ushigome-Kitamachi", "うしごめきたまち", 35.699541, 139.732428),
    BusStop("0138-02", "牛込北町", "Ushigome-Kitamachi", "うしごめきたまち", 35.699685, 139.732508),
    BusStop("0141-01", "牛込柳町駅前", "Ushigome-Yanagichō Sta.", "うしごめやなぎちょうえきまえ", 35.699545, 139.725209),
    BusStop("0141-04", "牛込柳町駅前", "Ushigome-Yanagichō Sta.", "うしごめやなぎちょうえきまえ", 35.699324, 139.726735),
    BusStop("0144-02", "内幸町", "Uchisaiwaichō", "うちさいわいちょう", 35.670834, 139.755351),
    BusStop("0144-03", "内幸町", "Uchisaiwaichō", "うちさいわいちょう", 35.669778, 139.755797),
    BusStop("0166-01", "枝川", "Edagawa", "えだがわ", 35.657926, 139.80133),
    BusStop("0166-03", "枝川", "Edagawa", "えだがわ", 35.657765, 139.801598),
    BusStop("0170-01", "越中島", "Etchūjima", "えっちゅうじま", 35.669547, 139.791413),
    BusStop("0170-02", "越中島", "Etchūjima", "えっちゅうじま", 35.66872, 139.791853),
    BusStop("0225-01", "大久保駅前", "Ōkubo Sta.", "おおくぼえきまえ", 35.701833, 139.696261),
    BusStop("0225-02", "大久保駅前", "Ōkubo Sta.", "おおくぼえきまえ", 35.701695, 139.69632),
    BusStop("0226-03", "大久保通り", "Ōkubo-Dōri", "おおくぼどおり", 35.701029, 139.706914),
    BusStop("0226-04", "大久保通り", "Ōkubo-Dōri", "おおくぼどおり", 35.700722, 139.709293),
    BusStop("0227-01", "東新宿駅前", "Higashi-Shinjuku Sta.", "ひがししんじゅくえきまえ", 35.697191, 139.707198),
    BusStop("0227-02", "東新宿駅前", "Higashi-Shinjuku Sta.", "ひがししんじゅくえきまえ", 35.697287, 139.707518),
    BusStop("0228-01", "大久保二丁目", "Ōkubo-Nichōme (Ōkubo 2)", "おおくぼにちょうめ", 35.701104, 139.704755),
    BusStop("0228-02", "大久保二丁目", "Ōkubo-Nichōme (Ōkubo 2)", "おおくぼにちょうめ", 35.701215, 139.704627),
    BusStop("0302-01", "東京国際クルーズターミナル駅前", "Tokyo International Cruise Terminal Sta.",
            "とうきょうこくさいくるーずたーみなるえきまえ", 35.622328, 139.772184),
    BusStop("0302-02", "東京国際クルーズターミナル駅前", "Tokyo International Cruise Terminal Sta.",
            "とうきょうこくさいくるーずたーみなるえきまえ", 35.621659, 139.773058),
    BusStop("0320-01", "霞が関", "Kasumigaseki", "かすみがせき", 35.673899, 139.748669),
    BusStop("0320-02", "霞が関", "Kasumigaseki", "かすみがせき", 35.673081, 139.749873),
    BusStop("0325-01", "勝どき橋南詰", "Kachidokibashi-Minamizume", "かちどきばしみなみづめ", 35.660462, 139.776323),
    BusStop("0325-02", "勝どき橋南詰", "Kachidokibashi-Minamizume", "かちどきばしみなみづめ", 35.660615, 139.776576),
    BusStop("0326-02", "勝どき駅前", "Kachidoki Sta.", "かちどきえきまえ", 35.658684, 139.778522),
    BusStop("0326-03", "勝どき駅前", "Kachidoki Sta.", "かちどきえきまえ", 35.658639, 139.77817),
    BusStop("0334-01", "歌舞伎町", "Kabukichō", "かぶきちょう", 35.693474, 139.702547),
    BusStop("0334-03", "歌舞伎町", "Kabukichō", "かぶきちょう", 35.693269, 139.701917),
    BusStop("0379-01", "河田町", "Kawadachō", "かわだちょう", 35.699235, 139.717968),
    BusStop("0379-02", "河田町", "Kawadachō", "かわだちょう", 35.69906, 139.717954),
    BusStop("0448-05", "銀座四丁目", "Ginza-Yonchōme (Ginza 4)", "ぎんざよんちょうめ", 35.670244, 139.766461),
    BusStop("0448-07", "銀座四丁目", "Ginza-Yonchōme (Ginza 4)", "ぎんざよんちょうめ", 35.670568, 139.76569),
    BusStop("0456-01", "東新宿保健センター前", "Higashi-Shinjuku-Hoken Center (Higashi-Shinjuku Health Center)",
            "ひがししんじゅくほけんせんたーまえ", 35.697584, 139.709838),
    BusStop("0456-02", "東新宿保健センター前", "Higashi-Shinjuku-Hoken Center (Higashi-Shinjuku Health Center)",
            "ひがししんじゅくほけんせんたーまえ", 35.697785, 139.709882),
    BusStop("0469-01", "お台場海浜公園駅前", "Odaiba-Kaihin-Kōen Sta. (Odaiba Marine Park Sta.)",
            "おだいばかいひんこうえんえきまえ", 35.629583, 139.777906),
    BusStop("0469-02", "お台場海浜公園駅前", "Odaiba-Kaihin-Kōen Sta. (Odaiba Marine Park Sta.)",
            "おだいばかいひんこうえんえきまえ", 35.629504, 139.778365),
    BusStop("0488-01", "麹町四丁目", "Kōjimachi-Yonchōme (Kōjimachi 4)", "こうじまちよんちょうめ", 35.683526, 139.738223),
    BusStop("0488-04", "麹町四丁目", "Kōjimachi-Yonchōme (Kōjimachi 4)", "こうじまちよんちょうめ", 35.683279, 139.738142),
    BusStop("0518-01", "戸山町", "Toyamachō", "とやまちょう", 35.701022, 139.71871),
    BusStop("0518-02", "戸山町", "Toyamachō", "とやまちょう", 35.701165, 139.717788),
    BusStop("0531-01", "国会議事堂前", "Kokkai-Gijidō(The National Diet)", "こっかいぎじどうまえ", 35.677804, 139.744603),
    BusStop("0531-02", "国会議事堂前", "Kokkai-Gijidō(The National Diet)", "こっかいぎじどうまえ", 35.677516, 139.744067),
    BusStop("0593-01", "塩浜一丁目", "Shiohama-Itchōme (Shiohama 1)", "しおはまいっちょうめ", 35.659863, 139.800661),
    BusStop("0593-02", "塩浜一丁目", "Shiohama-Itchōme (Shiohama 1)", "しおはまいっちょうめ", 35.660187, 139.800794),
    BusStop("0619-01", "深川五中前", "Fukagawa-Gochū", "ふかがわごちゅうまえ", 35.652375, 139.798395),
    BusStop("0619-02", "深川五中前", "Fukagawa-Gochū", "ふかがわごちゅうまえ", 35.652672, 139.798675),
    BusStop("0620-01", "東雲都橋", "Shinonome-Miyakobashi", "しののめみやこばし", 35.645517, 139.799854),
    BusStop("0620-02", "東雲都橋", "Shinonome-Miyakobashi", "しののめみやこばし", 35.645321, 139.799814),
    BusStop("0621-01", "東雲橋交差点", "Shinonomebashi-Kōsaten", "しののめばしこうさてん", 35.649201, 139.801593),
    BusStop("0621-04", "東雲橋交差点", "Shinonomebashi-Kōsaten", "しののめばしこうさてん", 35.649075, 139.801294),
    BusStop("0622-01", "東雲一丁目", "Shinonome-Itchōme (Shinonome 1)", "しののめいっちょうめ", 35.646797, 139.801586),
    BusStop("0622-02", "東雲一丁目", "Shinonome-Itchōme (Shinonome 1)", "しののめいっちょうめ", 35.647065, 139.801908),
    BusStop("0636-06", "渋谷駅前", "Shibuya Sta.", "しぶやえきまえ", 35.658807, 139.702378),
    BusStop("0636-08", "渋谷駅前", "Shibuya Sta.", "しぶやえきまえ", 35.658527, 139.702601),
    BusStop("0684-01", "新大久保駅前", "Shin-Ōkubo Sta.", "しんおおくぼえきまえ", 35.701574, 139.699583),
    BusStop("0684-02", "新大久保駅前", "Shin-Ōkubo Sta.", "しんおおくぼえきまえ", 35.701452, 139.69975),
    BusStop("0702-01", "新宿駅西口", "Shinjuku Sta. Nishiguchi (West Exit)", "しんじゅくえきにしぐち", 35.692568, 139.697999),
    BusStop("0702-03", "新宿駅西口", "Shinjuku Sta. Nishiguchi (West Exit)", "しんじゅくえきにしぐち", 35.692197, 139.698934),
    BusStop("0715-01", "新宿五丁目", "Shinjuku-Gochōme (Shinjuku 5)", "しんじゅくごちょうめ", 35.692821, 139.70492),
    BusStop("0715-02", "新宿五丁目", "Shinjuku-Gochōme (Shinjuku 5)", "しんじゅくごちょうめ", 35.69274, 139.704155),
    BusStop("0722-01", "日清食品前", "Nisshin-Shokuhin", "にっしんしょくひんまえ", 35.69566, 139.706831),
    BusStop("0722-02", "日清食品前", "Nisshin-Shokuhin", "にっしんしょくひんまえ", 35.695465, 139.707145),
    BusStop("0736-01", "新橋", "Shimbashi", "しんばし", 35.666933, 139.758461),
    BusStop("0736-03", "新橋", "Shimbashi", "しんばし", 35.667301, 139.759074),
    BusStop("0737-01", "新橋駅前", "Shimbashi Sta.", "しんばしえきまえ", 35.666884, 139.758506),
    BusStop("0737-03", "新橋駅前", "Shimbashi Sta.", "しんばしえきまえ", 35.667094, 139.758467),
    BusStop("0737-04", "新橋駅前", "Shimbashi Sta.", "しんばしえきまえ", 35.666223, 139.759293),
    BusStop("0778-03", "数寄屋橋", "Sukiyabashi", "すきやばし", 35.673234, 139.762412),
    BusStop("0778-04", "数寄屋橋", "Sukiyabashi", "すきやばし", 35.672744, 139.762572),
    BusStop("0909-01", "溜池", "Tameike", "ためいけ", 35.670135, 139.742279),
    BusStop("0909-02", "溜池", "Tameike", "ためいけ", 35.670302, 139.741954),
    BusStop("0935-03", "経済産業省前", "Keizaisangyō-Shō", "けいざいさんぎょうしょうまえ", 35.672624, 139.751837),
    BusStop("0935-04", "経済産業省前", "Keizaisangyō-Shō", "けいざいさんぎょうしょうまえ", 35.672197, 139.752017),
    BusStop("0939-01", "築地", "Tsukiji", "つきじ", 35.667865, 139.769295),
    BusStop("0939-02", "築地", "Tsukiji", "つきじ", 35.667885, 139.768853),
    BusStop("0945-01", "築地三丁目", "Tsukiji-Sanchōme (Tsukiji 3)", "つきじさんちょうめ", 35.666983, 139.77036),
    BusStop("0945-02", "築地三丁目", "Tsukiji-Sanchōme (Tsukiji 3)", "つきじさんちょうめ", 35.666857, 139.770098),
    BusStop("0946-01", "築地六丁目", "Tsukiji-Rokuchōme (Tsukiji 6)", "つきじろくちょうめ", 35.664928, 139.772052),
    BusStop("0946-02", "築地六丁目", "Tsukiji-Rokuchōme (Tsukiji 6)", "つきじろくちょうめ", 35.664239, 139.773148),
    BusStop("0966-05", "東京駅丸の内南口", "Tokyo Sta. Marunouchi-Minamiguchi (Marunouchi South Exit)",
            "とうきょうえきまるのうちみなみぐち", 35.680679, 139.76482),
    BusStop("0969-01", "東京海洋大学越中島校舎前", "Tokyo Kaiyō-Daigaku-Etchūjima-Kōsha (Tokyo Univ. Of Marine Science and Technology)",
            "とうきょうかいようだいがくえっちゅうじまこうしゃまえ", 35.667384, 139.79347),
    BusStop("0969-02", "東京海洋大学越中島校舎前", "Tokyo Kaiyō-Daigaku-Etchūjima-Kōsha (Tokyo Univ. Of Marine Science and Technology)",
            "とうきょうかいようだいがくえっちゅうじまこうしゃまえ", 35.667284, 139.793328),
    BusStop("0971-01", "東京女子医大前", "Tokyo Joshi-Idai (Tokyo Women's Medical Univ.)",
            "とうきょうじょしいだいまえ", 35.697518, 139.71974),
    BusStop("0971-02", "東京女子医大前", "Tokyo Joshi-Idai (Tokyo Women's Medical Univ.)",
            "とうきょうじょしいだいまえ", 35.697418, 139.719907),
    BusStop("0996-01", "都営戸山ハイツ前", "Toei-Toyama Heights", "とえいとやまはいつまえ", 35.700885, 139.70995),
    BusStop("1008-01", "東京国際フォーラム前", "Tokyo Kokusai Forum (Tokyo International Forum)",
            "とうきょうこくさいふぉーらむまえ", 35.678493, 139.763491),
    BusStop("1008-03", "東京国際フォーラム前", "Tokyo Kokusai Forum (Tokyo International Forum)",
            "とうきょうこくさいふぉーらむまえ", 35.677469, 139.763346),
    BusStop("1019-01", "国立国際医療センター前", "Kokuritsu-Kokusai-Iryō-Kenkyū Center (National Center for Global Health and Medicine)",
            "こくりつこくさいいりょうせんたーまえ", 35.701257, 139.715769),
    BusStop("1019-02", "国立国際医療センター前", "Kokuritsu-Kokusai-Iryō-Kenkyū Center (National Center for Global Health and Medicine)",
            "こくりつこくさいいりょうせんたーまえ", 35.701201, 139.715482),
    BusStop("1021-01", "豊洲四丁目", "Toyosu-Yonchōme (Toyosu 4)", "とよすよんちょうめ", 35.656019, 139.798442),
    BusStop("1021-02", "豊洲四丁目", "Toyosu-Yonchōme (Toyosu 4)", "とよすよんちょうめ", 35.655633, 139.798407),
    BusStop("1025-07", "豊洲駅前", "Toyosu Sta.", "とよすえきまえ", 35.655265, 139.797318),
    BusStop("1025-10", "豊洲駅前", "Toyosu Sta.", "とよすえきまえ", 35.654318, 139.797086),
    BusStop("1036-01", "虎ノ門", "Toranomon", "とらのもん", 35.670194, 139.750266),
    BusStop("1036-02", "虎ノ門", "Toranomon", "とらのもん", 35.669866, 139.750473),
    BusStop("1050-01", "都立三商前", "Toritsu-Sanshō", "とりつさんしょうまえ", 35.664312, 139.796821),
    BusStop("1050-02", "都立三商前", "Toritsu-Sanshō", "とりつさんしょうまえ", 35.665047, 139.796309),
    BusStop("1108-01", "永田町", "Nagatachō", "ながたちょう", 35.677956, 139.741553),
    BusStop("1108-02", "永田町", "Nagatachō", "ながたちょう", 35.678184, 139.740812),
    BusStop("1125-01", "納戸町", "Nandomachi", "なんどまち", 35.697961, 139.734042),
    BusStop("1130-01", "西麻布", "Nishi-Azabu", "にしあざぶ", 35.659759, 139.722393),
    BusStop("1130-03", "西麻布", "Nishi-Azabu", "にしあざぶ", 35.659856, 139.724627),
    BusStop("1159-04", "東亞合成本社前", "Tōagōsei Honsha(Toagosei Head Office)", "とうあごうせいほんしゃまえ", 35.668894, 139.754187),
    BusStop("1159-05", "東亞合成本社前", "Tōagōsei Honsha(Toagosei Head Office)", "とうあごうせいほんしゃまえ", 35.668653, 139.754176),
    BusStop("1189-01", "抜弁天", "Nukebenten", "ぬけべんてん", 35.697819, 139.712824),
    BusStop("1189-02", "抜弁天", "Nukebenten", "ぬけべんてん", 35.697643, 139.713468),
    BusStop("1253-02", "晴海三丁目", "Harumi-Sanchōme (Harumi 3)", "はるみさんちょうめ", 35.655812, 139.780929),
    BusStop("1259-01", "番町", "Banchō", "ばんちょう", 35.687056, 139.736254),
    BusStop("1259-02", "番町", "Banchō", "ばんちょう", 35.687514, 139.736197),
    BusStop("1353-01", "平河町二丁目", "Hirakawachō-Nichōme (Hirakawachō 2)", "ひらかわちょうにちょうめ", 35.680732, 139.738284),
    BusStop("1353-02", "平河町二丁目", "Hirakawachō-Nichōme (Hirakawachō 2)", "ひらかわちょうにちょうめ", 35.68104, 139.73832),
    BusStop("1361-01", "深川車庫入口", "Fukagawa-Shako-Iriguchi", "ふかがわしゃこいりぐち", 35.645617, 139.801075),
    BusStop("1361-02", "深川車庫入口", "Fukagawa-Shako-Iriguchi", "ふかがわしゃこいりぐち", 35.645461, 139.801311),
    BusStop("1469-03", "南青山七丁目", "Minami-Aoyama-Nanachōme (Minami-Aoyama 7)", "みなみあおやまななちょうめ", 35.659137, 139.718075),
    BusStop("1469-04", "南青山七丁目", "Minami-Aoyama-Nanachōme (Minami-Aoyama 7)", "みなみあおやまななちょうめ", 35.659406, 139.718211),
    BusStop("1502-01", "都橋住宅前", "Miyakobashi-Jūtaku", "みやこばしじゅうたくまえ", 35.642839, 139.796844),
    BusStop("1502-02", "都橋住宅前", "Miyakobashi-Jūtaku", "みやこばしじゅうたくまえ", 35.643582, 139.797713),
    BusStop("1544-01", "門前仲町", "Monzen-Nakachō", "もんぜんなかちょう", 35.672039, 139.794775),
    BusStop("1544-08", "門前仲町", "Monzen-Nakachō", "もんぜんなかちょう", 35.672969, 139.795071),
    BusStop("1567-01", "山伏町", "Yamabushichō", "やまぶしちょう", 35.699341, 139.728998),
    BusStop("1567-02", "山伏町", "Yamabushichō", "やまぶしちょう", 35.699133, 139.729434),
    BusStop("1570-01", "有楽町駅前", "Yūrakuchō Sta.", "ゆうらくちょうえきまえ", 35.675401, 139.762715),
    BusStop("1570-02", "有楽町駅前", "Yūrakuchō Sta.", "ゆうらくちょうえきまえ", 35.675581, 139.762546),
    BusStop("1586-01", "余丁町", "Yochōmachi", "よちょうまち", 35.698368, 139.716117),
    BusStop("1586-02", "余丁町", "Yochōmachi", "よちょうまち", 35.698537, 139.716154),
    BusStop("1609-02", "六本木駅前", "Roppongi Sta.", "ろっぽんぎえきまえ", 35.662521, 139.731141),
    BusStop("1609-03", "六本木駅前", "Roppongi Sta.", "ろっぽんぎえきまえ", 35.662931, 139.731226),
    BusStop("1610-04", "六本木一丁目駅前", "Roppongi-Itchōme Sta. (Roppongi 1 Sta.)", "ろっぽんぎいっちょうめえきまえ", 35.6663, 139.737652),
    BusStop("1610-05", "六本木一丁目駅前", "Roppongi-Itchōme Sta. (Roppongi 1 Sta.)", "ろっぽんぎいっちょうめえきまえ", 35.666244, 139.738311),
    BusStop("1611-06", "六本木四丁目", "Roppongi-Yonchōme (Roppongi 4)", "ろっぽんぎよんちょうめ", 35.665185, 139.73581),
    BusStop("1611-07", "六本木四丁目", "Roppongi-Yonchōme (Roppongi 4)", "ろっぽんぎよんちょうめ", 35.664891, 139.735961),
    BusStop("1613-03", "EXシアター六本木前", "EX Theater Roppongi", "いーえっくすしあたーろっぽんぎまえ", 35.661225, 139.72757),
    BusStop("1613-04", "EXシアター六本木前", "EX Theater Roppongi", "いーえっくすしあたーろっぽんぎまえ", 35.660692, 139.72703),
    BusStop("1617-02", "若松町", "Wakamatsuchō", "わかまつちょう", 35.700434, 139.7204),
    BusStop("1617-03", "若松町", "Wakamatsuchō", "わかまつちょう", 35.69992, 139.721507),
    BusStop("2033-05", "商船三井本社ビル前", "Shōsen-Mitsui-Honsha Biru(Shosen-Mitsui Head Office Building)",
            "しょうせんみついほんしゃびるまえ", 35.670429, 139.747804),
    BusStop("2033-06", "商船三井本社ビル前", "Shōsen-Mitsui-Honsha Biru(Shosen-Mitsui Head Office Building)",
            "しょうせんみついほんしゃびるまえ", 35.670126, 139.747059),
    BusStop("2034-01", "新橋駅北口", "Shimbashi Sta. Kitaguchi (North Exit)", "しんばしえききたぐち", 35.668054, 139.756858),
    BusStop("2034-02", "新橋駅北口", "Shimbashi Sta. Kitaguchi (North Exit)", "しんばしえききたぐち", 35.667795, 139.756775),
    BusStop("2144-01", "有明一丁目", "Ariake-Itchōme (Ariake 1)", "ありあけいっちょうめ", 35.635215, 139.78495),
    BusStop("2144-02", "有明一丁目", "Ariake-Itchōme (Ariake 1)", "ありあけいっちょうめ", 35.635145, 139.785323),
    BusStop("2171-01", "フェリー埠頭入口", "Ferry Futō-Iriguchi", "ふぇりーふとういりぐち", 35.629425, 139.789563),
    BusStop("2185-01", "有明コロシアム前", "Ariake Colosseum", "ありあけころしあむまえ", 35.637364, 139.788937),
    BusStop("2204-01", "浜園橋", "Hamazonobashi", "はまぞのばし", 35.661635, 139.799412),
    BusStop("2204-02", "浜園橋", "Hamazonobashi", "はまぞのばし", 35.661827, 139.799609),
    BusStop("2324-03", "東京ビッグサイト", "Tokyo Big Sight", "とうきょうびっぐさいと", 35.629883, 139.793027),
    BusStop("2324-04", "東京ビッグサイト", "Tokyo Big Sight", "とうきょうびっぐさいと", 35.62986, 139.793248),
    BusStop("2325-01", "東京ビッグサイト駅前", "Tokyo Big Sight Sta.", "とうきょうびっぐさいとえきまえ", 35.630418, 139.79141),
    BusStop("2325-02", "東京ビッグサイト駅前", "Tokyo Big Sight Sta.", "とうきょうびっぐさいとえきまえ", 35.630019, 139.791363),
    BusStop("2326-07", "東京テレポート駅前", "Tokyo Teleport Sta.", "とうきょうてれぽーとえきまえ", 35.626795, 139.7785),
    BusStop("2326-08", "東京テレポート駅前", "Tokyo Teleport Sta.", "とうきょうてれぽーとえきまえ", 35.626914, 139.779771),
    BusStop("2327-01", "テレコムセンター駅前", "Telecom Center Sta.", "てれこむせんたーえきまえ", 35.617403, 139.778878),
    BusStop("2327-02", "テレコムセンター駅前", "Telecom Center Sta.", "てれこむせんたーえきまえ", 35.617405, 139.779545),
    BusStop("2328-01", "潮風公園入口", "Shiokaze-Kōen-Iriguchi (Shiokaze Park)", "しおかぜこうえんいりぐち", 35.624391, 139.770533),
    BusStop("2329-01", "台場駅前", "Daiba Sta.", "だいばえきまえ", 35.626008, 139.771384),
    BusStop("2329-02", "台場駅前", "Daiba Sta.", "だいばえきまえ", 35.625783, 139.771503),
    BusStop("2333-01", "有明クリーンセンター前", "Ariake Clean Center", "ありあけくりーんせんたーまえ", 35.63288, 139.785634),
    BusStop("2346-01", "フジテレビ前", "Fuji-Terebi (Fuji TV)", "ふじてれびまえ", 35.627785, 139.774644),
    BusStop("2346-02", "フジテレビ前", "Fuji-Terebi (Fuji TV)", "ふじてれびまえ", 35.627674, 139.774979),
    BusStop("2361-01", "小滝橋車庫前", "Otakibashi-Shako", "おたきばししゃこまえ", 35.710259, 139.693251),
    BusStop("2361-02", "小滝橋車庫前", "Otakibashi-Shako", "おたきばししゃこまえ", 35.710132, 139.693088),
    BusStop("2407-04", "東京港湾合同庁舎前", "Tokyo Kōwan-Gōdōchōsha (Port and Harbor government Offices)",
            "とうきょうこうわんごうどうちょうしゃまえ", 35.617548, 139.776382),
    BusStop("2407-05", "東京港湾合同庁舎前", "Tokyo Kōwan-Gōdōchōsha (Port and Harbor government Offices)",
            "とうきょうこうわんごうどうちょうしゃまえ", 35.617164, 139.776331),
    BusStop("2442-01", "晴海トリトンスクエア前", "Harumi Triton Square", "はるみとりとんすくえあまえ", 35.656745, 139.78056),
    BusStop("2455-01", "新宿消防署", "Shinjuku-Shōbōsho (Shinjuku Fire Station)", "しんじゅくしょうぼうしょ", 35.706201, 139.694237),
    BusStop("2455-02", "新宿消防署", "Shinjuku-Shōbōsho (Shinjuku Fire Station)", "しんじゅくしょうぼうしょ", 35.707261, 139.694436),
    BusStop("2546-01", "日本科学未来館前", "Nippon-Kagaku-Miraikan (NATIONAL MUSEUM OF EMERGING SCIENCE AND INNOVATION)",
            "にっぽんかがくみらいかんまえ", 35.618961, 139.77524),
    BusStop("2546-02", "日本科学未来館前", "Nippon-Kagaku-Miraikan (NATIONAL MUSEUM OF EMERGING SCIENCE AND INNOVATION)",
            "にっぽんかがくみらいかんまえ", 35.618395, 139.775285),
    BusStop("2558-01", "台場二丁目", "Daiba-Nichōme (Daiba 2)", "だいばにちょうめ", 35.628369, 139.776246),
    BusStop("2558-02", "台場二丁目", "Daiba-Nichōme (Daiba 2)", "だいばにちょうめ", 35.628656, 139.77624),
    BusStop("2572-01", "赤坂アークヒルズ", "AKASAKA-ARK-HILLS", "あかさかあーくひるず", 35.667632, 139.740007),
    BusStop("2578-01", "新宿ここ・から広場前", "Shinjuku-Kokokara-Hiroba", "しんじゅくここからひろばまえ", 35.701462, 139.712654),
    BusStop("2578-02", "新宿ここ・から広場前", "Shinjuku-Kokokara-Hiroba", "しんじゅくここからひろばまえ", 35.701261, 139.712099),
    BusStop("2586-01", "武蔵野大学前", "Musashino-Daigaku (Musashino Univ.)", "むさしのだいがくまえ", 35.630737, 139.787727),
    BusStop("2586-02", "武蔵野大学前", "Musashino-Daigaku (Musashino Univ.)", "むさしのだいがくまえ", 35.63068, 139.787466),
    BusStop("2589-01", "新豊洲駅前", "Shin-Toyosu Sta.", "しんとよすえきまえ", 35.648294, 139.788552),
    BusStop("2589-02", "新豊洲駅前", "Shin-Toyosu Sta.", "しんとよすえきまえ", 35.647722, 139.789651),
    BusStop("2594-01", "かえつ学園西", "Kaetsu-Gakuen-Nishi", "かえつがくえんにし", 35.639726, 139.79368),
)

BUS_ROUTES: tuple[BusRoute, ...] = (
    BusRoute("to05-2", "都05-2", "東京駅丸の内南口 - 東京ビッグサイト", "Tokyo Sta. Marunouchi South Exit - Tokyo Big Sight",
             "FBC303", "370E00", Headways(peak=8, offpeak=10, shoulder=15, weekend=10, first="06:30", last="22:30"),
             ("0966-05", "1008-03", "1570-01", "0778-03", "0448-05", "0939-01", "0945-01", "0946-02", "0325-02",
              "0326-02", "2442-01", "2589-02", "0075-04", "2594-01", "0077-02", "2185-01", "0074-02", "2144-02",
              "2333-01", "2586-01", "2171-01", "2325-01", "2324-04"),
             ("2324-03", "2325-02", "2586-02", "2333-01", "2144-01", "0074-01", "2185-01", "0077-01", "2594-01",
              "0075-03", "2589-01", "1253-02", "0326-03", "0325-01", "0946-01", "0945-02", "0939-02", "0448-07",
              "0778-04", "1570-02", "1008-01", "0966-05")),
    BusRoute("to01", "都01", "新橋駅前 - 六本木駅前 - 渋谷駅前", "Shimbashi Sta. - Roppongi Sta. - Shibuya Sta.",
             "00A9E8", "FFFFFF", Headways(peak=8, offpeak=10, shoulder=15, weekend=12, first="06:00", last="23:00"),
             ("0737-04", "0736-03", "2034-02", "1159-05", "1036-02", "2033-06", "0909-01", "0016-02", "2572-01",
              "1610-05", "1611-07", "1609-02", "1613-04", "1130-03", "1469-03", "0007-02", "0005-02", "0636-08"),
             ("0636-06", "0005-01", "0007-01", "1469-04", "1130-01", "1613-03", "1609-03", "1611-06", "1610-04",
              "0016-03", "0909-02", "2033-05", "1036-01", "1159-04", "2034-01", "0736-03", "0737-04")),
    BusRoute("shuku75", "宿75", "新宿駅西口 - 東京女子医大前", "Shinjuku Sta. West Exit - Tokyo Women's Medical Univ.",
             "91A48D", "FFFFFF", Headways(peak=12, offpeak=15, shoulder=20, weekend=20, first="06:30", last="22:00"),
             ("0971-01", "0379-02", "1586-01", "1189-02", "0456-01", "0227-02", "0722-02", "0715-02", "0334-03",
              "0702-01"),
             ("0702-03", "0334-01", "0715-01", "0722-01", "0227-01", "0456-02", "1189-01", "1586-02", "0379-01",
              "0971-02")),
    BusRoute("hashi63", "橋63", "新橋駅前 - 市ヶ谷駅前 - 小滝橋車庫前", "Shimbashi Sta. - Ichigaya Sta. - Otakibashi Depot",
             "77A797", "FFFFFF", Headways(peak=12, offpeak=15, shoulder=20, weekend=20, first="06:00", last="22:00"),
             ("0737-01", "0736-03", "2034-02", "0144-02", "0935-04", "0320-02", "0531-02", "1108-02", "1353-01",
              "0488-04", "1259-01", "0099-04", "0101-02", "1125-01", "0138-01", "1567-02", "0141-04", "1617-03",
              "0518-02", "1019-02", "2578-02", "0996-01", "0226-04", "0228-01", "0684-02", "0225-02", "2455-01",
              "2361-02"),
             ("2361-01", "2455-02", "0225-01", "0684-01", "0228-02", "0226-03", "0996-01", "2578-01", "1019-01",
              "0518-01", "1617-02", "0141-01", "1567-01", "0138-02", "1125-01", "0101-01", "0099-03", "1259-02",
              "0488-01", "1353-02", "1108-01", "0531-01", "0320-01", "0935-03", "0144-03", "2034-01", "0737-03",
              "0736-01")),
    BusRoute("umi01", "海01", "東京テレポート駅前 - 豊洲駅前 - 門前仲町", "Tokyo Teleport Sta. - Toyosu Sta. - Monzen-nakacho",
             "D0086E", "FFFFFF", Headways(peak=10, offpeak=12, shoulder=15, weekend=15, first="06:30", last="22:30"),
             ("2326-08", "2327-02", "2407-05", "2546-02", "0302-01", "2328-01", "2329-01", "2346-01", "2558-02",
              "0469-01", "2144-01", "0074-01", "2185-01", "0077-01", "2594-01", "0075-01", "1502-01", "0620-01",
              "1361-01", "0622-01", "0621-04", "0619-01", "1025-07", "1021-01", "0166-01", "0593-01", "2204-01",
              "1050-01", "0969-02", "0170-01", "1544-08"),
             ("1544-01", "0170-02", "0969-01", "1050-02", "2204-02", "0593-02", "0166-03", "1021-02", "1025-10",
              "0619-02", "0621-01", "0622-02", "1361-02", "0620-02", "1502-02", "0075-02", "2594-01", "0077-02",
              "2185-01", "0074-02", "2144-02", "0469-02", "2558-01", "2346-02", "2329-02", "2328-01", "0302-02",
              "2546-01", "2407-04", "2327-01", "2326-07")),
)

BUS_SPEED_KMH = 13.0  # Tokyo city-bus average including stops and signals
BUS_ROAD_FACTOR = 1.25  # road distance / straight-line distance between consecutive stops

SHUTTLES: tuple[ShuttleService, ...] = (
    ShuttleService(
        namespace="shuttle-nishishinjuku", agency_id="nishishinjuku-av", agency_name="西新宿自動運転シャトル（サンプル）",
        agency_name_en="Nishi-Shinjuku Autonomous Shuttle (sample)", agency_url="https://www.metro.tokyo.lg.jp/",
        route_id="NS", short_name="西新宿AV", name="西新宿 自動運転循環", name_en="Nishi-Shinjuku Autonomous Loop",
        color="00A0E9", text_color="FFFFFF", seat_capacity=11, speed_kmh=12.0, dwell_s=30,
        weekday_headway=15, weekend_headway=20, first="10:00", last="17:40", notice_min=10, notice_max=1440,
        loop=True,
        stops=(
            ShuttleStop("NS-01", "新宿駅西口（乗車）", "Shinjuku Sta. West Exit (boarding)", "しんじゅくえきにしぐち",
                        35.691860, 139.697050, "NS-P01"),
            ShuttleStop("NS-02", "新宿住友ビル前", "Shinjuku Sumitomo Bldg.", "しんじゅくすみともびるまえ",
                        35.691400, 139.695300),
            ShuttleStop("NS-03", "都庁前", "Tokyo Metropolitan Government Bldg.", "とちょうまえ",
                        35.690300, 139.692400),
            ShuttleStop("NS-04", "新宿中央公園", "Shinjuku Central Park", "しんじゅくちゅうおうこうえん",
                        35.689500, 139.688700),
            ShuttleStop("NS-05", "西新宿五丁目駅前", "Nishi-shinjuku-gochome Sta.", "にししんじゅくごちょうめえきまえ",
                        35.690100, 139.685100),
            ShuttleStop("NS-06", "熊野神社前", "Kumano Shrine", "くまのじんじゃまえ", 35.691700, 139.687900),
            ShuttleStop("NS-07", "新宿駅西口（降車）", "Shinjuku Sta. West Exit (alighting)", "しんじゅくえきにしぐち",
                        35.692000, 139.696800, "NS-P01"),
        ),
        parents=(ShuttleStop("NS-P01", "新宿駅西口", "Shinjuku Sta. West Exit", "しんじゅくえきにしぐち",
                             35.691930, 139.696925),),
    ),
    ShuttleService(
        namespace="shuttle-bayarea", agency_id="bayarea-av", agency_name="臨海副都心自動運転シャトル（サンプル）",
        agency_name_en="Tokyo Bay Area Autonomous Shuttle (sample)", agency_url="https://www.metro.tokyo.lg.jp/",
        route_id="BA", short_name="臨海AV", name="お台場海浜公園 - 有明", name_en="Odaiba-kaihinkoen - Ariake",
        color="00B2A9", text_color="FFFFFF", seat_capacity=15, speed_kmh=14.0, dwell_s=30,
        weekday_headway=15, weekend_headway=20, first="10:00", last="17:40", notice_min=15, notice_max=1440,
        loop=False,
        stops=(
            ShuttleStop("BA-01", "お台場海浜公園駅前", "Odaiba-kaihinkoen Sta.", "おだいばかいひんこうえんえきまえ",
                        35.629700, 139.778300),
            ShuttleStop("BA-02", "東京テレポート駅前", "Tokyo Teleport Sta.", "とうきょうてれぽーとえきまえ",
                        35.627000, 139.779900),
            ShuttleStop("BA-03", "青海駅前", "Aomi Sta.", "あおみえきまえ", 35.624800, 139.781300),
            ShuttleStop("BA-04", "東京ビッグサイト駅前", "Tokyo Big Sight Sta.", "とうきょうびっぐさいとえきまえ",
                        35.630100, 139.791000),
            ShuttleStop("BA-05", "有明駅前", "Ariake Sta.", "ありあけえきまえ", 35.634400, 139.792600),
            ShuttleStop("BA-06", "有明ガーデン", "Ariake Garden", "ありあけがーでん", 35.637800, 139.790500),
        ),
    ),
)
