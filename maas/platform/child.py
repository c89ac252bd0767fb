"""Calling a function in a child process and getting its result back pickled.

A serving process builds its big structures (a service day's model, a feed's realtime index) from the feeds' packed
tables; the build unpacks them and allocates pandas temporaries several times what it keeps, and glibc leaves the
freed pages scattered between the kept objects for good. Built by a child, only the result enters this heap.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

# A network (or feed) with at least this many stop_times rows has its service days' models and its realtime index
# built by a child (maas.transit, maas.disruptions.realtime; all-Tokyo rail, 1.2M rows: +48 MiB resident per extra
# service day built here, +29 from a child).
CHILD_BUILD_MIN_ROWS = 100_000
ROOT = str(Path(__file__).resolve().parents[2])
_CALL = r"""
import importlib, pickle, sys
sys.path.insert(0, sys.argv[1])
module, _, name = sys.argv[2].partition(":")
args = pickle.load(sys.stdin.buffer)
out = getattr(importlib.import_module(module), name)(*args)
sys.stdout.buffer.write(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
"""


def call_in_child(target: str, *args) -> object:
    """``module:function``(*args) run by a child process (``args`` pickled to it); None when it failed (exit
    status, no or bad answer) or could not start: the caller then does the work itself, and reports what goes wrong
    there."""
    try:
        run = subprocess.run([sys.executable, "-c", _CALL, ROOT, target],
                             input=pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL), stdout=subprocess.PIPE,
                             stderr=None, timeout=1800)
        if run.returncode:
            return None
        return pickle.loads(run.stdout)
    except (OSError, subprocess.SubprocessError, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            TypeError, ValueError):
        return None
