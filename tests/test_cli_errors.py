"""The CLI's answer to a mistake is one clear line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import socket

import pytest

from gtfs_builders import minimal_feed_tables, write_gtfs
from maas.cli import main


@pytest.fixture
def tiny(tmp_path):
    return str(write_gtfs(tmp_path / "tiny", minimal_feed_tables()))


def one_line(capsys) -> str:
    """The error: one line starting "maas COMMAND:" (progress lines of steps that ran before may precede it)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if not line.startswith(("… ", "✓ ", "✗ "))]
    assert len(lines) == 1 and lines[0].startswith("maas "), err
    return lines[0]


@pytest.mark.parametrize("argv, words", [
    (["plan", "--from", "a", "--to", "b", "--feed", "/nonexistent/feed.zip"], "GTFS feed not found"),
    (["plan", "--from", "a", "--to", "b", "--osm", "/nonexistent/tokyo.osm"], "OSM file not found"),
    (["plan", "--from", "a", "--to", "b", "--depart", "tomorrow morning"], "ISO-8601"),
    (["build", "--out", "/tmp/never", "--date", "2026-02-30"], "YYYY-MM-DD"),
    (["serve", "--keys", "/nonexistent/keys.json"], "keys file not found"),
    (["serve", "--feed", "/nonexistent/feed"], "GTFS feed not found"),
    (["serve", "--redis", "http://127.0.0.1:6379"], "redis+cluster://host:port"),
    (["serve", "--redis", "redis+cluster://127.0.0.1"], "is not host:port"),
])
def test_missing_files_and_bad_dates(argv, words, capsys):
    assert main(argv) == 2
    assert words in one_line(capsys)


def test_malformed_keys_file(tmp_path, capsys):
    keys = tmp_path / "keys.json"
    keys.write_text("{not json")
    assert main(["serve", "--keys", str(keys), "--dev", "--data-dir", str(tmp_path / "data")]) == 2
    assert "keys" in one_line(capsys)


def test_busy_port(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port), "--dev", "--data-dir", str(tmp_path)]) == 2
    err = one_line(capsys)
    assert f"127.0.0.1:{port}" in err and "--port" in err


def test_build_refuses_a_day_without_service(tiny, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["build", f"t={tiny}", "--out", str(out), "--date", "2025-06-03"]) == 2
    err = one_line(capsys)
    assert "no feed has service on 2025-06-03" in err and "2026-01-01 – 2026-12-31" in err
    assert not out.exists()
    assert main(["build", f"t={tiny}", "--out", str(out), "--date", "2026-06-02"]) == 0
    assert out.exists()


def test_unknown_station(tiny, capsys):
    assert main(["plan", "--feed", f"t={tiny}", "--from", "Nowhere-machi", "--to", "t:C",
                 "--depart", "2026-06-02T08:00:00+09:00"]) == 2
    assert "unknown place 'Nowhere-machi'" in one_line(capsys)


def test_rejected_feed_is_one_line(tmp_path, capsys):
    tables = minimal_feed_tables()
    del tables["stops"]
    bad = write_gtfs(tmp_path / "bad", tables)
    assert main(["plan", "--feed", f"t={bad}", "--from", "a", "--to", "b"]) == 2
    assert "rejected" in one_line(capsys)


@pytest.mark.parametrize("policy, words", [('{"levels": {"3": "shut"}}', "levels.3"),
                                           ('{"levels": {"7": "close"}}', "levels.7"),
                                           ("{not json", "policy file")])
def test_bad_warning_policy_file_is_one_line(tmp_path, monkeypatch, capsys, policy, words):
    """MAAS_JMA_POLICY is read before serving: a bad table is a configuration error, not a worker's traceback."""
    path = tmp_path / "policy.json"
    path.write_text(policy)
    monkeypatch.setenv("MAAS_JMA_POLICY", str(path))
    assert serve_on_busy_port(tmp_path) == 2  # never serves: refused before the port check at the latest
    assert words in one_line(capsys)


def test_bad_municipality_file_is_one_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "areas.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    monkeypatch.setenv("MAAS_JMA_AREAS", str(path))
    assert serve_on_busy_port(tmp_path) == 2
    assert "no features" in one_line(capsys)


def serve_on_busy_port(tmp_path) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        return main(["serve", "--port", str(s.getsockname()[1]), "--dev", "--data-dir", str(tmp_path / "data")])
