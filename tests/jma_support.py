"""Build JMA telegrams for Tokyo in the structure of the official samples (there is no official Tokyo landslide
sample): VXWW50 after 17_03_01_190529_VXWW50.xml, VPWW53 after 15_13_01_161226_VPWW53.xml, with chosen areas."""
from __future__ import annotations

import contextlib
import datetime as dt

JST = dt.timezone(dt.timedelta(hours=9))
SHINJUKU = ("1310400", "新宿区")
CHIYODA = ("1310100", "千代田区")


def _head(title: str, info_kind: str, when: dt.datetime, info_type: str, serial: str, event_id: str,
          control_title: str) -> str:
    utc = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/" xmlns:jmx="http://xml.kishou.go.jp/jmaxml1/">
<Control><Title>{control_title}</Title><DateTime>{utc}</DateTime><Status>通常</Status>
<EditorialOffice>気象庁本庁</EditorialOffice><PublishingOffice>東京都 気象庁</PublishingOffice></Control>
<Head xmlns="http://xml.kishou.go.jp/jmaxml1/informationBasis1/"><Title>{title}</Title>
<ReportDateTime>{when.isoformat()}</ReportDateTime><TargetDateTime>{when.isoformat()}</TargetDateTime>
<EventID>{event_id}</EventID><InfoType>{info_type}</InfoType><Serial>{serial}</Serial><InfoKind>{info_kind}</InfoKind>
<InfoKindVersion>1.0_0</InfoKindVersion><Headline><Text>＜概況＞
降り続く大雨のため、土砂災害警戒区域等では命に危険が及ぶ土砂災害がいつ発生してもおかしくない非常に危険な状況です。</Text>
</Headline></Head>"""


def landslide_xml(areas: list[tuple[str, str, str]], when: dt.datetime, *, serial: int = 1,
                  info_type: str = "発表") -> str:
    """VXWW50 for Tokyo; ``areas`` = [(code, name, status)] with status 発表/継続/解除/なし."""
    items = []
    for code, name, status in areas:
        kname, kcode = {"発表": ("警戒", "3"), "継続": ("警戒", "3"), "解除": ("解除", "1"), "なし": ("なし", "0")}[status]
        items.append(f"<Item><Kind><Name>{kname}</Name><Code>{kcode}</Code><Status>{status}</Status></Kind>"
                     f"<Area><Name>{name}</Name><Code>{code}</Code></Area></Item>")
    return (_head("東京都土砂災害警戒情報", "土砂災害警戒情報", when, info_type, str(serial), "東京都土砂災害警戒情報",
                  "土砂災害警戒情報")
            + '<Body xmlns="http://xml.kishou.go.jp/jmaxml1/body/meteorology1/">'
              "<TargetArea><Name>東京都</Name><Code>130000</Code></TargetArea>"
              f'<Warning type="土砂災害警戒情報">{"".join(items)}</Warning></Body></Report>')


def warning_xml(areas: list[tuple[str, str, list[tuple[str, str, str]]]], when: dt.datetime, *,
                data_type: str = "VPWW53") -> str:
    """VPWW53/54 for Tokyo; ``areas`` = [(code, name, [(kind name, kind code, status)])]; an empty kind list
    writes the sample's `発表警報・注意報はなし` item."""
    ctitle = {"VPWW53": "気象特別警報・警報・注意報", "VPWW54": "気象警報・注意報（Ｈ２７）"}[data_type]
    items = []
    for code, name, kinds in areas:
        ks = "".join(f"<Kind><Name>{n}</Name><Code>{c}</Code><Status>{s}</Status></Kind>" for n, c, s in kinds) \
            or "<Kind><Status>発表警報・注意報はなし</Status></Kind>"
        items.append(f"<Item>{ks}<Area><Name>{name}</Name><Code>{code}</Code></Area></Item>")
    return (_head("東京都気象警報・注意報", "気象警報・注意報", when, "発表", "", "", ctitle)
            + '<Body xmlns="http://xml.kishou.go.jp/jmaxml1/body/meteorology1/">'
              '<Warning type="気象警報・注意報（府県予報区等）"><Item><Kind><Status>発表警報・注意報はなし</Status></Kind>'
              "<Area><Name>東京都</Name><Code>130000</Code></Area></Item></Warning>"
              f'<Warning type="気象警報・注意報（市町村等）">{"".join(items)}</Warning></Body></Report>')


def all_tokyo(kinds: list[tuple[str, str, str]], areas_file) -> list[tuple[str, str, list]]:
    """Every municipality of the GeoJSON with the same kinds (a Tokyo-wide telegram)."""
    import orjson

    doc = orjson.loads(areas_file.read_bytes())
    return [(f["properties"]["jma_code"], f["properties"]["name"], kinds) for f in doc["features"]]


@contextlib.asynccontextmanager
async def jma_client(transit, areas_file):
    """An API test client whose closure service reads JMA telegrams with ``areas_file`` (in-memory store)."""
    from api_support import client_for, services_for
    from maas.disruptions.closure_store import MemoryClosureStore
    from maas.platform.settings import Settings
    from maas.services import closure_service

    services = services_for(transit, closures=closure_service(Settings(jma_areas=areas_file), transit,
                                                              store=MemoryClosureStore()))
    try:
        async with client_for(services) as c:
            c.services = services
            yield c
    finally:
        transit.mask_provider = None
