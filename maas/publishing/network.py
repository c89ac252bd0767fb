"""Loading the operators' feeds into one Network: the given feeds, or the built-in Tokyo sample."""
from __future__ import annotations

from pathlib import Path

from feeds.feed import Feed, Network
from feeds.gtfs import load_feed, parse_feed_spec
from maas.platform.progress import step


def sample_specs(cache_dir: Path | None = None) -> list[str]:
    from feeds.sample import sample_feed_paths

    return [f"{ns}={path}" for ns, path in sample_feed_paths(cache_dir).items()]


def load_network(specs: list[str], cache_dir: Path | None = None, progress: bool = True) -> Network:
    """Load and validate every feed (raising FeedRejected on the first bad one); the sample when none is given."""
    specs = specs or sample_specs(cache_dir / "sample" if cache_dir else None)
    feeds: list[Feed] = []
    for spec in specs:
        namespace, path = parse_feed_spec(spec)
        if progress:
            with step(f"loading feed {namespace} from {path}"):
                feeds.append(load_feed(path, namespace))
        else:
            feeds.append(load_feed(path, namespace))
    return Network(feeds)
