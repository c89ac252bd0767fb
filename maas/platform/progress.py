"""Progress lines for long CLI steps, on stderr so `--json` output stays clean."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager


@contextmanager
def step(label: str, stream=None):
    stream = stream or sys.stderr  # looked up now, not at import: stderr may have been replaced since
    t0 = time.perf_counter()
    print(f"… {label}", file=stream, flush=True)
    try:
        yield
    except BaseException:
        print(f"✗ {label} failed after {time.perf_counter() - t0:.2f} s", file=stream, flush=True)
        raise
    print(f"✓ {label} ({time.perf_counter() - t0:.2f} s)", file=stream, flush=True)
