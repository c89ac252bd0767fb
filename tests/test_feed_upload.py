"""Hostile uploads are refused before the importer sees them; a good zip is unpacked flat."""
from __future__ import annotations

import io
import stat
import zipfile

import pytest

from feeds.upload import UploadError, UploadLimits, extract_gtfs_zip
from gtfs_builders import minimal_feed_tables, write_gtfs


def zip_of(files: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_good_zip_is_unpacked_flat_from_one_folder(tmp_path):
    src = write_gtfs(tmp_path / "f.zip", minimal_feed_tables(), zip=True)
    with zipfile.ZipFile(src) as zf:
        files = {f"gtfs/{n}": zf.read(n) for n in zf.namelist()}
    files["__MACOSX/._stops.txt"] = b"\x00\xff"
    names = extract_gtfs_zip(zip_of(files), tmp_path / "out")
    assert sorted(names) == sorted(n.split("/")[1] for n in files if n.startswith("gtfs/"))
    assert (tmp_path / "out" / "stops.txt").read_bytes() == files["gtfs/stops.txt"]


def test_bom_is_accepted(tmp_path):
    assert extract_gtfs_zip(zip_of({"agency.txt": "\ufeffagency_id\nx\n".encode()}), tmp_path) == ["agency.txt"]


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/cron.txt", "a/../../b.txt", "C:/x.txt", "a\\..\\b.txt"])
def test_path_traversal_refused(tmp_path, name):
    with pytest.raises(UploadError, match="absolute|leaves|backslash"):
        extract_gtfs_zip(zip_of({name: b"a\n"}), tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_refused(tmp_path):
    with pytest.raises(UploadError, match="symbolic link"):
        extract_gtfs_zip(zip_of({"agency.txt": b"a\n"}, symlink="stops.txt"), tmp_path)


def test_zip_bomb_refused_by_ratio_and_total(tmp_path):
    bomb = zip_of({"stop_times.txt": b"0" * (20 * 1024 * 1024)})
    assert len(bomb) < 100 * 1024
    with pytest.raises(UploadError, match="zip bomb"):
        extract_gtfs_zip(bomb, tmp_path / "a")
    with pytest.raises(UploadError, match="unpack"):
        extract_gtfs_zip(bomb, tmp_path / "b", UploadLimits(max_uncompressed=1024 * 1024, max_ratio=1e9))


def test_lying_declared_size_is_caught_while_reading(tmp_path):
    import struct

    data = bytearray(zip_of({"stops.txt": b"x" * 3_000_000}))
    for sig, off in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):  # declare 10 bytes where 3 MB follow
        at = data.index(sig) + off
        data[at:at + 4] = struct.pack("<I", 10)
    with pytest.raises(UploadError, match="cannot be read|unpack"):
        extract_gtfs_zip(bytes(data), tmp_path, UploadLimits(max_uncompressed=1_000_000, max_ratio=1e9))
    assert not (tmp_path / "stops.txt").exists()


def test_non_utf8_refused(tmp_path):
    with pytest.raises(UploadError, match="stops.txt is not UTF-8"):
        extract_gtfs_zip(zip_of({"stops.txt": "stop_id,stop_name\n1,駅\n".encode("shift_jis")}), tmp_path)


def test_too_big_and_not_a_zip_and_odd_members(tmp_path):
    with pytest.raises(UploadError, match="at most 10"):
        extract_gtfs_zip(b"x" * 11, tmp_path, UploadLimits(max_compressed=10))
    with pytest.raises(UploadError, match="not a zip"):
        extract_gtfs_zip(b"PK nonsense", tmp_path)
    with pytest.raises(UploadError, match="not a GTFS .txt"):
        extract_gtfs_zip(zip_of({"run.sh": b"rm -rf /"}), tmp_path)
    with pytest.raises(UploadError, match="nested"):
        extract_gtfs_zip(zip_of({"a/b/stops.txt": b"x"}), tmp_path)
    with pytest.raises(UploadError, match="no GTFS"):
        extract_gtfs_zip(zip_of({}), tmp_path)
