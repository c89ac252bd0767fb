"""numba's on-disk cache of a package's kernels, kept in step with the code they are compiled with.

numba keys a cached kernel by its own source file (a content hash) and bytecode only, yet a kernel holds the code of
every function it calls (inlined, or linked in): with the kernels in several modules, an edit to
`rounds.scan_routes` alone would leave `profile.range_search` loading its old scan from the cache (numba gives no
warning; the answers are simply the old code's). So a kernel module of a followed package gets as its cache stamp
the hashes of its own file and of each module of the package it imports, directly or not (read from its import
statements): an edit recompiles the kernels of that module and of the modules above it, and no others (an edit to
the pure-Python side, `search` or `pools`, none at all). Where the cache lives is numba's choice as before
(``__pycache__`` beside the source, or ``NUMBA_CACHE_DIR``).
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from numba.core import caching
from numba.core.caching import _CacheLocator

_CacheImpl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # (named so before numba 0.61)

_FOLLOWED: dict[str, Path] = {}  # package name -> its folder


def follow_imports(package: str, folder: Path) -> None:
    """Stamp the cache of every kernel defined from now on in a module of ``package`` (files in ``folder``) with
    the modules it imports (call it before those modules are imported: numba reads the stamp as a kernel is
    defined)."""
    _FOLLOWED[package] = Path(folder).resolve()
    if ImportsStampLocator not in _CacheImpl._locator_classes:
        _CacheImpl._locator_classes.insert(0, ImportsStampLocator)


class ImportsStampLocator(_CacheLocator):
    """The locator numba would pick for a kernel of a followed package, with `source_stamp` as the stamp."""

    def __init__(self, inner: _CacheLocator, py_file: Path, package: str):
        self._inner, self._py_file, self._package = inner, py_file, package

    def ensure_cache_path(self):
        self._inner.ensure_cache_path()

    def get_cache_path(self):
        return self._inner.get_cache_path()

    def get_disambiguator(self):
        return self._inner.get_disambiguator()

    def get_source_stamp(self):
        return source_stamp(self._package, self._py_file)

    @classmethod
    def from_function(cls, py_func, py_file):
        package = py_func.__module__.rpartition(".")[0]
        path = Path(py_file).resolve()
        if _FOLLOWED.get(package) != path.parent:
            return None
        for other in _CacheImpl._locator_classes:
            inner = None if other is cls else other.from_function(py_func, py_file)
            if inner is not None:
                return cls(inner, path, package)
        return None


def source_stamp(package: str, path: Path) -> str:
    """The hash of ``path`` and of the modules of ``package`` it imports, directly or not."""
    h = hashlib.sha256()
    for f in sorted(imported(package, path)):
        h.update(f.name.encode() + b"\0" + _digest(f, f.stat().st_mtime_ns, f.stat().st_size))
    return h.hexdigest()


def imported(package: str, path: Path) -> set[Path]:
    """``path`` and the files of the modules of ``package`` (beside it) it imports, directly or not."""
    seen = {path}
    todo = [path]
    while todo:
        for f in _imports(package, todo.pop()):
            if f not in seen:
                seen.add(f)
                todo.append(f)
    return seen


def _imports(package: str, path: Path) -> set[Path]:
    """The modules of ``package`` that ``path`` names in an import statement (anywhere in it)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name[len(package) + 1:] for a in node.names if a.name.startswith(package + ".")]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1 and module:  # from .x import y
                names.append(module)
            elif (node.level == 1 and not module) or (node.level == 0 and module == package):  # from . import x
                names += [a.name for a in node.names]
            elif node.level == 0 and module.startswith(package + "."):
                names.append(module[len(package) + 1:])
    files = (path.parent / f"{name.split('.')[0]}.py" for name in names)
    return {f for f in files if f.is_file()}


_DIGESTS: dict[tuple, bytes] = {}


def _digest(path: Path, mtime_ns: int, size: int) -> bytes:
    """sha256 of the file (once per version of it in a process: numba asks for each kernel)."""
    key = (path, mtime_ns, size)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(path.read_bytes()).digest()
    return _DIGESTS[key]
