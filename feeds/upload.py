"""Safe intake of an uploaded GTFS zip: refuse what could hurt the server before the importer ever sees it.

An operator's upload is untrusted bytes. Before extracting we check the archive itself (size, member names, the
declared and actual uncompressed sizes, the compression ratio) so a zip bomb, a path-traversal name, a symlink or a
non-UTF-8 text file is refused with one clear sentence; only plain ``*.txt`` files are written, flat, to ``dest``.
"""
from __future__ import annotations

import codecs
import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CHUNK = 1 << 16


class UploadError(ValueError):
    """The upload is not an acceptable GTFS zip; ``detail`` says why, for the publisher."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class UploadLimits:
    max_compressed: int = 50 * 1024 * 1024  # the request body
    max_uncompressed: int = 1024 * 1024 * 1024  # all members together
    max_ratio: float = 200.0  # per member: uncompressed / compressed (text compresses ~10-30x)
    max_members: int = 64
    ratio_floor: int = 1024 * 1024  # members smaller than this are never refused for their ratio


def _member_name(info: zipfile.ZipInfo) -> str | None:
    """The plain file name of a GTFS member, None for folders and ignorable files; raises on hostile names."""
    raw = info.filename
    if "\\" in raw or "\x00" in raw:
        raise UploadError(f"zip member {raw!r} has a backslash or NUL in its name")
    path = PurePosixPath(raw)
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UploadError(f"zip member {raw!r} has an absolute path")
    if ".." in path.parts:
        raise UploadError(f"zip member {raw!r} leaves the archive ('..' in its path)")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UploadError(f"zip member {raw!r} is a symbolic link")
    if info.is_dir():
        return None
    if path.parts[0] == "__MACOSX" or path.name.startswith("."):
        return None
    if len(path.parts) > 2:
        raise UploadError(f"zip member {raw!r} is nested too deep: put the .txt files at the root "
                          f"(or in one folder)")
    if not path.name.endswith(".txt") and path.name != "operator.json":  # the operator profile (docs/fares.md)
        raise UploadError(f"zip member {raw!r} is not a GTFS .txt file (or operator.json)")
    return path.name


def _check_utf8(name: str, data: bytes) -> None:
    try:
        codecs.decode(data, "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(f"{name} is not UTF-8 ({exc.reason} at byte {exc.start}): GTFS files must be UTF-8; "
                          f"re-save it as UTF-8") from None


def extract_gtfs_zip(data: bytes, dest: Path, limits: UploadLimits = UploadLimits()) -> list[str]:
    """Check ``data`` (a zip) and write its GTFS text files flat into ``dest``; returns the file names written.

    Sizes are enforced while decompressing (declared sizes can lie), so a bomb stops at the limit.
    """
    if len(data) > limits.max_compressed:
        raise UploadError(f"the upload has {len(data)} bytes; at most {limits.max_compressed} are accepted")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise UploadError("the upload is not a zip archive: send the GTFS feed as a .zip")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"the zip archive is damaged: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise UploadError(f"the zip has {len(infos)} members; a GTFS feed has at most {limits.max_members}")
        members: list[tuple[str, zipfile.ZipInfo]] = []
        folders = set()
        for info in infos:
            name = _member_name(info)
            if name is None:
                continue
            if info.flag_bits & 0x1:
                raise UploadError(f"zip member {info.filename!r} is encrypted")
            folders.add(PurePosixPath(info.filename).parent.as_posix())
            members.append((name, info))
        if len(folders) > 1:
            raise UploadError(f"the .txt files are spread over several folders ({sorted(folders)}): "
                              f"put them together")
        names = [n for n, _ in members]
        if len(set(names)) != len(names):
            raise UploadError("the zip holds the same file name twice")
        if not any(n.endswith(".txt") for n in names):
            raise UploadError("the zip holds no GTFS .txt files")
        declared = sum(i.file_size for _, i in members)
        if declared > limits.max_uncompressed:
            raise UploadError(f"the feed would unpack to {declared} bytes; at most {limits.max_uncompressed}")
        dest.mkdir(parents=True, exist_ok=True)
        total = 0
        for name, info in members:
            size = 0
            chunks = []
            try:
                with zf.open(info) as fh:
                    while chunk := fh.read(CHUNK):
                        size += len(chunk)
                        total += len(chunk)
                        if total > limits.max_uncompressed:
                            raise UploadError(f"the feed unpacks to more than {limits.max_uncompressed} bytes")
                        if size > limits.ratio_floor and size > limits.max_ratio * max(info.compress_size, 1):
                            raise UploadError(f"zip member {info.filename!r} expands more than "
                                              f"{limits.max_ratio:g}x: refused as a zip bomb")
                        chunks.append(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise UploadError(f"zip member {info.filename!r} cannot be read: {exc}") from None
            body = b"".join(chunks)
            _check_utf8(name, body)
            (dest / name).write_bytes(body)
        return names


def zip_from_multipart_or_body(content_type: str) -> str:
    """'zip' for a raw zip body, 'multipart' for a form upload; raises UploadError otherwise."""
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("application/zip", "application/x-zip-compressed", "application/octet-stream"):
        return "zip"
    if ct == "multipart/form-data":
        return "multipart"
    raise UploadError(f"Content-Type {content_type!r}: send the feed as application/zip or multipart/form-data")
