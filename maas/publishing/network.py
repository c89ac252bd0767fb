"""Loading the operators' feeds into one Network: the given feeds, or the built-in Tokyo sample."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from feeds.feed import Feed, Network
from feeds.gtfs import load_feed, parse_feed_spec
from maas.platform.child import call_in_child
from maas.platform.progress import step

if TYPE_CHECKING:
    import datetime as dt

    from routing.names import BuiltNames
    from routing.timetable import BuildSettings, TransitModel

# A server's feeds this big (bytes on disk, all together) are parsed in a child process that hands back the
# finished tables: parsing allocates several times what it keeps (the raw string tables), and the freed pages stay
# scattered between the kept objects in this process's heap (all-Tokyo: +78 MiB resident loaded here, +52 MiB
# from a child; the child costs ~2 s of start-up).
ISOLATE_MIN_BYTES = 4 * 2 ** 20


def sample_specs(cache_dir: Path | None = None) -> list[str]:
    from feeds.sample import sample_feed_paths

    return [f"{ns}={path}" for ns, path in sample_feed_paths(cache_dir).items()]


def load_network(specs: list[str], cache_dir: Path | None = None, progress: bool = True, *,
                 isolate_min_bytes: int | None = None, pack: bool = False) -> Network:
    """Load and validate every feed (raising FeedRejected on the first bad one); the sample when none is given.
    ``isolate_min_bytes``: feeds at least this big are parsed in a child process (see ISOLATE_MIN_BYTES).
    ``pack``: the big tables packed (`Network.pack`), by the child when there is one: they never unpack here."""
    return load_network_and_model(specs, cache_dir, progress, isolate_min_bytes=isolate_min_bytes,
                                  pack=pack).network


def today_model(network: Network, build: "BuildSettings", progress: bool = False) -> "TransitModel":
    """Today's model of ``network`` (today on its clock, `model_timezone`), footpaths as straight lines (no
    street walker): the model a `TransitService` without OSM builds first."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from routing.timetable import build_model, model_timezone

    day = dt.datetime.now(ZoneInfo(model_timezone(network))).date()
    if not progress:
        return build_model(network, day, build)
    with step(f"building the transit model for {day}"):
        return build_model(network, day, build)


@dataclass(frozen=True)
class Loaded:
    """A network with what the child that loaded it built too (None: built by nobody yet)."""

    network: Network
    model: "TransitModel | None" = None  # today's (`today_model`)
    names: "BuiltNames | None" = None  # the network's name index, with the readings state to adopt


def load_network_and_model(specs: list[str], cache_dir: Path | None = None, progress: bool = True, *,
                           isolate_min_bytes: int | None = None, pack: bool = False,
                           build: "BuildSettings | None" = None) -> Loaded:
    """`load_network`, and with ``build`` today's model (`today_model`) and the name index when a child process
    loads the feeds: it builds them too, before packing the tables, so this process never holds the builds'
    temporaries, whose freed pages stay scattered in its heap for good (all-Tokyo: ~17 MiB more resident after a
    first model build here, ~13 MiB after the name index). Model and names None: no child ran, or its builds
    failed (the caller builds them itself)."""
    specs = specs or sample_specs(cache_dir / "sample" if cache_dir else None)
    if isolate_min_bytes is not None and _size_on_disk(specs) >= isolate_min_bytes:
        got = _load_in_child(specs, progress, pack, build)
        if got is not None:
            return got
    feeds: list[Feed] = []
    for spec in specs:
        namespace, path = parse_feed_spec(spec)
        if progress:
            with step(f"loading feed {namespace} from {path}"):
                feeds.append(load_feed(path, namespace))
        else:
            feeds.append(load_feed(path, namespace))
    network = Network(feeds)
    if pack:
        network.pack()
    return Loaded(network)


def _size_on_disk(specs: list[str]) -> int:
    total = 0
    for spec in specs:
        try:
            path = Path(parse_feed_spec(spec)[1])
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() \
                else path.stat().st_size
        except (OSError, ValueError):
            pass
    return total


def _load_in_child(specs: list[str], progress: bool, pack: bool = False, build: "BuildSettings | None" = None
                   ) -> Loaded | None:
    """The feeds (and with ``build`` today's model and the name index, None when their builds failed), loaded by
    a child process; None when it failed (the caller loads them here then, to raise the same error) or could not
    run."""
    from routing.names import BuiltNames
    from routing.timetable import TransitModel

    try:
        feeds, model, names = call_in_child("maas.publishing.network:_loaded_here", list(specs), progress, pack,
                                            build)
    except (TypeError, ValueError):  # no answer, or not the three parts
        return None
    if not (isinstance(feeds, list) and all(isinstance(f, Feed) for f in feeds)):
        return None
    ok = isinstance(model, TransitModel) and isinstance(names, BuiltNames)
    return Loaded(Network(feeds), model if ok else None, names if ok else None)


def _loaded_here(specs: list[str], progress: bool, pack: bool, build: "BuildSettings | None") -> tuple | None:
    """What `_load_in_child`'s child does: (feeds, today's model, exported names), the last two None without
    ``build`` or when their builds failed (the parent builds them, and reports what goes wrong there); None when a
    feed cannot be loaded: the parent loads the feeds itself and raises that error (FeedRejected, OSError...) as
    its one clear line, with no traceback from the child."""
    try:
        network = load_network(specs, progress=progress)
    except Exception:
        return None
    model = names = None
    if build is not None:
        try:
            model = today_model(network, build, progress)
            from routing.names import NameIndex, export_names

            names = export_names(NameIndex.from_network(network))
        except Exception:
            model = names = None
    if pack:
        network.pack()
    return network.feeds, model, names


def model_in_child(network: Network, date: "dt.date", build: "BuildSettings") -> "TransitModel | None":
    """``network``'s model for ``date`` (`build_model`, straight-line footpaths: no walker) built by a child process
    that gets the feeds pickled (big tables as packed); None when the child failed or could not run (the caller
    builds it itself, and reports what goes wrong there)."""
    from routing.timetable import TransitModel

    model = call_in_child("routing.timetable:build_model", network, date, build)
    return model if isinstance(model, TransitModel) else None
