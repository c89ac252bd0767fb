"""`maas` command line: import and check feeds, build the transit model, plan trips, serve the API."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import orjson

from feeds.feed import TOKYO
from maas.platform.settings import Settings


class CliError(Exception):
    """A mistake in the command line or its files: reported as one line on stderr, exit code 2."""


def _cmd_import(args) -> int:
    from feeds.gtfs import load_feed, parse_feed_spec
    from feeds.problems import FeedRejected
    from maas.platform.progress import step

    status = 0
    for spec in args.feeds:
        namespace, path = parse_feed_spec(spec)
        try:
            with step(f"importing {namespace} from {path}"):
                feed = load_feed(path, namespace)
        except FeedRejected as rej:
            print(rej.report.format(limit=args.limit))
            status = 1
            continue
        except (OSError, ValueError) as exc:
            print(f"{namespace}: cannot read {path}: {exc}")
            status = 1
            continue
        print(feed.report.format(limit=args.limit))
        s = feed.summary()
        print(f"  {s['agencies']} agencies, {s['stops']} stops, {s['stations']} stations, {s['routes']} routes, "
              f"{s['trips']} trips, {s['stop_times']} stop times, {s['services']} services, "
              f"service days {s['first_date']} – {s['last_date']} ({s['timezone']})")
    return status


def _parse_date(text: str | None) -> dt.date | None:
    """The --date given, else None (today on the feeds' clock, known once they are loaded)."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CliError(f"--date must be YYYY-MM-DD, got {text!r}") from None


def _cmd_build(args) -> int:
    from maas.publishing.network import load_network
    from maas.platform.progress import step
    from routing.timetable import BuildSettings, build_model

    settings = Settings()
    date = _parse_date(args.date)
    network = load_network(args.feeds, settings.cache_dir)
    if date is None:  # today on the feeds' own clock (their agency zone), not Tokyo's date
        from zoneinfo import ZoneInfo

        from routing.timetable import model_timezone

        date = dt.datetime.now(ZoneInfo(model_timezone(network))).date()
    _check_service(network, date)
    with step(f"building the transit model for {date}"):
        model = build_model(network, date, BuildSettings())
    with step(f"writing {args.out}"):
        model.save(Path(args.out))
    print(model.describe())
    return 0


def _check_service(network, date: dt.date) -> None:
    """Refuse a day no feed runs on: a model with no trips would plan nothing, silently."""
    if any(feed.service_ids_on(date) for feed in network.feeds):
        return
    spans = []
    for feed in network.feeds:
        first, last = feed.service_dates()
        spans.append(f"{feed.namespace} {first} – {last}" if first else f"{feed.namespace} none")
    raise CliError(f"no feed has service on {date} (service dates: {'; '.join(spans)}); pick --date within them")


def _check_file(path: str | None, what: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{what} not found: {p}")
    return p


def _check_redis_url(url: str | None) -> str | None:
    """``--redis``: one server (redis://, rediss://, unix://) or a cluster (redis+cluster://host:port[,…])."""
    if url is None:
        return None
    from maas.store.redis_conn import is_cluster_url, is_redis_url, parse_cluster_url  # (loads redis: only for a URL)

    if not is_redis_url(url):
        raise CliError(f"--redis must be redis://host:port/db, rediss://…, unix://… or "
                       f"redis+cluster://host:port[,host:port…] (a Redis Cluster), got {url!r}")
    if is_cluster_url(url):
        try:
            parse_cluster_url(url)
        except ValueError as exc:
            raise CliError(f"--redis: {exc}") from None
    return url


def _check_feeds(specs: list[str] | None) -> None:
    from feeds.gtfs import parse_feed_spec

    for spec in specs or []:
        _, path = parse_feed_spec(spec)
        if not Path(path).exists():
            raise CliError(f"GTFS feed not found: {path}")


def _check_port(host: str, port: int) -> None:
    """Fail before the slow start-up when something already listens on host:port."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}; is another server running? "
                           f"choose another port with --port (make run: PORT=)") from None


def _parse_when(text: str | None) -> dt.datetime:
    if not text:
        return dt.datetime.now(TOKYO)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"times are ISO-8601, e.g. 2026-11-24T08:30:00+09:00; got {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=TOKYO)


def _cmd_plan(args) -> int:
    from maas.transit import TransitService
    from routing.planner import PlanOptions, PlanError

    from maas.pricing.plan_fares import PlanFares, RidersError, parse_medium, parse_riders
    from maas.services import operator_catalog

    try:
        riders, medium = parse_riders(args.riders), parse_medium(args.fare_media)
    except RidersError as exc:
        raise CliError(f"cannot plan: {exc}") from None
    _check_feeds(args.feed)
    settings = Settings(feeds=args.feed or [], osm=_check_file(args.osm, "OSM file"))
    when = _parse_when(args.arrive or args.depart)
    transit = TransitService.from_settings(settings, progress=True)
    options = PlanOptions(num_itineraries=args.num)
    if args.max_transfers is not None:
        options.max_transfers = args.max_transfers
    if args.wheelchair:
        options.wheelchair = True
    try:
        itineraries = transit.plan_sync(args.origin, args.destination, when, arrive_by=bool(args.arrive),
                                        options=options)
    except PlanError as exc:
        raise CliError(f"cannot plan: {exc}") from None
    catalog = {op: s.fares for op, s in operator_catalog(settings, transit)().items()}
    PlanFares().add(catalog, itineraries, riders, medium)
    if args.lang != "ja":
        from routing.names import localise_itinerary

        for it in itineraries:
            localise_itinerary(it, args.lang, transit.names)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps({"itineraries": itineraries}, option=orjson.OPT_INDENT_2))
        sys.stdout.write("\n")
        return 0
    if not itineraries:
        print("no itinerary found")
        return 1
    for n, it in enumerate(itineraries, 1):
        fare = it["fare"]
        price = (f"{fare['total']} JPY ({fare['medium']})" if fare is not None
                 else f"fare unknown: {it['fare_unknown']}")
        print(f"#{n}  {it['departure'][11:16]} → {it['arrival'][11:16]}  {it['duration_s'] // 60} min, "
              f"{it['transfers']} transfer(s), walk {round(it['walk_distance_m'])} m ({it['walking']}), {price}")
        for leg in it["legs"]:
            frm = leg["from"].get("name") or f"{leg['from']['lat']:.5f},{leg['from']['lon']:.5f}"
            to = leg["to"].get("name") or f"{leg['to']['lat']:.5f},{leg['to']['lon']:.5f}"
            if leg["mode"] == "WALK":
                print(f"    {leg['departure'][11:16]}  walk {round(leg['distance_m'])} m  {frm} → {to}")
            else:
                route = leg["route"].get("short_name") or leg["route"].get("long_name")
                book = "  [booking required]" if leg.get("booking_required") else ""
                print(f"    {leg['departure'][11:16]}  {leg['mode'].lower()} {route} ({leg['operator']})  "
                      f"{frm} → {to}  arr {leg['arrival'][11:16]}{book}")
    return 0


def _cmd_serve(args) -> int:
    from api.server import serve

    from maas.platform.auth import KeyRing
    from maas.platform.secrets import SecretsError, load_secrets

    _check_feeds(args.feed)
    settings = Settings(feeds=args.feed or [], osm=_check_file(args.osm, "OSM file"),
                        redis_url=_check_redis_url(args.redis), host=args.host, port=args.port,
                        workers=args.workers, keys_file=_check_file(args.keys, "keys file"), dev=args.dev,
                        allow_volatile_redis=args.allow_volatile_redis)
    if args.cors_origin:
        settings.cors_origins = list(args.cors_origin)
    if args.realtime:
        from maas.disruptions.realtime import parse_pull_spec

        try:
            for spec in args.realtime:
                parse_pull_spec(spec)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        settings.realtime = list(args.realtime)
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)
    try:
        settings.secrets = load_secrets(file=_check_file(args.secrets, "secrets file"), dev=args.dev,
                                        data_dir=settings.data_dir)
    except SecretsError as exc:
        raise CliError(str(exc)) from None
    KeyRing.load(settings.keys_file)  # a malformed keys file is refused now, not by the first request
    from maas.disruptions.jma_intake import check_config

    try:
        check_config(settings.jma_areas, settings.jma_policy)  # MAAS_JMA_AREAS / MAAS_JMA_POLICY
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _check_port(settings.host, settings.port)
    try:
        return serve(settings)
    except OSError as exc:
        raise CliError(f"cannot serve on {settings.host}:{settings.port}: {exc.strerror or exc}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maas", description="Tokyo MaaS backend")
    sub = p.add_subparsers(dest="command", required=True)

    imp = sub.add_parser("import", help="validate feeds and print a report and summary")
    imp.add_argument("feeds", nargs="+", metavar="FEED", help="GTFS zip or folder, optionally NAMESPACE=PATH")
    imp.add_argument("--limit", type=int, default=50, help="problems to print per feed")
    imp.set_defaults(func=_cmd_import)

    bld = sub.add_parser("build", help="build the transit model for a service day and save it")
    bld.add_argument("feeds", nargs="*", metavar="FEED", help="feeds (default: the built-in sample)")
    bld.add_argument("--out", required=True, help="output folder")
    bld.add_argument("--date", help="service date YYYY-MM-DD (default: today in Tokyo)")
    bld.set_defaults(func=_cmd_build)

    pl = sub.add_parser("plan", help="plan a trip and print itineraries")
    pl.add_argument("--from", dest="origin", required=True,
                    help="stop id, lat,lon or station name (Japanese, kana, romaji or English)")
    pl.add_argument("--to", dest="destination", required=True,
                    help="stop id, lat,lon or station name (Japanese, kana, romaji or English)")
    when = pl.add_mutually_exclusive_group()
    when.add_argument("--depart", help="ISO-8601 departure time (default: now)")
    when.add_argument("--arrive", help="ISO-8601 arrival deadline")
    pl.add_argument("--feed", action="append", help="feed (repeatable; default: the built-in sample)")
    pl.add_argument("--osm", help="OSM XML file for walking on streets")
    pl.add_argument("--num", type=int, default=3, help="number of itineraries")
    pl.add_argument("--max-transfers", type=int)
    pl.add_argument("--wheelchair", action="store_true")
    pl.add_argument("--riders", default="adult:1", help="who travels, priced in each fare (e.g. adult:1,child:1)")
    pl.add_argument("--fare-media", default="ic", help="ic (IC card, default) or ticket (paper ticket / cash)")
    pl.add_argument("--lang", choices=("ja", "en"), default="ja", help="language of stop names and headsigns")
    pl.add_argument("--json", action="store_true", help='print {"itineraries": [...]}')
    pl.set_defaults(func=_cmd_plan)

    sv = sub.add_parser("serve", help="run the HTTP API")
    sv.add_argument("--feed", action="append", help="feed (repeatable; default: the built-in sample)")
    sv.add_argument("--osm", help="OSM XML file for walking on streets")
    sv.add_argument("--redis", help="Redis URL: redis://host:port/db, or redis+cluster://host:port[,host:port…] "
                                    "for a Redis Cluster (default: the embedded store)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8080)
    sv.add_argument("--workers", type=int, default=1)
    sv.add_argument("--keys", help="API keys JSON file")
    sv.add_argument("--data-dir", help="where the embedded store keeps its data")
    sv.add_argument("--secrets", help="JSON file with ticket_signing_key and card_fingerprint_key (mode 0600); "
                                      "or set MAAS_TICKET_SIGNING_KEY and MAAS_CARD_FINGERPRINT_KEY")
    sv.add_argument("--dev", action="store_true",
                    help="development mode: generate (once) a secrets file in the data folder instead of "
                         "requiring configured keys; never in production")
    sv.add_argument("--allow-volatile-redis", action="store_true",
                    help="serve even when Redis runs without AOF-always (a crash loses confirmed bookings); "
                         "warns loudly")
    sv.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                    help="let browser apps on ORIGIN (https://app.example, or *) call the API; repeatable "
                         "(default: MAAS_CORS_ORIGINS, comma-separated)")
    sv.add_argument("--realtime", action="append", metavar="OP=URL[,INTERVAL_S]",
                    help="pull OP's GTFS-Realtime trip updates or vehicle positions from URL every INTERVAL_S "
                         "seconds (default 30); repeatable (one per feed URL)")
    sv.set_defaults(func=_cmd_serve)

    from maas.publishing.feed_cli import cmd_feeds_publish

    fd = sub.add_parser("feeds", help="operators: publish a GTFS feed to a running server")
    fsub = fd.add_subparsers(dest="feeds_command", required=True)
    fp = fsub.add_parser("publish", help="upload OPERATOR's GTFS zip; prints the validation report")
    fp.add_argument("operator", metavar="OPERATOR")
    fp.add_argument("file", metavar="FILE", help="GTFS zip")
    fp.add_argument("--url", required=True, help="server base URL, e.g. https://maas.example")
    fp.add_argument("--key", required=True, help="the operator's API key")
    fp.set_defaults(func=cmd_feeds_publish)

    from maas.disruptions.closure_cli import add_parser as add_closures_parser

    add_closures_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; mistakes in its input (files, dates, port, names) are one line on stderr and exit 2."""
    from feeds.problems import FeedRejected
    from maas.platform.auth import KeyConfigError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        message = str(exc)
    except FeedRejected as exc:
        message = str(exc).splitlines()[0]
    except (FileNotFoundError, KeyConfigError) as exc:
        message = str(exc)
    print(f"maas {args.command}: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
