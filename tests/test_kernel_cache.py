"""numba's on-disk cache of a kernel follows the modules it imports (`routing.raptor.kernel_cache`): numba alone keys
a cached kernel by its own file, so a caller in one module kept loading its stale copy of an edited callee in
another. And every module of routing.raptor with kernels is compiled before a server is ready."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from maas.platform import kernels
from routing.raptor import profile
from routing.raptor.kernel_cache import ImportsStampLocator, imported

ROOT = Path(__file__).resolve().parent.parent

_RUN = """
import json
from kc_pkg import high, other
print(json.dumps({"g": int(high.g(1)), "h": int(other.h(1)),
                  "g_misses": sum(high.g.stats.cache_misses.values()), "h_hits": sum(other.h.stats.cache_hits.values()),
                  "g_hits": sum(high.g.stats.cache_hits.values())}))
"""


def _run(folder: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(folder)])}
    env.pop("NUMBA_CACHE_DIR", None)  # (beside the sources: the folder is the test's own)
    run = subprocess.run([sys.executable, "-c", _RUN], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_an_edited_callee_recompiles_its_callers_in_other_modules_only(tmp_path):
    pkg = tmp_path / "kc_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pathlib import Path\nfrom routing.raptor.kernel_cache import follow_imports\n"
                                     "follow_imports(__name__, Path(__file__).parent)\n")
    (pkg / "low.py").write_text("from numba import njit\n@njit(cache=True)\ndef f(x):\n    return x + 1\n")
    (pkg / "high.py").write_text("from numba import njit\nfrom kc_pkg.low import f\n@njit(cache=True)\n"
                                 "def g(x):\n    return f(x) * 10\n")
    (pkg / "other.py").write_text("from numba import njit\n@njit(cache=True)\ndef h(x):\n    return x - 1\n")
    first = _run(tmp_path)
    assert (first["g"], first["h"]) == (20, 0)
    again = _run(tmp_path)
    assert again["g_hits"] == 1 and again["g_misses"] == 0 and again["h_hits"] == 1  # nothing edited: all loaded
    (pkg / "low.py").write_text("from numba import njit\n@njit(cache=True)\ndef f(x):\n    return x + 2\n")
    edited = _run(tmp_path)
    assert edited["g"] == 30 and edited["g_misses"] == 1  # compiled again with the new f (numba alone: 20)
    assert edited["h"] == 0 and edited["h_hits"] == 1  # a module importing nothing edited: still loaded


def test_raptor_kernels_are_stamped_with_the_modules_they_call():
    assert isinstance(profile.range_search._cache._impl.locator, ImportsStampLocator)
    names = {p.name for p in imported("routing.raptor", Path(profile.__file__).resolve())}
    assert names == {"profile.py", "rounds.py", "journeys.py", "bounds.py", "state.py"}


def test_every_raptor_module_with_kernels_is_compiled_before_readiness():
    mods = [f"routing.raptor.{p.stem}" for p in sorted((ROOT / "routing" / "raptor").glob("*.py"))]
    with_kernels = [m for m in mods if kernels.kernels((m,))]
    assert "routing.raptor.rounds" in with_kernels
    assert set(with_kernels) <= set(kernels.KERNEL_MODULES)
